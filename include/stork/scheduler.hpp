/// @file
/// @brief The two fronts of every method: the engine-owned loop (`make_scheduler`) and `integrate`.
///
/// `integrate` is the scheduler loop with the model called for you: one implementation, so the two
/// agree bit for bit.
#pragma once

#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include "stork/detail/span.hpp"

#include "stork/detail/arguments.hpp"
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

/// @brief A method together with its time grid, stepping one model evaluation at a time.
///
/// Usage (the engine owns the loop and the model):
/// @code
/// auto sch = stork::make_scheduler(stork::stork4{}, sigmas, x);
/// while (!sch.done()) { model(x, sch.time(), v); sch.step(v, x); }
/// // or zero-copy: model(x, sch.time(), sch.output_buffer()); sch.step(x);
/// @endcode
/// Between calls, `x` is the state at which the model must be evaluated next (a stage state for
/// multi-stage methods); once `done()`, it is the final state. All temporaries are allocated by the
/// constructor: `step` never allocates.
///
/// Members:
/// - `time()`: the time at which the model must be evaluated next (once done, the last grid time);
/// - `interval()`: the grid interval [t_n, t_{n+1}] that evaluation belongs to (n = number of intervals
///   for a VP run's final denoise);
/// - `at_grid_point()`: true when it is at t_n (a step's own call), false for a stage inside the interval;
/// - `output_buffer()`: a buffer to write the model output into, then `step(x)`: the multistep methods
///   keep it as their history entry without a copy;
/// - `step(out, x)` / `step(x)`: consume the output at (x, time()) and move x on;
/// - CFG++ methods (`euler_cfg_pp`, `euler_a_cfg_pp`: `Method::needs_unconditional`) consume two outputs at
///   (x, time()), the guided one and the unconditional one: `step(out, uncond, x)`, or zero-copy
///   `step(x)` after writing them into `output_buffer()` and `unconditional_buffer()`;
/// - `denoised(out, x, dst)`: the x̂₀ preview of an output at (x, time()), for parameterisations with a
///   denoise;
/// - `nfe()`, `done()`, `ops()`: model outputs consumed, whether the grid is integrated, the state
///   operations.
///
/// stable-diffusion.cpp's step index is `at_grid_point() ? interval() + 1 : −(interval() + 1)`.
/// @tparam Method euler, heun, rkg2, rock4, stork2, stork4, … (anything with a nested `stepper`).
/// @tparam S      the state type.
/// @tparam P      what the model returns (`flow_velocity`, or `model<Process>`).
/// @tparam Ops    the state operations (`state_ops<S>`, or an engine's own `StateOps` object).
/// @tparam Noise  the noise source of a stochastic method (none for the others).
template <class Method, class S, STORK_CONCEPT(Parameterisation) P = flow_velocity, class Ops = state_ops<S>,
          class Noise = detail::no_noise>
class scheduler {
  static_assert(
      is_state_ops_v<Ops, S>,
      "stork: no state operations for this state type: specialise stork::state_ops<S> (make_like, lincomb) "
      "or pass an object with make_like and lincomb members to make_scheduler / integrate");
  static constexpr bool stochastic = detail::is_stochastic_v<Method>;
  static_assert(
      !stochastic || !std::is_same_v<Noise, detail::no_noise>,
      "stork: this method adds noise: pass a noise source, a callable noise(S& out) that fills out with "
      "standard-normal draws, to make_scheduler / integrate");
  static_assert(
      stochastic || std::is_same_v<Noise, detail::no_noise>,
      "stork: this method adds no noise: drop the noise source (stochastic methods: euler_ancestral, "
      "dpmpp_2m_sde, dpmpp_2m_sde_bt, dpmpp_3m_sde, euler_ge, euler_a_cfg_pp)");
  static constexpr bool cfg_pp = detail::needs_unconditional_v<Method>;

