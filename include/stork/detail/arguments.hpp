/// @file
/// @brief Internal: the optional arguments of `make_scheduler` and `integrate` — a parameterisation or
/// process, `sampler_options`, a state-operations object, a noise source, an observer — recognised by
/// what they are, in any order; the noise-source wrapper that checks each draw; and what a method declares
/// about its inputs (noise, the unconditional prediction of CFG++).
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

#include "stork/error.hpp"
#include "stork/model/model.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/model/process.hpp"
#include "stork/sampler_options.hpp"
#include "stork/state.hpp"

namespace stork::detail {

/// No noise source: the deterministic methods.
struct no_noise {};
/// No observer.
struct no_observer {};

/// A stochastic method declares `static constexpr bool stochastic = true` and its stepper takes the noise
/// source as a fourth argument of `advance`.
template <class Method>
using stochastic_t = decltype(Method::stochastic);
template <class Method>
constexpr bool is_stochastic_v = [] {
  if constexpr (is_detected_v<stochastic_t, Method>)
    return static_cast<bool>(Method::stochastic);
  else
    return false;
}();

/// A CFG++ method declares `static constexpr bool needs_unconditional = true`: each step consumes the
/// guided model output and the unconditional one (`scheduler::step(out, uncond, x)`), and its stepper's
/// `advance` takes both.
template <class Method, class = void>
struct needs_unconditional : std::false_type {};
template <class Method>
struct needs_unconditional<Method, std::void_t<decltype(Method::needs_unconditional)>>
    : std::bool_constant<static_cast<bool>(Method::needs_unconditional)> {};
template <class Method>
constexpr bool needs_unconditional_v = needs_unconditional<Method>::value;

/// A noise source that takes the interval of the draw: `noise(out, sigma_from, sigma_to)` (a Brownian
/// tree: `stork::brownian_tree_noise`). The samplers pass the grid interval [t_n, t_{n+1}] of every draw
/// when the source accepts it, and call `noise(out)` otherwise.
template <class Noise, class S>
constexpr bool takes_interval_v = std::is_invocable_v<Noise&, S&, double, double>;

enum class arg_kind { options, param, ops, observer, noise, unknown };

template <class A, class S>
constexpr arg_kind kind_of() {
  using T = detail::remove_cvref_t<A>;
  if constexpr (std::is_same_v<T, sampler_options>)
    return arg_kind::options;
  else if constexpr (is_parameterisation_v<T> || is_noise_process_v<T>)
    return arg_kind::param;
  else if constexpr (is_state_ops_v<T, S>)
    return arg_kind::ops;
  else if constexpr (std::is_invocable_v<T&, const step_info<S>&>)
    return arg_kind::observer;
  else if constexpr (std::is_invocable_v<T&, S&> || takes_interval_v<T, S>)
    return arg_kind::noise;
  else
    return arg_kind::unknown;
}

template <arg_kind K, class S, class... A>
constexpr std::size_t count_of = (std::size_t{0} + ... + (kind_of<A, S>() == K ? 1 : 0));

/// Static checks of the optional arguments: every one recognised, none twice, only where allowed.
template <class S, bool allow_param, bool allow_observer, class... A>
constexpr void check_arguments() {
  static_assert(
      ((kind_of<A, S>() != arg_kind::unknown) && ...),
      "stork: an argument after the grid and the state is none of: a parameterisation or noise process "
      "(make_scheduler), stork::sampler_options, a state-operations object (make_like, lincomb), a "
      "noise source noise(S&) or noise(S&, double sigma_from, double sigma_to), an observer "
      "observer(const stork::step_info<S>&) (integrate)");
  static_assert(count_of<arg_kind::options, S, A...> <= 1, "stork: sampler_options given twice");
  static_assert(count_of<arg_kind::param, S, A...> <= 1, "stork: two parameterisations given");
  static_assert(count_of<arg_kind::ops, S, A...> <= 1, "stork: two state-operations objects given");
  static_assert(count_of<arg_kind::noise, S, A...> <= 1, "stork: two noise sources given");
  static_assert(count_of<arg_kind::observer, S, A...> <= 1, "stork: two observers given");
  static_assert(
      allow_param || count_of<arg_kind::param, S, A...> == 0,
      "stork: integrate takes the parameterisation from the field: use stork::field(model, process, "
      "prediction)");
  static_assert(allow_observer || count_of<arg_kind::observer, S, A...> == 0,
                "stork: make_scheduler takes no observer: the loop is the engine's (see interval(), "
                "at_grid_point(), denoised())");
}

/// The first argument of kind K (a copy), or `d`.
template <arg_kind K, class S, class D>
D pick(D d) {
  return d;
}
template <arg_kind K, class S, class D, class A, class... R>
auto pick(D d, A&& a, R&&... r) {
  if constexpr (kind_of<A, S>() == K)
    return detail::remove_cvref_t<A>(std::forward<A>(a));
  else
    return pick<K, S>(std::move(d), std::forward<R>(r)...);
}

/// The state-operations object among the arguments, or `state_ops<S>{}` when there is none. The default is
/// named only then: a state type that comes with its own ops object (a tensor that only a context can
/// allocate) needs no `state_ops` specialisation.
template <class S, class... A>
auto pick_ops(A&&... a) {
  if constexpr (count_of<arg_kind::ops, S, A...> == 0)
    return state_ops<S>{};
  else
    return pick<arg_kind::ops, S>(no_observer{}, std::forward<A>(a)...);  // found: the default is unused
}

/// What a stochastic stepper calls for noise: the engine's source, then checks that it kept the size and
/// (unless turned off) wrote finite values. The stepper draws before it changes anything, so a bad draw
/// leaves x and the scheduler as they were. `draw(out, from, to)` hands the source the interval of the draw
/// when it takes one (`takes_interval_v`) and calls `noise(out)` otherwise.
template <class Noise, class Ops, class S>
struct checked_noise {
  Noise& noise;
  Ops& ops;
  std::size_t size;
  bool check_finite;

  void operator()(S& out, double from, double to) {
    if constexpr (takes_interval_v<Noise, S>)
      noise(out, from, to);
    else
      noise(out);
    check(out);
  }

 private:
  void check(S& out) {
    if constexpr (ops_size<Ops, S>) {
      const std::size_t n = ops.size(out);
      if (n != size)
        fail("noise source", "output size", n, "expected " + std::to_string(size) + " (it must not resize)");
    }
    if constexpr (ops_all_finite<Ops, S>)
      if (check_finite && !ops.all_finite(out))
        throw error("stork: noise source: the draw contains NaN or Inf");
  }
};

}  // namespace stork::detail
