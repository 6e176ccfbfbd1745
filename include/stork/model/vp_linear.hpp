/// @file
/// @brief `stork::vp_linear`: the variance-preserving process with linear β in continuous time
/// (DDPM's table as a rate; the STORK reference's ε path, docs/reference.md §2.0).
#pragma once

#include <cmath>
#include "stork/detail/span.hpp"

#include "stork/error.hpp"
#include "stork/model/prediction.hpp"
#include "stork/model/process.hpp"

namespace stork {

/// @brief VP process in continuous time τ ∈ (0, 1] with linear β(τ) = β_min + τ(β_max − β_min):
/// log α(τ) = −¼τ²(β_max − β_min) − ½τβ_min, σ(τ) = √(1 − α²). With an ε model the probability-flow drift
/// is dx/dτ = −½β(τ)·x + ½β(τ)/σ(τ)·ε̂. The DDPM defaults (β from 1e-4 to 0.02 over T = 1000) are
/// β_min = 0.1, β_max = 20. Its models usually predict ε (`default_prediction`).
/// @par Cost: one exp (and one sqrt for σ) per call.
struct vp_linear {
  double beta_min = 0.1;
  double beta_max = 20.0;

  static constexpr stork::prediction default_prediction = stork::prediction::epsilon;
  static constexpr bool variance_preserving = true;

  double beta(double tau) const noexcept { return beta_min + tau * (beta_max - beta_min); }
  double log_alpha(double tau) const noexcept {
    return -0.25 * tau * tau * (beta_max - beta_min) - 0.5 * tau * beta_min;
  }
  double alpha(double tau) const noexcept { return at(tau).alpha(); }
  double sigma(double tau) const noexcept { return at(tau).sigma(); }
  double dalpha(double tau) const noexcept { return at(tau).dalpha(); }
  double dsigma(double tau) const noexcept { return at(tau).dsigma(); }

  /// Throws stork::error unless β is valid and every grid time lies in (0, 1].
  void validate(span<const double> taus) const {
    if (!(std::isfinite(beta_min) && beta_min >= 0.0))
      detail::fail("vp_linear", "beta_min", beta_min, "needs a finite beta_min >= 0");
    if (!(std::isfinite(beta_max) && beta_max > 0.0 && beta_max >= beta_min))
      detail::fail("vp_linear", "beta_max", beta_max, "needs a finite beta_max > 0 and >= beta_min");
    detail::check_times("vp_linear", taus, 0.0, 1.0, false, "VP times must lie in (0, 1]");
  }

 private:
  /// d log α/dτ = −β(τ)/2.
  detail::vp_from_log_alpha at(double tau) const noexcept { return {log_alpha(tau), -0.5 * beta(tau)}; }
};

static_assert(is_noise_process_v<vp_linear>);

}  // namespace stork
