/// @file
/// @brief `stork::any_scheduler<S>`: the engine-owned loop over a method chosen at run time
/// (`stork::any_method`), and `make_scheduler` / `integrate` for an `any_method`.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "stork/detail/arguments.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/type_traits.hpp"
#include "stork/error.hpp"
#include "stork/menu/any_method.hpp"
#include "stork/model/field.hpp"
#include "stork/model/model.hpp"
#include "stork/scheduler.hpp"
#include "stork/state.hpp"

namespace stork {

/// @brief A scheduler whose method was chosen at run time: the members of `stork::scheduler` behind one
/// virtual call each.
///
/// Made by `make_scheduler(any_method, times, x, ...)`; the typed scheduler of the chosen method lives inside
/// (allocated once, by the constructor), so a step computes exactly what the typed loop computes, bit for
/// bit, and allocates nothing. Usage is the typed loop's:
/// @code
/// auto sch = stork::make_scheduler(stork::method_from_name("dpm++2m", ""), sigmas, x, stork::ve{});
/// while (!sch.done()) { model(x, sch.time(), d); sch.step(d, x); }
/// @endcode
/// @par Cost: the typed method's, plus one indirect call per member call (bench/step_bench: any_method).
template <class S>
class any_scheduler {
 public:
  /// Time at which the engine must evaluate the model next (once done(), the last grid time).
  double time() const noexcept { return impl_->time(); }
  /// True once the whole grid has been integrated.
  bool done() const noexcept { return impl_->done(); }
  /// Model outputs consumed so far.
  std::size_t nfe() const noexcept { return impl_->nfe(); }
  /// The grid interval [t_n, t_{n+1}] the next evaluation belongs to: n.
  std::size_t interval() const noexcept { return impl_->interval(); }
  /// True when the next evaluation is at the grid point t_n, false for a stage inside the interval.
  bool at_grid_point() const noexcept { return impl_->at_grid_point(); }
  /// A buffer the engine may write the next model output into before calling `step(x)`.
  S& output_buffer() noexcept { return impl_->output_buffer(); }
  /// Consumes the model output at (x, time()) and moves x on (see `scheduler::step`); stork::error for a
  /// CFG++ method, which needs `step(out, uncond, x)`.
  void step(const S& model_output, S& x) { impl_->step(model_output, x); }
  /// CFG++ methods (`needs_unconditional()`): the guided output and the unconditional one at (x, time())
  /// (see `scheduler::step(out, uncond, x)`); stork::error for the other methods.
  void step(const S& model_output, const S& uncond, S& x) { impl_->step(model_output, uncond, x); }
  /// `step(output_buffer(), x)`, or for a CFG++ method `step(output_buffer(), unconditional_buffer(), x)`.
  void step(S& x) { impl_->step_zero_copy(x); }
  /// CFG++ methods: the buffer to write the unconditional prediction into before `step(x)`; stork::error for
  /// the other methods.
  S& unconditional_buffer() { return impl_->unconditional_buffer(); }
  /// True when the method is a CFG++ method (it needs the unconditional prediction too).
  bool needs_unconditional() const noexcept { return impl_->needs_unconditional(); }
  /// The x̂₀ preview of a model output at (x, time()); stork::error when the parameterisation has none.
  void denoised(const S& out, const S& x, S& dst) { impl_->denoised(out, x, dst); }
  /// The canonical name of the method.
  std::string_view method_name() const noexcept { return name_; }

  /// @cond internal
  struct base {
    virtual ~base() = default;
    virtual double time() const noexcept = 0;
    virtual bool done() const noexcept = 0;
    virtual std::size_t nfe() const noexcept = 0;
    virtual std::size_t interval() const noexcept = 0;
    virtual bool at_grid_point() const noexcept = 0;
    virtual S& output_buffer() noexcept = 0;
    virtual void step(const S& out, S& x) = 0;
    virtual void step(const S& out, const S& uncond, S& x) = 0;
    virtual void step_zero_copy(S& x) = 0;
    virtual S& unconditional_buffer() = 0;
    virtual bool needs_unconditional() const noexcept = 0;
    virtual void denoised(const S& out, const S& x, S& dst) = 0;
  };
  any_scheduler(std::string_view name, std::unique_ptr<base> impl) : name_(name), impl_(std::move(impl)) {}
  /// @endcond

