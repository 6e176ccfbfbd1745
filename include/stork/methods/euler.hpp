/// @file
/// @brief `stork::euler`: the explicit Euler method.
#pragma once

#include <span>

#include "stork/detail/grid.hpp"
#include "stork/detail/velocity.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <State S, Parameterisation P>
class euler_stepper;
}

/// @brief Explicit Euler, x_{n+1} = x_n + h·f(t_n, x_n). Order 1.
/// @par Cost: 1 model call per step; one pass over memory per step; no temporaries for flow velocities.
struct euler {
  template <State S, Parameterisation P>
  using stepper = detail::euler_stepper<S, P>;
};

namespace detail {

template <State S, Parameterisation P>
class euler_stepper {
 public:
  euler_stepper(const euler&, std::span<const double> times, const S& x, const P& p)
      : walk_(times, "euler"), vel_(p, x) {}
  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  void advance(const S& out, S& x) {
    const S& v = vel_(out, x, walk_.t0());
    lincomb<S, 2>(x, {1.0, walk_.h()}, {&x, &v});
    walk_.next();
  }

 private:
  grid_walk walk_;
  velocity_of<S, P> vel_;
};

}  // namespace detail
}  // namespace stork
