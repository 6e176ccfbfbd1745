/// @file
/// @brief ε-prediction models under the variance-preserving (VP) process with linear β: `vp_linear` and
/// the `vp_epsilon` adapter (stork-reference.md §2.0).
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <utility>

#include "stork/error.hpp"
#include "stork/field.hpp"
#include "stork/state.hpp"

namespace stork {

/// @brief VP process in continuous time τ ∈ (0, 1] with linear β(τ) = β_min + τ(β_max − β_min):
/// log α(τ) = −¼τ²(β_max − β_min) − ½τβ_min, σ(τ) = √(1 − α²). As a parameterisation it turns an ε
/// prediction into the probability-flow drift dx/dτ = −½β(τ)·x + ½β(τ)/σ(τ)·ε̂.
/// The DDPM defaults (β from 1e-4 to 0.02 over T = 1000) are β_min = 0.1, β_max = 20.
struct vp_linear {
  double beta_min = 0.1;
  double beta_max = 20.0;

  double beta(double tau) const noexcept { return beta_min + tau * (beta_max - beta_min); }
  double log_alpha(double tau) const noexcept {
    return -0.25 * tau * tau * (beta_max - beta_min) - 0.5 * tau * beta_min;
  }
  double alpha(double tau) const noexcept { return std::exp(log_alpha(tau)); }
  double sigma(double tau) const noexcept { return std::sqrt(-std::expm1(2.0 * log_alpha(tau))); }
  /// dα/dτ = −½β(τ)·α(τ) (d log α/dτ = −β/2).
  double dalpha(double tau) const noexcept { return -0.5 * beta(tau) * alpha(tau); }
  /// dσ/dτ = −α·(dα/dτ)/σ = ½β(τ)·α²/σ (from σ² = 1 − α²).
  double dsigma(double tau) const noexcept {
    const double a = alpha(tau);
    return 0.5 * beta(tau) * a * a / sigma(tau);
  }

  /// Drift of the probability-flow ODE in terms of ε̂.
  affine_velocity affine(double tau) const noexcept {
    const double b = beta(tau);
    return {-0.5 * b, 0.5 * b / sigma(tau)};
  }
  /// Tweedie denoise x̂₀ = (x − σε̂)/α.
  affine_velocity denoise(double tau) const noexcept {
    const double a = alpha(tau);
    return {1.0 / a, -sigma(tau) / a};
  }
  static constexpr bool reference_compatible = true;

  /// Throws stork::error unless β is valid and every grid time lies in (0, 1].
  void validate(std::span<const double> taus) const {
    if (!(std::isfinite(beta_min) && beta_min >= 0.0))
      detail::fail("vp_linear", "beta_min", beta_min, "needs a finite beta_min >= 0");
    if (!(std::isfinite(beta_max) && beta_max > 0.0 && beta_max >= beta_min))
      detail::fail("vp_linear", "beta_max", beta_max, "needs a finite beta_max > 0 and >= beta_min");
    for (std::size_t i = 0; i < taus.size(); ++i)
      if (!(taus[i] > 0.0 && taus[i] <= 1.0))
        detail::fail("vp_linear", "times[" + std::to_string(i) + "]", taus[i], "VP times must lie in (0, 1]");
  }
};

/// @brief A model whose output is ε̂, with the noise process that turns it into a velocity.
/// Callable as a velocity field (it computes the drift); `integrate` recognises it and hands the raw
/// ε̂ to the sampler, so STORK can extrapolate ε̂ and end with a Tweedie denoise.
template <class Model, Parameterisation Process>
class vp_epsilon_field {
 public:
  vp_epsilon_field(Model eps_model, Process process) : model_(std::move(eps_model)), process_(process) {}
  Model& model() noexcept { return model_; }
  const Model& model() const noexcept { return model_; }
  const Process& param() const noexcept { return process_; }

  /// The probability-flow drift at (x, τ): one model call and one pass over memory.
  template <State S>
  void operator()(const S& x, double tau, S& v) {
    model_(x, tau, v);
    const affine_velocity c = process_.affine(tau);
    lincomb<S, 2>(v, {c.state, c.output}, {&x, &v});
  }

 private:
  Model model_;
  Process process_;
};

/// @brief Wraps an ε-prediction model `eps_model(x, tau, e)` (tau in (0, 1]) as a field for `integrate`.
/// @code
/// auto f = stork::vp_epsilon(eps_model, stork::vp_linear{.beta_min = 0.1, .beta_max = 20.0});
/// stork::integrate(stork::stork4{}, f, x, taus);   // ends with x = x̂₀
/// @endcode
template <class Model, Parameterisation Process>
vp_epsilon_field<std::decay_t<Model>, Process> vp_epsilon(Model&& eps_model, const Process& process) {
  return {std::forward<Model>(eps_model), process};
}

}  // namespace stork
