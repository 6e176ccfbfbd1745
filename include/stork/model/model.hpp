/// @file
/// @brief `stork::model<Process>`: the one parameterisation of every noise process and prediction type,
/// and `stork::flow_velocity`, the parameterisation of a plain velocity field.
#pragma once

#include <cmath>
#include <type_traits>
#include "stork/detail/span.hpp"

#include "stork/model/parameterisation.hpp"
#include "stork/model/prediction.hpp"
#include "stork/model/process.hpp"
#include "stork/model/rectified_flow.hpp"

namespace stork {

/// @brief A model of prediction type `prediction` under the noise process `process`, as a parameterisation.
///
/// With x = α·x₀ + σ·ε and o the model output, x₀ and ε are affine in (x, o) (r = √(α² + σ²)):
/// | prediction | x₀                     | ε                      |
/// |------------|------------------------|------------------------|
/// | epsilon    | (x − σo)/α             | o                      |
/// | sample     | o                      | (x − αo)/σ             |
/// | v          | (αx − rσo)/r²          | (σx + rαo)/r²          |
/// | velocity   | (σ'x − σo)/(ασ' − α'σ) | (αo − α'x)/(ασ' − α'σ) |
/// and the probability-flow velocity is dx/dt = α'·x₀ + σ'·ε (′ = d/dt): `affine(t)`; `denoise(t)` is the
/// x₀ column. Examples: VE denoiser dx/dσ = (x − o)/σ; VP ε model −½β·x + β/(2σ)·o; rectified-flow
/// velocity o. Singular where α = 0 (epsilon) or σ = 0 (sample, v): the samplers never call the model at
/// σ = 0 unless it predicts the velocity (`callable_at`), and an interval ending there is a step to x̂₀.
///
/// What each process defaults to (`make_scheduler(method, times, x, process)` uses it): rectified flow
/// velocity, VP processes ε, `ve` sample (a denoiser).
/// @par Cost: a few scalar evaluations of α, σ, α', σ' per call; the samplers add one two-term linear
/// combination per velocity they form (none when the output is the velocity).
/// @code
/// auto sch = stork::make_scheduler(stork::dpmpp_2m{}, stork::karras_sigmas(20), x,
///     stork::model<stork::ve>{.process = {}, .prediction = stork::prediction::sample});
/// while (!sch.done()) { denoiser(x, sch.time(), out); sch.step(out, x); }
/// @endcode
template <STORK_CONCEPT(NoiseProcess) Process>
struct model {
  Process process{};
  stork::prediction prediction = detail::default_prediction_v<Process>;

  double alpha(double t) const noexcept { return process.alpha(t); }
  double sigma(double t) const noexcept { return process.sigma(t); }

  /// The velocity dx/dt = state·x + output·o.
  affine_velocity affine(double t) const noexcept {
    if (prediction == stork::prediction::velocity) return {0.0, 1.0};
    const double da = process.dalpha(t), ds = process.dsigma(t);
    const detail::posterior_split p = split(t, da, ds);
    return {da * p.x0.state + ds * p.eps.state, da * p.x0.output + ds * p.eps.output};
  }
  /// The data prediction x̂₀ = state·x + output·o.
  affine_velocity denoise(double t) const noexcept {
    const bool vel = prediction == stork::prediction::velocity;
    return split(t, vel ? process.dalpha(t) : 0.0, vel ? process.dsigma(t) : 0.0).x0;
  }
  /// True when the output is dx/dt itself (no conversion pass).
  bool output_is_velocity() const noexcept { return prediction == stork::prediction::velocity; }
  /// False at σ = 0 unless the model predicts the velocity: an ε, x̂₀ or v model is not called there.
  bool callable_at(double t) const noexcept {
    return prediction == stork::prediction::velocity || process.sigma(t) > 0.0;
  }
  /// Throws stork::error for an unknown prediction, bad process parameters or a time outside the domain.
  void validate(span<const double> times) const {
    detail::check_prediction("model", prediction);
    process.validate(times);
  }

 private:
  detail::posterior_split split(double t, double da, double ds) const noexcept {
    return detail::split_output(prediction, process.alpha(t), process.sigma(t), da, ds);
  }
};

/// @brief The parameterisation of a plain velocity field f(x, t, v) (flow matching, any ODE right-hand
/// side): the output is dx/dt, known at compile time, so no conversion pass is ever made, and no domain is
/// checked. Data-prediction methods read it as rectified flow (α = 1 − t, σ = t): it is
/// `model<rectified_flow>` with prediction velocity. The default of `integrate` and `make_scheduler`.
struct flow_velocity : model<rectified_flow> {
  static constexpr bool identity = true;
  /// Any grid: a plain ODE has no domain.
  static void validate(span<const double>) noexcept {}
};

/// @brief A model under a VP process (the name of earlier versions): `model<Process>`.
template <STORK_CONCEPT(NoiseProcess) Process>
using vp_model = model<Process>;

/// @brief A rectified-flow model of any prediction type (the name of earlier versions):
/// `model<rectified_flow>`.
using flow_model = model<rectified_flow>;

static_assert(is_parameterisation_v<model<rectified_flow>>);
static_assert(is_parameterisation_v<flow_velocity>);

namespace detail {

/// `model<Process>` or a parameterisation derived from it: `p.process` exists.
template <class P>
using process_member_t = remove_cvref_t<decltype(std::declval<const P&>().process)>;
template <class P>
inline constexpr bool process_model =
    is_parameterisation_v<P>&& is_noise_process_v<detected_t<process_member_t, P>>;

/// What the 4th argument of `make_scheduler` means: a parameterisation as it is, or a bare noise process
/// as `model<Process>` with the process's default prediction.
template <class T>
auto as_parameterisation(const T& p) {
  if constexpr (is_parameterisation_v<T>) {
    return p;
  } else {
    static_assert(is_noise_process_v<T>,
                  "stork: expected a parameterisation (stork::model<Process>{.process, .prediction}, "
                  "stork::flow_velocity, or a type with affine(t)) or a noise process (stork::ve, "
                  "stork::rectified_flow, stork::vp_linear, stork::vp_scaled_linear, stork::vp_discrete)");
    return model<T>{p};
  }
}

template <class T>
using parameterisation_t = decltype(as_parameterisation(std::declval<const T&>()));

}  // namespace detail
}  // namespace stork
