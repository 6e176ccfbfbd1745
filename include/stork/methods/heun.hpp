/// @file
/// @brief `stork::heun`: Heun's method (explicit trapezoidal rule).
#pragma once

#include <span>

#include "stork/detail/grid.hpp"
#include "stork/field.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <State S, Parameterisation P>
class heun_stepper;
}

/// @brief Heun's method: k1 = f(t, x), k2 = f(t+h, x+h·k1), x_{n+1} = x + h/2·(k1+k2). Order 2.
/// @par Cost: 2 model calls per step; 2 temporaries (step start and k1).
struct heun {
  template <State S, Parameterisation P>
  using stepper = detail::heun_stepper<S, P>;
};

namespace detail {

template <State S, Parameterisation P>
class heun_stepper {
 public:
  heun_stepper(const heun&, std::span<const double> times, const S& x, const P& p)
      : walk_(times, "heun"), vel_(p, x), x0_(state_ops<S>::make_like(x)), k1_(state_ops<S>::make_like(x)) {}
  double time() const noexcept { return stage_ == 0 ? walk_.t0() : walk_.t1(); }
  bool done() const noexcept { return walk_.done(); }
  void advance(const S& out, S& x) {
    const double h = walk_.h();
    const S& v = vel_(out, x, time());
    if (stage_ == 0) {
      assign(x0_, x);
      assign(k1_, v);
      lincomb<S, 2>(x, {1.0, h}, {&x0_, &k1_});
      stage_ = 1;
    } else {
      lincomb<S, 3>(x, {1.0, 0.5 * h, 0.5 * h}, {&x0_, &k1_, &v});
      stage_ = 0;
      walk_.next();
    }
  }

 private:
  grid_walk walk_;
  velocity_of<S, P> vel_;
  S x0_, k1_;
  int stage_ = 0;
};

}  // namespace detail
}  // namespace stork
