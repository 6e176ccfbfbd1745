/// @file
/// @brief `stork::vp_discrete`: the variance-preserving process of a trained DDPM β table (β_0..β_{T−1}),
/// in continuous time, with the σ ↔ timestep conversion of engines that run such models in VE σ space.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/error.hpp"
#include "stork/model/prediction.hpp"
#include "stork/model/process.hpp"

namespace stork {

/// @brief VP process of a trained DDPM β table β_0..β_{T−1} (diffusers' `betas`) in continuous time
/// τ ∈ (0, 1].
///
/// ᾱ_i = Π_{j≤i}(1 − β_j) (diffusers' `alphas_cumprod[i]`) sits at the node τ_i = (i+1)/T, so training
/// timestep i is τ = (i+1)/T (`time_of(i)`), and τ = 0 (log α = 0) is one more node. Between nodes
/// g(τ) = log α = ½·log ᾱ is the cubic Hermite interpolant whose node slopes are the centred
/// differences of the table (one-sided second-order differences at τ = 0 and τ = 1): α(τ_i) = √ᾱ_i
/// exactly, and g and its slope g' = −β/2 are continuous (C¹), so the probability-flow drift
/// (which uses g') has no jumps and samplers keep converging at their order on any grid. Its models
/// usually predict ε (`default_prediction`).
///
/// Engines that run SD-type models in VE σ space (stable-diffusion.cpp, ComfyUI, k-diffusion's
/// DiscreteEpsDDPMDenoiser) use the table's σ_i = √((1 − ᾱ_i)/ᾱ_i) (`ve_sigma`) and call the network at
/// a fractional timestep interpolated linearly in log σ (`timestep_of_sigma`, `sigma_of_timestep`) on
/// the input x_VE/√(σ² + 1).
/// @par Cost: O(1) per call (α, σ); O(log T) for `timestep_of_sigma`. The constructor builds O(T) tables.
/// @code
/// auto sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);   // Stable Diffusion's table
/// auto f = stork::field(eps_model, sd, stork::prediction::epsilon);      // eps_model(x, tau, e)
/// @endcode
class vp_discrete {
 public:
  static constexpr stork::prediction default_prediction = stork::prediction::epsilon;
  static constexpr bool variance_preserving = true;

  /// An empty table (rejected by `validate`).
  vp_discrete() = default;
  /// Takes a β table; throws stork::error unless every β lies in (0, 1) and there are at most 10⁶.
  vp_discrete(std::vector<double> betas) : betas_(std::move(betas)) {
    if (betas_.size() > max_timesteps)
      detail::fail("vp_discrete", "betas.size()", betas_.size(), "at most 1000000 training timesteps");
    check_betas();
    const std::size_t n = betas_.size();
    g_.assign(n + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) g_[i + 1] = g_[i] + 0.5 * std::log1p(-betas_[i]);
    // Node slopes of g in τ: the mean of the two neighbouring secant slopes m_s = T·(g_s − g_{s−1}),
    // one-sided (3m₁ − m₂)/2 at the ends.
    slope_.assign(n + 1, 0.0);
    const double t = size_d();
    auto secant = [&](std::size_t s) { return t * (g_[s] - g_[s - 1]); };
    if (n == 1) {
      slope_[0] = slope_[1] = secant(1);
    } else if (n > 1) {
      for (std::size_t j = 1; j < n; ++j) slope_[j] = 0.5 * (secant(j) + secant(j + 1));
      slope_[0] = 1.5 * secant(1) - 0.5 * secant(2);
      slope_[n] = 1.5 * secant(n) - 0.5 * secant(n - 1);
    }
  }

  /// diffusers' "linear" table: β_i = β_s + i/(T−1)·(β_e − β_s), i = 0..T−1 (computed in double; diffusers
  /// builds it in float32). DDPM: `linear(1000, 1e-4, 0.02)`.
  static vp_discrete linear(int num_train_timesteps, double beta_start, double beta_end) {
    return {table("vp_discrete::linear", num_train_timesteps, beta_start, beta_end, false)};
  }
  /// diffusers' "scaled_linear" table: β_i = (√β_s + i/(T−1)·(√β_e − √β_s))² (in double). Stable
  /// Diffusion: `scaled_linear(1000, 0.00085, 0.012)`.
  static vp_discrete scaled_linear(int num_train_timesteps, double beta_start, double beta_end) {
    return {table("vp_discrete::scaled_linear", num_train_timesteps, beta_start, beta_end, true)};
  }