 private:
  std::string_view name_;
  std::unique_ptr<base> impl_;
};

namespace detail {

/// The typed scheduler behind an `any_scheduler`.
template <class S, class Sch, class P>
class any_scheduler_impl final : public any_scheduler<S>::base {
  static constexpr bool cfg_pp = needs_unconditional_v<typename Sch::method_type>;

 public:
  template <class... A>
  explicit any_scheduler_impl(A&&... a) : sch_(std::forward<A>(a)...) {}
  double time() const noexcept override { return sch_.time(); }
  bool done() const noexcept override { return sch_.done(); }
  std::size_t nfe() const noexcept override { return sch_.nfe(); }
  std::size_t interval() const noexcept override { return sch_.interval(); }
  bool at_grid_point() const noexcept override { return sch_.at_grid_point(); }
  S& output_buffer() noexcept override { return sch_.output_buffer(); }
  void step(const S& out, S& x) override {
    if constexpr (cfg_pp)
      throw error(
          "stork: any_scheduler::step: this CFG++ method needs the unconditional prediction too: call "
          "step(out, uncond, x)");
    else
      sch_.step(out, x);
  }
  void step(const S& out, const S& uncond, S& x) override {
    if constexpr (cfg_pp)
      sch_.step(out, uncond, x);
    else
      throw error(
          "stork: any_scheduler::step(out, uncond, x) is for CFG++ methods (euler_cfg_pp, euler_a_cfg_pp): "
          "call step(out, x)");
  }
  void step_zero_copy(S& x) override { sch_.step(x); }
  S& unconditional_buffer() override {
    if constexpr (cfg_pp)
      return sch_.unconditional_buffer();
    else
      throw error(
          "stork: any_scheduler::unconditional_buffer() exists for CFG++ methods (euler_cfg_pp, "
          "euler_a_cfg_pp) only");
  }
  bool needs_unconditional() const noexcept override { return cfg_pp; }
  void denoised(const S& out, const S& x, S& dst) override {
    if constexpr (has_denoise<P>)
      sch_.denoised(out, x, dst);
    else
      throw error(
          "stork: any_scheduler::denoised: the model's parameterisation has no x̂₀ (pass a process or "
          "stork::model<Process>)");
  }