 public:
  using method_type = Method;
  using stepper_type = typename Method::template stepper<S, P, Ops>;

  scheduler(const Method& method, span<const double> times, const S& x, const P& param = {},
            sampler_options options = {}, Ops ops = {}, Noise noise = {})
      : ops_(std::move(ops)),
        stepper_((validate(param, times), method), times, x, param, ops_),
        noise_(std::move(noise)),
        options_(options),
        param_(param) {
    if (!done()) check_coefficients("scheduler", time());
    if constexpr (detail::ops_size<Ops, S>) size_ = ops_.size(x);
    if constexpr (detail::ops_all_finite<Ops, S>)
      if (options_.check_finite && !ops_.all_finite(x))
        throw error("stork: scheduler: x (the initial state) contains NaN or Inf");
    if constexpr (!has_slot) own_output_.emplace(ops_.make_like(x));
    if constexpr (cfg_pp) own_uncond_.emplace(ops_.make_like(x));
  }

  /// Time at which the engine must evaluate the model next (once done(), the last grid time).
  double time() const noexcept { return stepper_.time(); }
  /// True once the whole grid has been integrated.
  bool done() const noexcept { return stepper_.done(); }
  /// Model outputs consumed so far.
  std::size_t nfe() const noexcept { return nfe_; }
  /// The grid interval [t_n, t_{n+1}] the next evaluation belongs to: n.
  std::size_t interval() const noexcept { return stepper_.interval(); }
  /// True when the next evaluation is at the grid point t_n, false for a stage inside the interval.
  bool at_grid_point() const noexcept { return stepper_.at_grid_point(); }

  /// @brief A buffer the engine may write the next model output into before calling `step(x)`.
  /// For STORK, DPM-Solver++, UniPC and iPNDM it is the history entry the output becomes, so nothing is
  /// copied; for the other methods a buffer of the scheduler's own (one state, allocated up front).
  S& output_buffer() noexcept {
    if constexpr (has_slot)
      return stepper_.output_slot();
    else
      return *own_output_;
  }

  /// @brief Consumes the model output at (x, time()) and moves x to the next evaluation point.
  /// Throws stork::error (x and the scheduler unchanged) if called after done(), if `out` or `x` has
  /// the wrong size, if they are the same object, if `out` holds NaN/Inf (unless `check_finite` is
  /// off), if the parameterisation's coefficients are not finite at time(), if the method's step
  /// weights overflow double precision, or if a stochastic method's noise source misbehaves.
  /// @par Cost: the method's passes over memory for one stage; no allocation.
  void step(const S& model_output, S& x) {
    static_assert(!cfg_pp,
                  "stork: this CFG++ method needs the unconditional prediction too: call "
                  "step(out, uncond, x) with the guided output and the unconditional one at (x, time()), or "
                  "write them into output_buffer() and unconditional_buffer() and call step(x)");
    check_call(model_output, x, "model output", "model_output");
    if constexpr (stochastic) {
      detail::checked_noise<Noise, Ops, S> noise{noise_, ops_, size_, options_.check_finite};
      stepper_.advance(ops_, model_output, x, noise);
    } else {
      stepper_.advance(ops_, model_output, x);
    }
    ++nfe_;
  }
  /// @brief CFG++ methods: consumes the guided model output `out` and the unconditional output `uncond`,
  /// both at (x, time()) and of the parameterisation's prediction type, and moves x on.
  ///
  /// `out` is what the engine's guidance makes of the conditional and unconditional predictions (CFG:
  /// uncond + scale·(cond − uncond)), `uncond` the unconditional prediction itself: stable-diffusion.cpp's
  /// `GuiderOutput::pred` and `pred_uncond`, before their conversion to x̂₀ (the method converts both).
  /// Throws stork::error as `step(out, x)` does, for either output, with x and the scheduler unchanged.
  /// @par Cost: the method's passes over memory; no allocation.
  void step(const S& out, const S& uncond, S& x) {
    static_assert(cfg_pp,
                  "stork: step(out, uncond, x) is for CFG++ methods (euler_cfg_pp, euler_a_cfg_pp); this "
                  "method takes one model output: step(out, x)");
    check_call(out, x, "model output", "out");
    check_call(uncond, x, "unconditional output", "uncond");
    if constexpr (stochastic) {
      detail::checked_noise<Noise, Ops, S> noise{noise_, ops_, size_, options_.check_finite};
      stepper_.advance(ops_, out, uncond, x, noise);
    } else {
      stepper_.advance(ops_, out, uncond, x);
    }
    ++nfe_;
  }
  /// @brief `step(output_buffer(), x)`: the model output was written into `output_buffer()` (CFG++:
  /// `step(output_buffer(), unconditional_buffer(), x)`).
  void step(S& x) {
    if constexpr (cfg_pp)
      step(output_buffer(), unconditional_buffer(), x);
    else
      step(output_buffer(), x);
  }

