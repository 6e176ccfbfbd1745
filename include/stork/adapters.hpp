/// @file
/// @brief Parameterisation adapters: any model output (ε, x̂₀, v or the velocity itself) under any noise
/// process (processes.hpp) becomes the velocity or probability-flow drift the methods integrate.
///
/// - VP processes (`vp_linear`, `vp_scaled_linear`, `vp_discrete`): `vp_field(model, process, prediction)`,
///   or `vp_model<Process>{process, prediction}` for the engine-owned loop. STORK extrapolates the raw
///   output and ends with one denoise (x ends as x̂₀); classic methods integrate the drift.
/// - Rectified flow: `flow_field(model, prediction)` turns the output into the velocity at call time
///   (a plain velocity field: no denoise, the grid ends at σ = 0).
#pragma once

#include <cmath>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "stork/error.hpp"
#include "stork/field.hpp"
#include "stork/processes.hpp"
#include "stork/state.hpp"
#include "stork/vp.hpp"

namespace stork {

/// @brief What a model predicts, for x_t = α·x₀ + σ·ε:
/// `epsilon` the noise ε; `sample` the clean data x̂₀; `v` the v-prediction v = α·ε − σ·x₀ (Salimans & Ho
/// 2022); `velocity` dx/dt itself (for rectified flow v = ε − x₀, the usual flow-matching target).
enum class prediction { epsilon, sample, v, velocity };

namespace detail {

/// Throws stork::error unless `p` is one of the four named predictions.
inline void check_prediction(std::string_view who, prediction p) {
  switch (p) {
    case prediction::epsilon:
    case prediction::sample:
    case prediction::v:
    case prediction::velocity:
      return;
  }
  fail(who, "prediction", static_cast<int>(p), "must be epsilon, sample, v or velocity");
}

/// x₀ and ε written as affine functions of (x, model output o).
struct posterior_split {
  affine_velocity x0;
  affine_velocity eps;
};

/// x₀ = x0.state·x + x0.output·o and ε = eps.state·x + eps.output·o, from x = a·x₀ + s·ε and the output of
/// `p` (da, ds: the time derivatives of a, s; used by `velocity` only). NaN for an unknown prediction.
inline posterior_split split_output(prediction p, double a, double s, double da, double ds) noexcept {
  switch (p) {
    case prediction::epsilon:  // x₀ = (x − s·o)/a
      return {{1.0 / a, -s / a}, {0.0, 1.0}};
    case prediction::sample:  // ε = (x − a·o)/s
      return {{0.0, 1.0}, {1.0 / s, -a / s}};
    case prediction::v: {  // x₀ = (a·x − s·o)/(a² + s²), ε = (s·x + a·o)/(a² + s²)
      const double n = a * a + s * s;
      return {{a / n, -s / n}, {s / n, a / n}};
    }
    case prediction::velocity: {  // o = a'x₀ + s'ε: x₀ = (s'x − s·o)/D, ε = (a·o − a'x)/D, D = a·s' − a'·s
      const double d = a * ds - da * s;
      return {{ds / d, -s / d}, {-da / d, a / d}};
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {{nan, nan}, {nan, nan}};
}

}  // namespace detail

/// @brief A model of prediction type `prediction` under the VP-type noise process `process`, as a
/// parameterisation (`Parameterisation`, with `denoise` and `sigma` so that STORK ends with a denoise).
///
/// With x = α·x₀ + σ·ε and o the model output, x₀ and ε are affine in (x, o):
/// | prediction | x₀                     | ε                      |
/// |------------|------------------------|------------------------|
/// | epsilon    | (x − σo)/α             | o                      |
/// | sample     | o                      | (x − αo)/σ             |
/// | v          | (αx − σo)/(α² + σ²)    | (σx + αo)/(α² + σ²)    |
/// | velocity   | (σ'x − σo)/(ασ' − α'σ) | (αo − α'x)/(ασ' − α'σ) |
/// and the probability-flow drift is dx/dt = α'·x₀ + σ'·ε (′ = d/dt), so
/// - epsilon:  dx/dt = (α'/α)·x + (σ' − α'σ/α)·o; for `vp_linear` this is −½β·x + β/(2σ)·o
/// (`vp_linear::affine`);
/// - sample:   dx/dt = (σ'/σ)·x + (α' − σ'α/σ)·o;
/// - v:        dx/dt = [(αα' + σσ')·x + (ασ' − α'σ)·o]/(α² + σ²) (for VP αα' + σσ' = 0);
/// - velocity: dx/dt = o.
/// `affine(t)` gives the drift, `denoise(t)` the x₀ column. Singular where α = 0 (epsilon) or σ = 0
/// (sample): VP processes have α > 0 and σ > 0 on their domain (0, 1].
/// @par Cost: a few scalar evaluations of α, σ, α', σ' per call; the sampler adds one two-term linear
/// combination per velocity it forms (none for STORK's collapsed steps).
/// @code
/// auto sch = stork::make_scheduler(stork::stork4{}, taus, x,
///     stork::vp_model<stork::vp_scaled_linear>{.process = {}, .prediction = stork::prediction::v});
/// while (!sch.done()) { model(x, sch.time(), out); sch.step(out, x); }   // x ends as x̂₀
/// @endcode
/// The reference variant of STORK accepts only `vp_linear` ε models through `vp_epsilon`.
template <NoiseProcess Process>
struct vp_model {
  Process process{};
  stork::prediction prediction = stork::prediction::epsilon;

  double alpha(double t) const noexcept { return process.alpha(t); }
  double sigma(double t) const noexcept { return process.sigma(t); }

  /// The drift dx/dt = state·x + output·o.
  affine_velocity affine(double t) const noexcept {
    if (prediction == stork::prediction::velocity) return {0.0, 1.0};
    const double da = process.dalpha(t), ds = process.dsigma(t);
    const detail::posterior_split p = split(t, da, ds);
    return {da * p.x0.state + ds * p.eps.state, da * p.x0.output + ds * p.eps.output};
  }
  /// The denoise x̂₀ = state·x + output·o.
  affine_velocity denoise(double t) const noexcept {
    const bool vel = prediction == stork::prediction::velocity;
    return split(t, vel ? process.dalpha(t) : 0.0, vel ? process.dsigma(t) : 0.0).x0;
  }
  /// Throws stork::error for an unknown prediction, bad process parameters or a time outside the
  /// process's domain.
  void validate(std::span<const double> times) const {
    detail::check_prediction("vp_model", prediction);
    process.validate(times);
  }

 private:
  detail::posterior_split split(double t, double da, double ds) const noexcept {
    return detail::split_output(prediction, process.alpha(t), process.sigma(t), da, ds);
  }
};

/// @brief Wraps a model `model(x, tau, out)` of prediction type `pred` under a VP noise process as a field
/// for `integrate` (a `vp_epsilon_field` whose parameterisation is `vp_model<Process>`): STORK
/// extrapolates the raw output and ends with one denoise (x ends as x̂₀); classic methods integrate the
/// drift and stop at the last grid time. Called directly, the field computes the drift.
/// Throws stork::error for an unknown prediction or bad process parameters.
/// @code
/// auto f = stork::vp_field(model, stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012),
///                          stork::prediction::v);
/// stork::integrate(stork::stork4{}, f, x, stork::vp_taus(20));
/// @endcode
/// @par Cost: one model call per evaluation, plus one pass over memory when called as a velocity field.
template <class Model, NoiseProcess Process>
vp_epsilon_field<std::decay_t<Model>, vp_model<Process>> vp_field(Model&& model, const Process& process,
                                                                  prediction pred = prediction::epsilon) {
  const vp_model<Process> param{process, pred};
  param.validate({});
  return {std::forward<Model>(model), param};
}

/// @brief A rectified-flow model (x_σ = (1 − σ)·x₀ + σ·ε) of prediction type `prediction`, as a
/// parameterisation: the velocity dx/dσ = ε − x₀ is
/// - velocity: o (as is);
/// - epsilon:  (o − x)/(1 − σ), singular at σ = 1 (there x = ε carries no information about x₀);
/// - sample:   (x − o)/σ, singular at σ = 0;
/// - v (o = (1−σ)ε − σx₀): ((2σ − 1)·x + o)/((1 − σ)² + σ²), never singular.
/// At a singular point the velocity is ±Inf or NaN; the scheduler's NaN/Inf check (on by default) then
/// throws stork::error naming the time. Flow grids start at σ = 1 and end at σ = 0: for epsilon models
/// start below 1; for sample models use a method that does not evaluate at the last grid time (euler,
/// stork2/stork4) or end the grid above 0.
struct flow_model {
  stork::prediction prediction = stork::prediction::velocity;

  /// The velocity dx/dσ = state·x + output·o.
  affine_velocity affine(double sigma) const noexcept {
    switch (prediction) {
      case stork::prediction::velocity:
        return {0.0, 1.0};
      case stork::prediction::epsilon: {
        const double r = 1.0 / (1.0 - sigma);
        return {-r, r};
      }
      case stork::prediction::sample: {
        const double r = 1.0 / sigma;
        return {r, -r};
      }
      case stork::prediction::v: {
        const double n = (1.0 - sigma) * (1.0 - sigma) + sigma * sigma;
        return {(2.0 * sigma - 1.0) / n, 1.0 / n};
      }
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {nan, nan};
  }
  /// Throws stork::error for an unknown prediction or a time outside [0, 1].
  void validate(std::span<const double> times) const {
    detail::check_prediction("flow_model", prediction);
    rectified_flow::validate(times);
  }
};

/// @brief What `flow_field` returns: a velocity field f(x, σ, v) that calls the model and converts its
/// output into the velocity in place (no conversion for `prediction::velocity`).
template <class Model>
class flow_prediction_field {
 public:
  flow_prediction_field(Model model, flow_model param) : model_(std::move(model)), param_(param) {}
  /// The parameterisation (for an engine-owned loop: `make_scheduler(method, sigmas, x, f.flow())`
  /// extrapolates raw outputs instead of velocities).
  const flow_model& flow() const noexcept { return param_; }

  /// The velocity at (x, σ): one model call and, unless the model predicts the velocity, one pass over
  /// memory.
  template <State S>
  void operator()(const S& x, double sigma, S& v) {
    model_(x, sigma, v);
    if (param_.prediction == prediction::velocity) return;
    const affine_velocity c = param_.affine(sigma);
    lincomb<S, 2>(v, {c.state, c.output}, {&x, &v});
  }

 private:
  Model model_;
  flow_model param_;
};

/// @brief Wraps a rectified-flow model `model(x, sigma, out)` of prediction type `pred` as a plain velocity
/// field (formulas and singular points at `flow_model`). Throws stork::error for an unknown prediction.
/// @code
/// auto f = stork::flow_field(x0_model, stork::prediction::sample);
/// stork::integrate(stork::stork4{}, f, x, stork::flow_sigmas(20));
/// @endcode
/// @par Cost: one model call per evaluation plus one pass over memory (none for `prediction::velocity`).
template <class Model>
flow_prediction_field<std::decay_t<Model>> flow_field(Model&& model, prediction pred = prediction::velocity) {
  detail::check_prediction("flow_field", pred);
  return {std::forward<Model>(model), flow_model{pred}};
}

}  // namespace stork