 private:
  Sch sch_;
};

/// What an `any_method` can run with: a process (`model<Process>`) or a plain flow velocity; every method of
/// the menu accepts both.
template <class P>
inline constexpr bool menu_parameterisation_v = process_model<P> || std::is_same_v<P, flow_velocity>;

[[noreturn]] inline void missing_noise(std::string_view who, std::string_view method) {
  throw error("stork: " + std::string(who) + ": the method " + std::string(method) +
              " adds noise: pass a noise source noise(S& out) that fills out with standard-normal draws");
}

/// The noise source of a stochastic method run without one because it adds no noise: never called (if it
/// were, the method's options were misread: an error, before anything changes).
struct absent_noise {
  std::string_view method;
  template <class S>
  void operator()(S&) const {
    missing_noise("noise source", method);
  }
};

}  // namespace detail

/// @brief The engine-owned loop for a method chosen at run time: an `any_scheduler<S>`.
///
/// The arguments after `x` are `make_scheduler`'s (a process or `model<Process>`, `sampler_options`, a
/// state-operations object, a noise source), each at most once. The noise source is handed to the method
/// only if it is stochastic; a stochastic method without one throws stork::error (the typed front rejects it
/// at compile time) unless its options add no noise (`eta = 0`).
/// @par Cost: the typed scheduler's temporaries plus one heap allocation (the scheduler itself), all in the
/// constructor.
template <class S, class... Args>
any_scheduler<S> make_scheduler(const any_method& method, span<const double> times, const S& x,
                                Args&&... args) {
  using namespace detail;
  check_arguments<S, /*allow_param=*/true, /*allow_observer=*/false, Args...>();
  auto param = as_parameterisation(pick<arg_kind::param, S>(flow_velocity{}, std::forward<Args>(args)...));
  using P = remove_cvref_t<decltype(param)>;
  static_assert(
      menu_parameterisation_v<P>,
      "stork: a method chosen at run time needs a noise process or stork::model<Process> (or a plain "
      "flow velocity)");
  auto ops = pick_ops<S>(std::forward<Args>(args)...);
  using Ops = remove_cvref_t<decltype(ops)>;
  auto noise = pick<arg_kind::noise, S>(no_noise{}, std::forward<Args>(args)...);
  using Noise = remove_cvref_t<decltype(noise)>;
  const sampler_options options = pick<arg_kind::options, S>(sampler_options{}, std::forward<Args>(args)...);
  std::unique_ptr<typename any_scheduler<S>::base> impl = method.visit([&](const auto& m) {
    using M = remove_cvref_t<decltype(m)>;
    std::unique_ptr<typename any_scheduler<S>::base> p;
    if constexpr (is_stochastic_v<M>) {
      if constexpr (std::is_same_v<Noise, no_noise>) {
        if (adds_noise(m)) missing_noise("make_scheduler", method.name());
        using Sch = scheduler<M, S, P, Ops, absent_noise>;
        p = std::make_unique<any_scheduler_impl<S, Sch, P>>(m, times, x, param, options, ops,
                                                            absent_noise{method.name()});
      } else {
        using Sch = scheduler<M, S, P, Ops, Noise>;
        p = std::make_unique<any_scheduler_impl<S, Sch, P>>(m, times, x, param, options, ops, noise);
      }
    } else {
      using Sch = scheduler<M, S, P, Ops>;
      p = std::make_unique<any_scheduler_impl<S, Sch, P>>(m, times, x, param, options, ops);
    }
    return p;
  });
  return any_scheduler<S>(method.name(), std::move(impl));
}

/// @brief Integrates x over `times` with a method chosen at run time: the typed `integrate` of the chosen
/// method (the same computation, bit for bit). The arguments after `times` are `integrate`'s; the noise
/// source is handed on only to a stochastic method, and a stochastic method without one throws stork::error.
template <class S, class F, class... Args,
          std::enable_if_t<std::is_invocable_v<F&, const S&, double, S&> ||
                               std::is_invocable_v<F&, const S&, double, S&, S&> ||
                               detail::parameterised_field<detail::remove_cvref_t<F>>,
                           int> = 0>
stats integrate(const any_method& method, F&& f, S& x, span<const double> times, Args&&... args) {
  using namespace detail;
  check_arguments<S, /*allow_param=*/false, /*allow_observer=*/true, Args...>();
  auto ops = pick_ops<S>(std::forward<Args>(args)...);
  auto noise = pick<arg_kind::noise, S>(no_noise{}, std::forward<Args>(args)...);
  using Noise = remove_cvref_t<decltype(noise)>;
  auto observer = pick<arg_kind::observer, S>(no_observer{}, std::forward<Args>(args)...);
  const sampler_options options = pick<arg_kind::options, S>(sampler_options{}, std::forward<Args>(args)...);
  return method.visit([&](const auto& m) -> stats {
    using M = remove_cvref_t<decltype(m)>;
    auto go = [&](auto&& model, const auto& param) -> stats {
      static_assert(menu_parameterisation_v<remove_cvref_t<decltype(param)>>,
                    "stork: a method chosen at run time needs a plain flow velocity or stork::field(model, "
                    "process, prediction)");
      using Model = remove_cvref_t<decltype(model)>;
      constexpr bool two_outputs = std::is_invocable_v<Model&, const S&, double, S&, S&>;
      if constexpr (needs_unconditional_v<M> != two_outputs) {
        throw error("stork: integrate: the method " + std::string(method.name()) +
                    (two_outputs
                         ? " takes one model output: pass a model f(x, t, out)"
                         : " is a CFG++ method: pass a model f(x, t, out, uncond) that also writes the "
                           "unconditional prediction"));
      } else if constexpr (is_stochastic_v<M>) {
        if constexpr (std::is_same_v<Noise, no_noise>) {
          if (adds_noise(m)) missing_noise("integrate", method.name());
          return run(m, model, param, x, times, options, ops, absent_noise{method.name()}, observer);
        } else
          return run(m, model, param, x, times, options, ops, noise, observer);
      } else {
        return run(m, model, param, x, times, options, ops, no_noise{}, observer);
      }
    };
    if constexpr (parameterised_field<remove_cvref_t<F>>)
      return go(f.model(), f.param());
    else
      return go(f, flow_velocity{});
  });
}

}  // namespace stork