  const std::vector<double>& betas() const noexcept { return betas_; }
  std::size_t num_train_timesteps() const noexcept { return betas_.size(); }
  /// ᾱ_i = Π_{j≤i}(1 − β_j).
  double alpha_bar(std::size_t i) const { return std::exp(2.0 * g_.at(i + 1)); }
  /// The continuous time of training timestep i: τ_i = (i+1)/T.
  double time_of(std::size_t i) const noexcept { return static_cast<double>(i + 1) / size_d(); }

  /// log α(τ): the C¹ cubic Hermite interpolant of ½·log ᾱ.
  double log_alpha(double tau) const noexcept { return hermite(tau).first; }
  double alpha(double tau) const noexcept { return at(tau).alpha(); }
  double sigma(double tau) const noexcept { return at(tau).sigma(); }
  double dalpha(double tau) const noexcept { return at(tau).dalpha(); }
  double dsigma(double tau) const noexcept { return at(tau).dsigma(); }

  /// VE σ of training timestep i: σ_i = √((1 − ᾱ_i)/ᾱ_i) (increasing in i).
  double ve_sigma(std::size_t i) const { return std::exp(log_ve_sigma(i)); }
  /// VE σ of a fractional timestep t ∈ [0, T − 1]: log σ interpolated linearly between the integer
  /// timesteps around t (k-diffusion's `t_to_sigma`). Throws stork::error for t outside [0, T − 1].
  double sigma_of_timestep(double t) const {
    const double last = size_d() - 1.0;
    if (!(t >= 0.0 && t <= last))
      detail::fail("vp_discrete::sigma_of_timestep", "t", t,
                   "needs 0 <= t <= num_train_timesteps - 1 = " + detail::describe(last));
    const double lo = std::floor(t);
    const auto i = static_cast<std::size_t>(lo);
    if (t == lo) return ve_sigma(i);
    const double w = t - lo;
    return std::exp((1.0 - w) * log_ve_sigma(i) + w * log_ve_sigma(i + 1));
  }
  /// The fractional training timestep of a VE σ: t = i + w where log σ = (1 − w)·log σ_i + w·log σ_{i+1}
  /// (k-diffusion's `sigma_to_t`, stable-diffusion.cpp's `sigma_to_t`: linear interpolation in log σ).
  /// σ must lie in [σ_0, σ_{T−1}] (values within a relative 1e-9 of an end count as that end); those
  /// engines clamp anything outside, stork throws stork::error instead.
  double timestep_of_sigma(double sigma) const {
    const std::size_t n = betas_.size();
    if (n == 0)
      detail::fail("vp_discrete::timestep_of_sigma", "betas.size()", n, "needs a non-empty beta table");
    const double lo_sigma = ve_sigma(0), hi_sigma = ve_sigma(n - 1);
    const double tol = 1e-9;
    if (!(sigma >= lo_sigma * (1.0 - tol) && sigma <= hi_sigma * (1.0 + tol)))
      detail::fail("vp_discrete::timestep_of_sigma", "sigma", sigma,
                   "needs sigma in the table's range [" + detail::describe(lo_sigma) + ", " +
                       detail::describe(hi_sigma) + "]");
    if (sigma <= lo_sigma) return 0.0;
    if (sigma >= hi_sigma) return static_cast<double>(n - 1);
    const double ls = std::log(sigma);
    std::size_t lo = 0, hi = n - 1;  // log σ_lo <= ls < log σ_hi
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      (log_ve_sigma(mid) <= ls ? lo : hi) = mid;
    }
    const double a = log_ve_sigma(lo), b = log_ve_sigma(hi);
    return static_cast<double>(lo) + (ls - a) / (b - a);
  }