  /// @brief CFG++ methods: a buffer of the scheduler's own (one state, allocated up front) the engine may
  /// write the unconditional output into before calling `step(x)`.
  S& unconditional_buffer() noexcept {
    static_assert(cfg_pp,
                  "stork: unconditional_buffer() exists for CFG++ methods (euler_cfg_pp, euler_a_cfg_pp)");
    return *own_uncond_;
  }

  /// @brief The x̂₀ preview of a model output `out` at (x, time()): dst = c·x + d·out (one pass). For
  /// DPM-Solver++/UniPC this is the data prediction they step with; STORK and the others do not need it.
  void denoised(const S& out, const S& x, S& dst) {
    static_assert(
        detail::has_denoise<P>,
        "stork: scheduler::denoised needs a parameterisation with denoise(t): stork::model<Process>");
    const affine_velocity c = param_.denoise(time());
    detail::comb<2>(ops_, dst, {c.state, c.output}, {&x, &out});
  }

  const stepper_type& stepper() const noexcept { return stepper_; }
  Ops& ops() noexcept { return ops_; }
  const P& param() const noexcept { return param_; }

 private:
  template <class T>
  using output_slot_t = decltype(std::declval<T&>().output_slot());
  template <class T>
  using validate_t = decltype(std::declval<const T&>().validate(std::declval<span<const double>>()));
  static constexpr bool has_slot = detail::is_detected_exact_v<S&, output_slot_t, stepper_type>;

  /// The checks of one model output `o` (described as `what`, the argument named `param`) at (x, time())
  /// before a step: not done, sizes, not x itself, finite coefficients and values. Throws stork::error with
  /// everything unchanged.
  void check_call(const S& o, const S& x, const char* what, const char* param) const {
    if (done())
      throw error("stork: scheduler::step: called after done() (nfe = " + std::to_string(nfe_) +
                  "): the grid is fully integrated");
    if constexpr (detail::ops_size<Ops, S>) {
      const std::size_t no = ops_.size(o), nx = ops_.size(x);
      if (no != size_)
        detail::fail("scheduler::step", std::string(what) + " size", no, "expected " + std::to_string(size_));
      if (nx != size_) detail::fail("scheduler::step", "x size", nx, "expected " + std::to_string(size_));
    }
    if (&o == &x)
      throw error(
          std::string("stork: scheduler::step: ") + param +
          " = x (the same object) is invalid (the model output must be written to a buffer other than "
          "x)");
    check_coefficients("scheduler::step", time());
    if constexpr (detail::ops_all_finite<Ops, S>)
      if (options_.check_finite && !ops_.all_finite(o))
        throw error("stork: scheduler::step: the " + std::string(what) + " at t = " +
                    detail::describe(time()) + " contains NaN or Inf (nfe = " + std::to_string(nfe_) + ")");
  }

