/// @file
/// @brief `stork::stork2`: STORK-2, Runge–Kutta–Gegenbauer stages with Taylor-extrapolated velocities.
#pragma once

#include "stork/detail/stork_stepper.hpp"
#include "stork/methods/stork_options.hpp"
#include "stork/methods/variant.hpp"

namespace stork {

/// @brief STORK-2 (Tan, Wang, Bertozzi, Ryu, arXiv 2505.24210): an s-stage RKG2 step (2 ≤ s ≤ 100000)
/// whose stages after the first use a polynomial extrapolation of past model outputs instead of model calls.
///
/// Global order 2 with either start-up. Everything else — what is extrapolated, the start-up, how VP, VE and
/// flow runs end, the model calls — as for `stork4`. The `reference` variant makes N + 1 calls on N flow
/// intervals (§2.1) and does not exist for ε models (the reference code's noise STORK-2 is broken, §2.3).
/// @par Cost: one fused linear combination of x and up to four stored outputs per step, whatever s; O(s)
/// scalar work for the output form of a state-dependent velocity. Temporaries as for `stork4`.
struct stork2 {
  int stages = 50;
  int derivative_order = 2;
  stork::variant variant = stork::variant::corrected;
  /// What the virtual stages extrapolate (the model output, or the velocity: see `stork::extrapolate`).
  stork::extrapolate extrapolate = stork::extrapolate::model_output;
  /// How the first steps get their history (see `stork::startup`).
  stork::startup startup = stork::startup::automatic;
  static constexpr detail::stork_family family = detail::stork_family::rkg2;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::stork_stepper<stork2, S, P>;
};

}  // namespace stork