  /// Throws stork::error if the table is empty or a grid time lies outside (0, 1].
  void validate(span<const double> times) const {
    if (betas_.empty())
      detail::fail("vp_discrete", "betas.size()", std::size_t{0}, "needs a non-empty beta table");
    check_betas();
    detail::check_times("vp_discrete", times, 0.0, 1.0, false, "VP times must lie in (0, 1]");
  }

 private:
  static constexpr std::size_t max_timesteps = 1000000;

  double size_d() const noexcept { return static_cast<double>(betas_.size()); }
  /// log σ_i = ½·log((1 − ᾱ_i)/ᾱ_i), from ½·log ᾱ_i = g_{i+1}.
  double log_ve_sigma(std::size_t i) const {
    const double g = g_.at(i + 1);
    return 0.5 * std::log(-std::expm1(2.0 * g)) - g;
  }

  /// (g(τ), g'(τ)) from the Hermite cubic on the segment [(s−1)/T, s/T] holding τ (the first segment
  /// for τ ≤ 0, the last for τ ≥ 1; NaN for an empty table).
  std::pair<double, double> hermite(double tau) const noexcept {
    const std::size_t n = betas_.size();
    if (n == 0) return {std::nan(""), std::nan("")};
    const double x = tau * size_d();
    double s = std::ceil(x);
    if (!(s >= 1.0)) s = 1.0;  // also NaN
    if (s > size_d()) s = size_d();
    const auto k = static_cast<std::size_t>(s);
    const double u = x - (s - 1.0), d = 1.0 / size_d();
    const double g0 = g_[k - 1], g1 = g_[k], m0 = slope_[k - 1] * d, m1 = slope_[k] * d;
    const double u2 = u * u, u3 = u2 * u;
    const double g = (2.0 * u3 - 3.0 * u2 + 1.0) * g0 + (u3 - 2.0 * u2 + u) * m0 +
                     (-2.0 * u3 + 3.0 * u2) * g1 + (u3 - u2) * m1;
    const double dg = ((6.0 * u2 - 6.0 * u) * g0 + (3.0 * u2 - 4.0 * u + 1.0) * m0 +
                       (6.0 * u - 6.0 * u2) * g1 + (3.0 * u2 - 2.0 * u) * m1) /
                      d;
    return {g, dg};
  }
  detail::vp_from_log_alpha at(double tau) const noexcept {
    const auto [g, dg] = hermite(tau);
    return {g, dg};
  }

  void check_betas() const {
    for (std::size_t i = 0; i < betas_.size(); ++i)
      if (!(betas_[i] > 0.0 && betas_[i] < 1.0))
        detail::fail("vp_discrete", "betas[" + std::to_string(i) + "]", betas_[i],
                     "each beta must lie in (0, 1)");
  }

  static std::vector<double> table(std::string_view who, int n, double beta_start, double beta_end,
                                   bool scaled) {
    if (n < 1) detail::fail(who, "num_train_timesteps", n, "needs at least 1");
    if (n >
        static_cast<int>(max_timesteps))  // the table is O(T) memory: a bound on what a request can allocate
      detail::fail(who, "num_train_timesteps", n, "at most 1000000 training timesteps");
    if (!(std::isfinite(beta_start) && beta_start > 0.0 && beta_start < 1.0))
      detail::fail(who, "beta_start", beta_start, "needs 0 < beta_start < 1");
    if (!(std::isfinite(beta_end) && beta_end > 0.0 && beta_end < 1.0))
      detail::fail(who, "beta_end", beta_end, "needs 0 < beta_end < 1");
    const double lo = scaled ? std::sqrt(beta_start) : beta_start,
                 hi = scaled ? std::sqrt(beta_end) : beta_end;
    std::vector<double> b(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < b.size(); ++i) {
      const double r = n == 1 ? lo : lo + static_cast<double>(i) / static_cast<double>(n - 1) * (hi - lo);
      b[i] = scaled ? r * r : r;
    }
    return b;
  }

  std::vector<double> betas_;
  std::vector<double> g_;      // g_j = ½·log ᾱ_{j−1} at τ = j/T, g_0 = 0
  std::vector<double> slope_;  // g' at the nodes
};

static_assert(is_noise_process_v<vp_discrete>);

}  // namespace stork
