/// @file
/// @brief The two fronts of every method: the engine-owned loop (`make_scheduler`) and `integrate`.
///
/// `integrate` is the scheduler loop with the model called for you: one implementation, so the two
/// agree bit for bit.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "stork/error.hpp"
#include "stork/model/field.hpp"
#include "stork/model/model.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {

/// @brief What a run cost: `nfe` = model calls made, `steps` = intervals of the user's grid.
struct stats {
  std::size_t nfe = 0;
  std::size_t steps = 0;
};

/// @brief Run-time checks of a scheduler or `integrate`.
struct sampler_options {
  /// Reject NaN/Inf in the initial state and in every model output (one extra read of each output;
  /// only for states whose `state_ops` has `all_finite`). Turn off to save that pass.
  bool check_finite = true;
};

/// @brief A method together with its time grid, stepping one model evaluation at a time.
///
/// Usage (the engine owns the loop and the model):
/// @code
/// auto sch = stork::make_scheduler(stork::stork4{}, sigmas, x);
/// while (!sch.done()) { model(x, sch.time(), v); sch.step(v, x); }
/// @endcode
/// Between calls, `x` is the state at which the model must be evaluated next (a stage state for
/// multi-stage methods); once `done()`, it is the final state. All temporaries are allocated by the
/// constructor: `step` never allocates.
/// @tparam Method euler, heun, rkg2, rock4, stork2, stork4, … (anything with a nested `stepper`).
/// @tparam S      the state type.
/// @tparam P      what the model returns (`flow_velocity`, or a noise-process parameterisation).
template <class Method, State S, Parameterisation P = flow_velocity>
class scheduler {
 public:
  using stepper_type = typename Method::template stepper<S, P>;

  scheduler(const Method& method, std::span<const double> times, const S& x, const P& param = {},
            sampler_options options = {})
      : stepper_((validate(param, times), method), times, x, param), options_(options), param_(param) {
    if (!done()) check_coefficients("scheduler", time());
    if constexpr (detail::has_size<S>) size_ = state_ops<S>::size(x);
    if constexpr (detail::has_all_finite<S>)
      if (options_.check_finite && !state_ops<S>::all_finite(x))
        throw error("stork: scheduler: x (the initial state) contains NaN or Inf");
  }

  /// Time at which the engine must evaluate the model next (once done(), the last grid time).
  double time() const noexcept { return stepper_.time(); }
  /// True once the whole grid has been integrated.
  bool done() const noexcept { return stepper_.done(); }
  /// Model outputs consumed so far.
  std::size_t nfe() const noexcept { return nfe_; }

  /// @brief Consumes the model output at (x, time()) and moves x to the next evaluation point.
  /// Throws stork::error (x and the scheduler unchanged) if called after done(), if `out` or `x` has
  /// the wrong size, if they are the same object, if `out` holds NaN/Inf (unless `check_finite` is
  /// off), if the parameterisation's coefficients are not finite at time(), or if the method's step
  /// weights overflow double precision.
  /// @par Cost: the method's passes over memory for one stage; no allocation.
  void step(const S& model_output, S& x) {
    if (done())
      throw error("stork: scheduler::step: called after done() (nfe = " + std::to_string(nfe_) +
                  "): the grid is fully integrated");
    if constexpr (detail::has_size<S>) {
      const std::size_t no = state_ops<S>::size(model_output), nx = state_ops<S>::size(x);
      if (no != size_)
        detail::fail("scheduler::step", "model output size", no, "expected " + std::to_string(size_));
      if (nx != size_) detail::fail("scheduler::step", "x size", nx, "expected " + std::to_string(size_));
    }
    if (&model_output == &x)
      throw error(
          "stork: scheduler::step: model_output = x (the same object) is invalid (the model output must be "
          "written to a buffer other than x)");
    check_coefficients("scheduler::step", time());
    if constexpr (detail::has_all_finite<S>)
      if (options_.check_finite && !state_ops<S>::all_finite(model_output))
        throw error("stork: scheduler::step: the model output at t = " + detail::describe(time()) +
                    " contains NaN or Inf (nfe = " + std::to_string(nfe_) + ")");
    stepper_.advance(model_output, x);
    ++nfe_;
  }

