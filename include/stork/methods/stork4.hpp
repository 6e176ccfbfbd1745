/// @file
/// @brief `stork::stork4`: STORK-4, ROCK4 Chebyshev stages with Taylor-extrapolated velocities.
#pragma once

#include "stork/detail/stork_stepper.hpp"
#include "stork/methods/stork_options.hpp"
#include "stork/methods/variant.hpp"

namespace stork {

/// @brief STORK-4 (Tan, Wang, Bertozzi, Ryu, arXiv 2505.24210): a ROCK4 step (m-stage Chebyshev
/// recurrence + 4-stage finishing procedure, m = smallest tabulated degree ≥ stages ≤ 148) whose stages
/// after the first use a polynomial extrapolation of past model outputs instead of model calls.
///
/// Global order 3 with derivative_order 2 (quadratic polynomial through three outputs), 4 with
/// derivative_order 3 (cubic through four), with the Runge–Kutta start-up; the multistep start-up's Euler
/// first step makes it 2 on grids whose first step is as long as the others (3.3 on the beta-spaced flow
/// grid, whose first step shrinks faster); the default `automatic` takes the first on long grids with a
/// full-size first step (`stork::startup`, docs/startup.md). What is extrapolated (`extrapolate`): the raw
/// model output, with the stages integrating the part of the velocity that is affine in the state (the
/// paper's ε path; a VE denoiser's (x − D)/σ), or the velocity itself — then a step is a quadrature and
/// corrected STORK-4 is variable-step Adams–Bashforth: with `startup::multistep` it equals `ipndm{.order =
/// derivative_order + 1}`. For flow velocities both are the same. Model calls: one per grid interval, plus
/// the start-up (`startup::runge_kutta`: +1 call for derivative_order 2 (a Heun step), +4 for
/// derivative_order 3 (two Kutta RK3 steps); `startup::multistep`: none; the default `automatic`: one or
/// the other by `stork::automatic_startup`). A VP run ends with one more call at the last grid time for the
/// denoise x̂₀; an interval that ends at σ = 0 with an ε, x̂₀ or v model is a step to x̂₀ from the
/// call at its start (no call at σ = 0). The `reference` variant makes N + 1 calls on N flow intervals
/// (§2.1) and N + 2 on an ε grid of N points (§2.6).
/// @par Cost: one fused linear combination of x and up to four stored outputs per step, whatever s, plus
/// one copy of the model output into the history (none when the engine writes into the scheduler's output
/// buffer); O(1) scalar work for velocities, O(m) for the output form of a state-dependent velocity.
/// Temporaries: derivative_order + 1 history entries, plus derivative_order start-up states with
/// the Runge–Kutta start-up (and one velocity buffer for a non-velocity output during it).
struct stork4 {
  int stages = 5;
  int derivative_order = 2;
  stork::variant variant = stork::variant::corrected;
  /// What the virtual stages extrapolate (the model output, or the velocity: see `stork::extrapolate`).
  stork::extrapolate extrapolate = stork::extrapolate::model_output;
  /// How the first steps get their history (see `stork::startup`).
  stork::startup startup = stork::startup::automatic;
  static constexpr detail::stork_family family = detail::stork_family::rock4;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::stork_stepper<stork4, S, P>;
};

}  // namespace stork
