/// @file
/// @brief `stork::vp_scaled_linear`: the variance-preserving process of Stable Diffusion's "scaled_linear"
/// β schedule, in continuous time.
#pragma once

#include <cmath>
#include "stork/detail/span.hpp"

#include "stork/error.hpp"
#include "stork/model/prediction.hpp"
#include "stork/model/process.hpp"

namespace stork {

/// @brief VP process with diffusers' "scaled_linear" β (Stable Diffusion 1.x/2.x, SDXL) in continuous time
/// τ ∈ (0, 1]: the discrete β_i = (√β_s + i/(T−1)·(√β_e − √β_s))² become the rate
/// β(τ) = T·(√β_s + τ(√β_e − √β_s))², and with a = √β_s, b = √β_e − √β_s
/// log α(τ) = −½∫₀^τ β = −½T(a²τ + abτ² + b²τ³/3), σ = √(1 − α²). For the trained table itself (exact
/// ᾱ at the training timesteps) use `vp_discrete::scaled_linear`.
/// @par Cost: a few flops and one exp per call.
struct vp_scaled_linear {
  double beta_start = 0.00085;
  double beta_end = 0.012;
  int num_train_timesteps = 1000;

  static constexpr stork::prediction default_prediction = stork::prediction::epsilon;
  static constexpr bool variance_preserving = true;

  /// β(τ) = T·(√β_s + τ(√β_e − √β_s))².
  double beta(double tau) const noexcept {
    const double r = std::sqrt(beta_start) + tau * (std::sqrt(beta_end) - std::sqrt(beta_start));
    return static_cast<double>(num_train_timesteps) * r * r;
  }
  double log_alpha(double tau) const noexcept {
    const double a = std::sqrt(beta_start), b = std::sqrt(beta_end) - a;
    return -0.5 * static_cast<double>(num_train_timesteps) * tau *
           (a * a + tau * (a * b + tau * b * b / 3.0));
  }
  double alpha(double tau) const noexcept { return at(tau).alpha(); }
  double sigma(double tau) const noexcept { return at(tau).sigma(); }
  double dalpha(double tau) const noexcept { return at(tau).dalpha(); }
  double dsigma(double tau) const noexcept { return at(tau).dsigma(); }

  /// Throws stork::error unless 0 ≤ beta_start ≤ beta_end < 1, beta_end > 0, num_train_timesteps ≥ 1
  /// and every grid time lies in (0, 1].
  void validate(span<const double> times) const {
    if (!(std::isfinite(beta_start) && beta_start >= 0.0 && beta_start < 1.0))
      detail::fail("vp_scaled_linear", "beta_start", beta_start, "needs 0 <= beta_start < 1");
    if (!(std::isfinite(beta_end) && beta_end > 0.0 && beta_end < 1.0 && beta_end >= beta_start))
      detail::fail("vp_scaled_linear", "beta_end", beta_end,
                   "needs 0 < beta_end < 1 and beta_end >= beta_start");
    if (num_train_timesteps < 1)
      detail::fail("vp_scaled_linear", "num_train_timesteps", num_train_timesteps, "needs at least 1");
    detail::check_times("vp_scaled_linear", times, 0.0, 1.0, false, "VP times must lie in (0, 1]");
  }

 private:
  /// d log α/dτ = −β(τ)/2.
  detail::vp_from_log_alpha at(double tau) const noexcept { return {log_alpha(tau), -0.5 * beta(tau)}; }
};

static_assert(is_noise_process_v<vp_scaled_linear>);

}  // namespace stork