  const stepper_type& stepper() const noexcept { return stepper_; }

 private:
  /// Lets a parameterisation check its own domain (e.g. VP times in (0, 1]) before anything else.
  static void validate(const P& param, std::span<const double> times) {
    if constexpr (requires { param.validate(times); }) param.validate(times);
  }
  /// Throws unless the velocity (and, for a noise process, the denoise) coefficients are finite at t:
  /// e.g. an ε flow model at σ = 1, an x̂₀ flow model at σ = 0, or β so large that α underflows to 0.
  void check_coefficients(const char* where, double t) const {
    if constexpr (!detail::is_identity_v<P>) {
      const affine_velocity v = param_.affine(t);
      if (!std::isfinite(v.state) || !std::isfinite(v.output))
        detail::fail(where, "t", t,
                     "the parameterisation's velocity coefficients are not finite there: state = " +
                         detail::describe(v.state) + ", output = " + detail::describe(v.output));
      if constexpr (requires { param_.denoise(t); }) {
        const affine_velocity d = param_.denoise(t);
        if (!std::isfinite(d.state) || !std::isfinite(d.output))
          detail::fail(where, "t", t,
                       "the parameterisation's denoise coefficients are not finite there: state = " +
                           detail::describe(d.state) + ", output = " + detail::describe(d.output));
      }
    }
  }

  stepper_type stepper_;
  sampler_options options_;
  P param_;
  std::size_t size_ = 0;
  std::size_t nfe_ = 0;
};

/// @brief The engine-owned loop for a model whose output is the velocity (flow matching, plain ODEs).
template <class Method, State S>
scheduler<Method, S> make_scheduler(const Method& method, std::span<const double> times, const S& x,
                                    sampler_options options = {}) {
  return scheduler<Method, S>(method, times, x, flow_velocity{}, options);
}

/// @brief The engine-owned loop for a model with another parameterisation: `step` takes the raw model
/// output. `param` is a parameterisation (`stork::model<Process>{.process, .prediction}`) or a bare noise
/// process, which means `model<Process>` with the process's usual prediction (VP: ε, `ve`: a denoiser's
/// x̂₀, `rectified_flow`: the velocity): `make_scheduler(method, taus, x, stork::vp_linear{})` runs an ε
/// model.
template <class Method, State S, class Param>
requires(Parameterisation<Param> || NoiseProcess<Param>)
    scheduler<Method, S, detail::parameterisation_t<Param>> make_scheduler(const Method& method,
                                                                           std::span<const double> times,
                                                                           const S& x, const Param& param,
                                                                           sampler_options options = {}) {
  return scheduler<Method, S, detail::parameterisation_t<Param>>(method, times, x,
                                                                 detail::as_parameterisation(param), options);
}

namespace detail {

template <class Method, State S, class Model, Parameterisation P>
stats run(const Method& method, Model& model, const P& param, S& x, std::span<const double> times,
          sampler_options options) {
  S work = state_ops<S>::make_like(x);
  assign(work, x);
  S out = state_ops<S>::make_like(x);
  scheduler<Method, S, P> sch(method, times, work, param, options);
  while (!sch.done()) {
    model(std::as_const(work), sch.time(), out);
    sch.step(out, work);
  }
  assign(x, work);  // x changes only when the whole run succeeded
  return {sch.nfe(), times.size() - 1};
}

}  // namespace detail

/// @brief Integrates x over the strictly monotone grid `times` (from times.front() to times.back()).
///
/// `f(x, t, v)` is a velocity field, or a parameterised field such as `vp_epsilon(model, vp_linear{})`.
/// Exactly the computation of the `make_scheduler` loop. If anything throws (bad input, the model's
/// own exception), x is left as it was.
/// @par Cost: the method's model calls per step; two states allocated up front plus the method's temporaries.
template <class Method, State S, class F>
requires VelocityField<F, S> stats integrate(const Method& method, F&& f, S& x, std::span<const double> times,
                                             sampler_options options = {}) {
  if constexpr (detail::parameterised_field<std::remove_cvref_t<F>>) {
    auto&& model = f.model();
    return detail::run(method, model, f.param(), x, times, options);
  } else {
    return detail::run(method, f, flow_velocity{}, x, times, options);
  }
}

}  // namespace stork
