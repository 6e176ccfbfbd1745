/// @file
/// @brief Noise processes x_t = α(t)·x₀ + σ(t)·ε and the `NoiseProcess` concept: `vp_linear` (in vp.hpp),
/// `vp_scaled_linear`, `vp_discrete` (a trained DDPM β table) and `rectified_flow`.
///
/// A process only says how data and noise mix over time; `vp_model` (adapters.hpp) combines it with a
/// prediction type (ε, x̂₀, v, velocity) into the parameterisation the samplers integrate.
#pragma once

#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stork/error.hpp"
#include "stork/vp.hpp"

namespace stork {

/// @brief A noise process x_t = α(t)·x₀ + σ(t)·ε with its time derivatives and a domain check.
/// Valid expressions: `p.alpha(t)`, `p.sigma(t)`, `p.dalpha(t)`, `p.dsigma(t)` (double), `p.validate(times)`
/// (throws stork::error for bad parameters or a grid time outside the domain; an empty span checks the
/// parameters only).
template <class P>
concept NoiseProcess = requires(const P& p, double t, std::span<const double> times) {
  { p.alpha(t) } -> std::convertible_to<double>;
  { p.sigma(t) } -> std::convertible_to<double>;
  { p.dalpha(t) } -> std::convertible_to<double>;
  { p.dsigma(t) } -> std::convertible_to<double>;
  p.validate(times);
};

namespace detail {

/// Throws unless every time lies in (0, 1] (VP processes: τ = 0 is clean data, where σ = 0).
inline void check_vp_times(std::string_view who, std::span<const double> times) {
  for (std::size_t i = 0; i < times.size(); ++i)
    if (!(times[i] > 0.0 && times[i] <= 1.0))
      fail(who, "times[" + std::to_string(i) + "]", times[i], "VP times must lie in (0, 1]");
}

}  // namespace detail

/// @brief VP process with diffusers' "scaled_linear" β (Stable Diffusion 1.x/2.x, SDXL) in continuous time
/// τ ∈ (0, 1]: the discrete β_i = (√β_s + i/(T−1)·(√β_e − √β_s))² become the rate
/// β(τ) = T·(√β_s + τ(√β_e − √β_s))², and with a = √β_s, b = √β_e − √β_s
/// log α(τ) = −½∫₀^τ β = −½T(a²τ + abτ² + b²τ³/3), σ = √(1 − α²).
/// @par Cost: a few flops and one exp per call.
struct vp_scaled_linear {
  double beta_start = 0.00085;
  double beta_end = 0.012;
  int num_train_timesteps = 1000;

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
  double alpha(double tau) const noexcept { return std::exp(log_alpha(tau)); }
  double sigma(double tau) const noexcept { return std::sqrt(-std::expm1(2.0 * log_alpha(tau))); }
  /// dα/dτ = −½β(τ)·α.
  double dalpha(double tau) const noexcept { return -0.5 * beta(tau) * alpha(tau); }
  /// dσ/dτ = ½β(τ)·α²/σ.
  double dsigma(double tau) const noexcept {
    const double a = alpha(tau);
    return 0.5 * beta(tau) * a * a / sigma(tau);
  }

