/// @file
/// @brief The model callback: the `VelocityField` concept and `stork::field`, the one adapter that pairs a
/// model callback with its process and prediction type (plus the names of earlier versions: `vp_epsilon`,
/// `vp_field`, `flow_field`).
#pragma once

#include <type_traits>
#include <utility>

#include "stork/model/model.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/model/prediction.hpp"
#include "stork/model/process.hpp"
#include "stork/model/rectified_flow.hpp"
#include "stork/state.hpp"

namespace stork {

/// @brief A callable `f(const S& x, double t, S& v)` that writes dx/dt (or a model output) into `v`.
///
/// `v` is sized like `x`; `f` must not resize it. Satisfied by plain velocity fields and by what
/// `stork::field` returns. Example:
/// `auto f = [](const std::vector<double>& x, double t, std::vector<double>& v) { ... };`
/// The C++17 spelling of the `VelocityField` concept:
/// `static_assert(stork::is_velocity_field_v<decltype(f), std::vector<double>>);`
template <class F, class S>
inline constexpr bool is_velocity_field_v = is_state_v<S>&& std::is_invocable_v<F&, const S&, double, S&>;

#if STORK_HAS_CPP20
/// @brief The concept of `is_velocity_field_v<F, S>`.
template <class F, class S>
concept VelocityField = is_velocity_field_v<F, S>;
#endif

/// @brief A model callback together with its parameterisation: what `stork::field` returns.
///
/// `integrate` recognises it and hands the raw model output to the method, so STORK can extrapolate the
/// output and a data-prediction method can form x̂₀ from it. Called directly, it is a plain velocity field:
/// one model call, then (unless the model predicts the velocity) one pass over memory for dx/dt.
template <class Model, STORK_CONCEPT(Parameterisation) P>
class model_field {
 public:
  model_field(Model m, P param) : model_(std::move(m)), param_(param) {}
  Model& model() noexcept { return model_; }
  const Model& model() const noexcept { return model_; }
  const P& param() const noexcept { return param_; }

  /// The velocity at (x, t): one model call and, unless the output is the velocity, one pass over memory.
  template <STORK_CONCEPT(State) S>
  void operator()(const S& x, double t, S& v) {
    model_(x, t, v);
    to_velocity(x, t, v);
  }
  /// The same through a const field (the model must be callable as const).
  template <STORK_CONCEPT(State) S,
            std::enable_if_t<std::is_invocable_v<const Model&, const S&, double, S&>, int> = 0>
  void operator()(const S& x, double t, S& v) const {
    model_(x, t, v);
    to_velocity(x, t, v);
  }

 private:
  template <STORK_CONCEPT(State) S>
  void to_velocity(const S& x, double t, S& v) const {
    if (detail::output_is_velocity(param_)) return;
    const affine_velocity c = param_.affine(t);
    lincomb<S, 2>(v, {c.state, c.output}, {&x, &v});
  }

  Model model_;
  P param_;
};

/// @brief Pairs a model callback `model_fn(x, t, out)` with its noise process and prediction type: the one
/// adapter for every model convention.
///
/// | process | time t the model is called with | usual predictions |
/// |---|---|---|
/// | `rectified_flow{}` | σ ∈ [0, 1] | velocity (flow matching) |
/// | `ve{}` | σ ∈ [0, ∞) | sample (a denoiser D(x, σ)), epsilon |
/// | `vp_linear{…}`, `vp_scaled_linear{…}`, `vp_discrete` | τ ∈ (0, 1] | epsilon, v, sample |
/// Throws stork::error for an unknown prediction or bad process parameters.
/// @code
/// auto f = stork::field(denoiser, stork::ve{}, stork::prediction::sample);
/// stork::integrate(stork::dpmpp_2m{}, f, x, stork::karras_sigmas(20));
/// @endcode
/// @par Cost: one model call per evaluation; see `stork::model` for the conversions.
template <class Model, STORK_CONCEPT(NoiseProcess) Process>
model_field<std::decay_t<Model>, stork::model<Process>> field(
    Model&& model_fn, const Process& process, prediction pred = detail::default_prediction_v<Process>) {
  const stork::model<Process> param{process, pred};
  param.validate({});
  return {std::forward<Model>(model_fn), param};
}

/// @brief An ε model under a VP process (the reference's ε path, docs/reference.md §2.0):
/// `field(eps_model, process, prediction::epsilon)`.
/// @code
/// auto f = stork::vp_epsilon(eps_model, stork::vp_linear{.beta_min = 0.1, .beta_max = 20.0});
/// stork::integrate(stork::stork4{}, f, x, taus);   // ends with x = x̂₀
/// @endcode
template <class Model, STORK_CONCEPT(NoiseProcess) Process>
auto vp_epsilon(Model&& eps_model, const Process& process) {
  return field(std::forward<Model>(eps_model), process, prediction::epsilon);
}

/// @brief A model under a VP process (the name of earlier versions): `field(model_fn, process, pred)`.
template <class Model, STORK_CONCEPT(NoiseProcess) Process>
auto vp_field(Model&& model_fn, const Process& process, prediction pred = prediction::epsilon) {
  return field(std::forward<Model>(model_fn), process, pred);
}

/// @brief A rectified-flow model (the name of earlier versions): `field(model_fn, rectified_flow{}, pred)`.
template <class Model>
auto flow_field(Model&& model_fn, prediction pred = prediction::velocity) {
  return field(std::forward<Model>(model_fn), rectified_flow{}, pred);
}

namespace detail {

/// A field that carries its own parameterisation: `f.model()` is the raw model, `f.param()` says how its
/// output becomes a velocity (what `stork::field` returns).
template <class F>
using field_model_t = decltype(std::declval<const F&>().model());
template <class F>
using field_param_t = remove_cvref_t<decltype(std::declval<const F&>().param())>;
template <class F>
inline constexpr bool parameterised_field =
    is_detected_v<field_model_t, F>&& is_parameterisation_v<detected_t<field_param_t, F>>;

}  // namespace detail
}  // namespace stork
