/// @file
/// @brief `stork::euler`: the explicit Euler method.
#pragma once

#include "stork/detail/span.hpp"

#include "stork/detail/grid.hpp"
#include "stork/detail/velocity.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, STORK_CONCEPT(Parameterisation) P>
class euler_stepper;
}

/// @brief Explicit Euler, x_{n+1} = x_n + h·f(t_n, x_n). Order 1.
/// @par Cost: 1 model call per step; one pass over memory per step; no temporaries for flow velocities.
struct euler {
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::euler_stepper<S, P>;
};

namespace detail {

template <class S, STORK_CONCEPT(Parameterisation) P>
class euler_stepper {
 public:
  template <class Ops>
  euler_stepper(const euler&, span<const double> times, const S& x, const P& p, Ops& ops)
      : walk_(times, "euler"), vel_(p, x, ops) {}
  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    const S& v = vel_(ops, out, x, walk_.t0());
    comb<2>(ops, x, {1.0, walk_.h()}, {&x, &v});
    walk_.next();
  }

 private:
  grid_walk walk_;
  velocity_of<S, P> vel_;
};

}  // namespace detail
}  // namespace stork