  /// Throws stork::error unless 0 ≤ beta_start ≤ beta_end < 1, beta_end > 0, num_train_timesteps ≥ 1
  /// and every grid time lies in (0, 1].
  void validate(std::span<const double> times) const {
    if (!(std::isfinite(beta_start) && beta_start >= 0.0 && beta_start < 1.0))
      detail::fail("vp_scaled_linear", "beta_start", beta_start, "needs 0 <= beta_start < 1");
    if (!(std::isfinite(beta_end) && beta_end > 0.0 && beta_end < 1.0 && beta_end >= beta_start))
      detail::fail("vp_scaled_linear", "beta_end", beta_end,
                   "needs 0 < beta_end < 1 and beta_end >= beta_start");
    if (num_train_timesteps < 1)
      detail::fail("vp_scaled_linear", "num_train_timesteps", num_train_timesteps, "needs at least 1");
    detail::check_vp_times("vp_scaled_linear", times);
  }
};

/// @brief VP process of a trained DDPM β table β_0..β_{T−1} (diffusers' `betas`), in continuous time τ ∈ (0,
/// 1].
///
/// ᾱ_i = Π_{j≤i}(1 − β_j) (diffusers' `alphas_cumprod[i]`) sits at the node τ_i = (i+1)/T, so the training
/// timestep i is τ = (i+1)/T (`time_of(i)`). Between nodes log α = ½·log ᾱ is linear in τ (below τ_0 it
/// runs linearly from log α(0) = 0), so α(τ_i) = √ᾱ_i exactly, σ = √(1 − α²) and dα/dτ = α·(slope of the
/// segment); at a node (or within 1e-9/T of one) the slope of the segment below it is used, the one a
/// step towards τ = 0 integrates over.
/// α is continuous but d log α/dτ = ½T·log(1 − β_i) is a staircase, so the drift jumps a little at every
/// node. ODE methods feel it: with T = 1000, a single Gaussian and 16–40 steps their error stalls near
/// 1e-5–1e-4 instead of shrinking (rock4 recovers full accuracy on a grid through the nodes; STORK, which
/// extrapolates past outputs across the jumps, does not).
/// @par Cost: O(1) per call (the cumulative table is built once, by the constructor: O(T) memory).
/// @code
/// auto sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);  // Stable Diffusion's table
/// auto f = stork::vp_field(eps_model, sd, stork::prediction::epsilon);   // eps_model(x, tau, e)
/// @endcode
class vp_discrete {
 public:
  /// An empty table (rejected by `validate`).
  vp_discrete() = default;
  /// Takes a β table; throws stork::error unless every β lies in (0, 1).
  vp_discrete(std::vector<double> betas) : betas_(std::move(betas)) {
    check_betas();
    half_log_abar_.resize(betas_.size());
    double acc = 0.0;
    for (std::size_t i = 0; i < betas_.size(); ++i) half_log_abar_[i] = (acc += 0.5 * std::log1p(-betas_[i]));
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
  /// ᾱ_i = Π_{j≤i}(1 − β_j).
  double alpha_bar(std::size_t i) const { return std::exp(2.0 * half_log_abar_.at(i)); }
  /// The continuous time of training timestep i: τ_i = (i+1)/T.
  double time_of(std::size_t i) const noexcept {
    return static_cast<double>(i + 1) / static_cast<double>(betas_.size());
  }

  double log_alpha(double tau) const noexcept {
    const std::size_t i = segment(tau);
    const double lo = i == 0 ? 0.0 : half_log_abar_[i - 1];
    return lo + (tau - static_cast<double>(i) / size_d()) * slope(i);
  }
  double alpha(double tau) const noexcept { return std::exp(log_alpha(tau)); }
  double sigma(double tau) const noexcept { return std::sqrt(-std::expm1(2.0 * log_alpha(tau))); }
  /// dα/dτ = α·d log α/dτ, the slope of the segment (the one below τ at a node).
  double dalpha(double tau) const noexcept { return alpha(tau) * slope(segment(tau)); }
  /// dσ/dτ = −α·(dα/dτ)/σ.
  double dsigma(double tau) const noexcept {
    const double a = alpha(tau);
    return -a * a * slope(segment(tau)) / sigma(tau);
  }

  /// Throws stork::error if the table is empty or a grid time lies outside (0, 1].
  void validate(std::span<const double> times) const {
    if (betas_.empty())
      detail::fail("vp_discrete", "betas.size()", std::size_t{0}, "needs a non-empty beta table");
    check_betas();
    detail::check_vp_times("vp_discrete", times);
  }

 private:
  double size_d() const noexcept { return static_cast<double>(betas_.size()); }
  /// Index i of the segment (τ_{i−1}, τ_i] holding τ (τ_{−1} = 0), clamped to the table.
  std::size_t segment(double tau) const noexcept {
    const double k = std::ceil(tau * size_d() - 1e-9) - 1.0;  // a time within 1e-9/T of a node is on it
    if (!(k > 0.0)) return 0;                                 // also NaN
    const double last = size_d() - 1.0;
    return static_cast<std::size_t>(k < last ? k : last);
  }
  /// d log α/dτ on segment i: ½T·log(1 − β_i).
  double slope(std::size_t i) const noexcept {
    return betas_.empty() ? std::numeric_limits<double>::quiet_NaN()
                          : 0.5 * size_d() * std::log1p(-betas_[i]);
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
    if (n > 1000000)  // the table is O(T) memory: a bound on what a request can allocate
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
  std::vector<double> half_log_abar_;  // ½·log ᾱ_i
};

/// @brief Rectified flow (flow matching): x_t = (1 − t)·x₀ + t·ε with t = σ ∈ [0, 1] (σ = 1 is noise).
/// α = 1 − t, σ = t, dα/dt = −1, dσ/dt = 1. Flow models are wrapped by `flow_field` (adapters.hpp).
struct rectified_flow {
  static constexpr double alpha(double t) noexcept { return 1.0 - t; }
  static constexpr double sigma(double t) noexcept { return t; }
  static constexpr double dalpha(double) noexcept { return -1.0; }
  static constexpr double dsigma(double) noexcept { return 1.0; }
  /// Throws stork::error unless every grid time lies in [0, 1].
  static void validate(std::span<const double> times) {
    for (std::size_t i = 0; i < times.size(); ++i)
      if (!(times[i] >= 0.0 && times[i] <= 1.0))
        detail::fail("rectified_flow", "times[" + std::to_string(i) + "]", times[i],
                     "flow times sigma must lie in [0, 1]");
  }
};

static_assert(NoiseProcess<vp_linear>);
static_assert(NoiseProcess<vp_scaled_linear>);
static_assert(NoiseProcess<vp_discrete>);
static_assert(NoiseProcess<rectified_flow>);

}  // namespace stork