  /// Lets a parameterisation check its own domain (e.g. VP times in (0, 1]) before anything else.
  static void validate(const P& param, span<const double> times) {
    if constexpr (detail::is_detected_v<validate_t, P>) param.validate(times);
  }
  /// Throws unless the velocity (and, for a noise process, the denoise) coefficients are finite at t:
  /// e.g. an ε flow model at σ = 1, a denoiser at σ = 0, or β so large that α underflows to 0.
  void check_coefficients(const char* where, double t) const {
    if constexpr (!detail::is_identity_v<P>) {
      const affine_velocity v = param_.affine(t);
      if (!std::isfinite(v.state) || !std::isfinite(v.output))
        detail::fail(where, "t", t,
                     "the parameterisation's velocity coefficients are not finite there: state = " +
                         detail::describe(v.state) + ", output = " + detail::describe(v.output));
      if constexpr (detail::has_denoise<P>) {
        const affine_velocity d = param_.denoise(t);
        if (!std::isfinite(d.state) || !std::isfinite(d.output))
          detail::fail(where, "t", t,
                       "the parameterisation's denoise coefficients are not finite there: state = " +
                           detail::describe(d.state) + ", output = " + detail::describe(d.output));
      }
    }
  }

  Ops ops_;  // first: the stepper's constructor allocates through it
  stepper_type stepper_;
  Noise noise_;
  sampler_options options_;
  P param_;
  std::optional<S> own_output_;  // output_buffer() of the methods without a history
  std::optional<S> own_uncond_;  // unconditional_buffer() of the CFG++ methods
  std::size_t size_ = 0;
  std::size_t nfe_ = 0;
};

/// @brief The engine-owned loop: a scheduler for `method` over the strictly monotone grid `times`.
///
/// After `x`, in any order (each at most once):
/// - a parameterisation (`stork::model<Process>{.process, .prediction}`) or a bare noise process, which
///   means `model<Process>` with the process's usual prediction (VP: ε, `ve`: a denoiser's x̂₀,
///   `rectified_flow`: the velocity) — `make_scheduler(method, taus, x, stork::vp_linear{})` runs an ε
///   model; without one the model output is the velocity (`flow_velocity`);
/// - `stork::sampler_options`;
/// - a state-operations object (`StateOps`): an engine's allocator or context; default `state_ops<S>`;
/// - a noise source `noise(S& out)` filling out with N(0, 1) draws, for the stochastic methods only; a
///   source callable as `noise(S& out, double sigma_from, double sigma_to)` is handed the grid interval
///   [t_n, t_{n+1}] of each draw (`stork::brownian_tree_noise`).
template <class Method, class S, class... Args>
auto make_scheduler(const Method& method, span<const double> times, const S& x, Args&&... args) {
  using namespace detail;
  check_arguments<S, /*allow_param=*/true, /*allow_observer=*/false, Args...>();
  auto param = as_parameterisation(pick<arg_kind::param, S>(flow_velocity{}, std::forward<Args>(args)...));
  auto ops = pick_ops<S>(std::forward<Args>(args)...);
  auto noise = pick<arg_kind::noise, S>(no_noise{}, std::forward<Args>(args)...);
  const sampler_options options = pick<arg_kind::options, S>(sampler_options{}, std::forward<Args>(args)...);
  return scheduler<Method, S, decltype(param), decltype(ops), decltype(noise)>(
      method, times, x, param, options, std::move(ops), std::move(noise));
}

