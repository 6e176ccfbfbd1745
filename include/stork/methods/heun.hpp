/// @file
/// @brief `stork::heun`: Heun's method (explicit trapezoidal rule).
#pragma once

#include "stork/detail/explicit_rk.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {

/// @brief Heun's method: k1 = f(t, x), k2 = f(t+h, x+h·k1), x_{n+1} = x + h/2·(k1+k2). Order 2.
///
/// An interval that ends where the model cannot be called (σ = 0 with an ε, x̂₀ or v model: the end of a
/// VE or flow grid) is one Euler step, as in k-diffusion's `sample_heun`; a flow velocity is evaluated at
/// σ = 0 as usual.
/// @par Cost: 2 model calls per step; 2 temporaries (step start and k1).
struct heun {
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  class stepper : public detail::explicit_rk_stepper<detail::heun_tableau, S, P> {
   public:
    stepper(const heun&, span<const double> times, const S& x, const P& p, Ops& ops)
        : detail::explicit_rk_stepper<detail::heun_tableau, S, P>(times, x, p, "heun", ops) {}
  };
};

}  // namespace stork
