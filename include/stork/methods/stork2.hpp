/// @file
/// @brief `stork::stork2`: STORK-2, Runge–Kutta–Gegenbauer stages with Taylor-extrapolated velocities.
#pragma once

#include "stork/detail/stork_stepper.hpp"
#include "stork/methods/variant.hpp"

namespace stork {

/// @brief STORK-2 (Tan, Wang, Bertozzi, Ryu, arXiv 2505.24210): an s-stage RKG2 step (2 ≤ s ≤ 100000)
/// whose stages after
/// the first use a polynomial extrapolation of past model outputs instead of model calls.
///
/// Global order 2. Model calls: one per grid interval, plus one start-up call (derivative_order 2;
/// the first interval is a Heun step) or four (derivative_order 3: two Kutta RK3 steps); the
/// `reference` variant makes N + 1 calls on N intervals (§2.1). With a noise-process model
/// (`vp_epsilon`) one more call at the last grid time gives the final denoise.
/// @par Cost: one fused linear combination of x and up to four stored outputs per step, whatever s, plus
/// one copy of the model output into the history;
/// O(s) scalar work. Temporaries as for stork4: 4 for a flow with derivative_order 2.
struct stork2 {
  int stages = 50;
  int derivative_order = 2;
  stork::variant variant = stork::variant::corrected;
  static constexpr detail::stork_family family = detail::stork_family::rkg2;
  template <State S, Parameterisation P>
  using stepper = detail::stork_stepper<stork2, S, P>;
};

}  // namespace stork