namespace detail {

template <class Method, class S, class Model, class P, class Ops, class Noise, class Observer>
stats run(const Method& method, Model& model, const P& param, S& x, span<const double> times,
          sampler_options options, Ops ops, Noise noise, Observer observer) {
  constexpr bool cfg_pp = needs_unconditional_v<Method>;
  static_assert(
      !cfg_pp || std::is_invocable_v<Model&, const S&, double, S&, S&>,
      "stork: a CFG++ method (euler_cfg_pp, euler_a_cfg_pp) needs the unconditional prediction too: "
      "integrate it with a model callback model(x, t, out, uncond) that writes the guided output "
      "into out and the unconditional one into uncond");
  static_assert(cfg_pp || std::is_invocable_v<Model&, const S&, double, S&>,
                "stork: model(x, t, out, uncond) is for CFG++ methods (euler_cfg_pp, euler_a_cfg_pp); this "
                "method takes model(x, t, out)");
  S work = ops.make_like(x);
  copy(ops, work, x);
  scheduler<Method, S, P, Ops, Noise> sch(method, times, work, param, options, ops, std::move(noise));
  constexpr bool observed = !std::is_same_v<Observer, no_observer>;
  std::optional<S> preview;
  if constexpr (observed && has_denoise<P>) preview.emplace(ops.make_like(x));
  while (!sch.done()) {
    S& out = sch.output_buffer();
    if constexpr (cfg_pp)
      model(std::as_const(work), sch.time(), out, sch.unconditional_buffer());
    else
      model(std::as_const(work), sch.time(), out);
    if constexpr (observed) {
      if (sch.at_grid_point()) {
        if constexpr (has_denoise<P>) sch.denoised(out, work, *preview);
        observer(step_info<S>{sch.interval(), sch.time(), work, out, preview ? &*preview : nullptr});
      }
    }
    sch.step(work);
  }
  copy(ops, x, work);  // x changes only when the whole run succeeded
  return {sch.nfe(), times.size() - 1};
}

}  // namespace detail

/// @brief Integrates x over the strictly monotone grid `times` (from times.front() to times.back()).
///
/// `f(x, t, v)` is a velocity field, or what `stork::field(model, process, prediction)` returns (the
/// model's raw output then reaches the method). Exactly the computation of the `make_scheduler` loop,
/// writing each model output straight into `output_buffer()`. After `times`, in any order (each at most
/// once): `stork::sampler_options`; a state-operations object; a noise source `noise(S& out)` (the
/// stochastic methods need one, the others take none); an observer `observer(const stork::step_info<S>&)`
/// called at every grid point after the model call there (with the x̂₀ preview where the
/// parameterisation has one: one more pass and one more state). If anything throws (bad input, the
/// model's own exception), x is left as it was. A CFG++ method (`Method::needs_unconditional`) takes a
/// model `f(x, t, out, uncond)` (or `stork::field` of one) that writes the guided output and the
/// unconditional one at (x, t), both of the parameterisation's prediction type.
/// @par Cost: the method's model calls per step; one working state up front plus the method's temporaries.
template <class Method, class S, class F, class... Args,
          std::enable_if_t<std::is_invocable_v<F&, const S&, double, S&> ||
                               std::is_invocable_v<F&, const S&, double, S&, S&> ||
                               detail::parameterised_field<detail::remove_cvref_t<F>>,
                           int> = 0>
stats integrate(const Method& method, F&& f, S& x, span<const double> times, Args&&... args) {
  using namespace detail;
  check_arguments<S, /*allow_param=*/false, /*allow_observer=*/true, Args...>();
  auto ops = pick_ops<S>(std::forward<Args>(args)...);
  auto noise = pick<arg_kind::noise, S>(no_noise{}, std::forward<Args>(args)...);
  auto observer = pick<arg_kind::observer, S>(no_observer{}, std::forward<Args>(args)...);
  const sampler_options options = pick<arg_kind::options, S>(sampler_options{}, std::forward<Args>(args)...);
  if constexpr (parameterised_field<detail::remove_cvref_t<F>>) {
    auto&& model = f.model();
    return run(method, model, f.param(), x, times, options, std::move(ops), std::move(noise),
               std::move(observer));
  } else {
    return run(method, f, flow_velocity{}, x, times, options, std::move(ops), std::move(noise),
               std::move(observer));
  }
}

}  // namespace stork
