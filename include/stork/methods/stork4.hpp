/// @file
/// @brief `stork::stork4`: STORK-4, ROCK4 Chebyshev stages with Taylor-extrapolated velocities.
#pragma once

#include "stork/detail/stork_stepper.hpp"
#include "stork/methods/variant.hpp"

namespace stork {

/// @brief STORK-4 (Tan, Wang, Bertozzi, Ryu, arXiv 2505.24210): a ROCK4 step (m-stage Chebyshev
/// recurrence + 4-stage finishing procedure, m = smallest tabulated degree ≥ stages ≤ 148) whose stages
/// after the first use a polynomial extrapolation of past model outputs instead of model calls.
///
/// Global order 3 with derivative_order 2 (quadratic velocity polynomial), 4 with derivative_order 3.
/// Model calls: one per grid interval, plus one start-up call (derivative_order 2: the first interval
/// is a Heun step) or four (derivative_order 3: two Kutta RK3 steps). The `reference` variant makes
/// N + 1 calls on N flow intervals (§2.1) and N + 2 on an ε grid of N points (§2.6). With a
/// noise-process model (`vp_epsilon`) one more call at the last grid time gives the final denoise.
/// @par Cost: one fused linear combination of x and up to four stored outputs per step, whatever s, plus
/// one copy of the model output into the history;
/// O(m) scalar work. Temporaries: the history of outputs (max(2, derivative_order)) plus derivative_order
/// start-up states, plus one velocity buffer for non-flow parameterisations (4 for a flow with
/// derivative_order 2); the reference flow path needs only the history (2).
struct stork4 {
  int stages = 5;
  int derivative_order = 2;
  stork::variant variant = stork::variant::corrected;
  static constexpr detail::stork_family family = detail::stork_family::rock4;
  template <State S, Parameterisation P>
  using stepper = detail::stork_stepper<stork4, S, P>;
};

}  // namespace stork
