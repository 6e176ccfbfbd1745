/// @file
/// @brief The options of STORK besides the variant: what the virtual stages extrapolate, and how the first
/// steps get their history.
#pragma once

#include <cmath>
#include <cstddef>

#include "stork/detail/span.hpp"

namespace stork {

/// @brief What STORK's virtual stages extrapolate from past model calls.
///
/// - `model_output` (default): the raw model output (ε̂, x̂₀, v or the velocity) is extrapolated in time and
///   the stages integrate the velocity's part that is affine in the state, a(t)·Y, exactly as the
///   reference's ε path does (−½β·Y for VP ε models, Y/σ for a VE denoiser): the stages see the stiffness.
///   A VP run ends with a denoise at the last grid time; an interval ending at σ = 0 (the end of a VE or
///   flow grid, for an ε, x̂₀ or v model) is a step to x̂₀.
/// - `velocity`: each output is turned into the velocity dx/dt when it arrives and the velocity is
///   extrapolated: the step is a quadrature of that polynomial, i.e. a variable-step Adams–Bashforth method
///   (corrected STORK-4 with derivative_order 3 is iPNDM of order 4). The last interval is a normal step.
/// For a model that predicts the velocity (flow matching) the two are the same.
enum class extrapolate { model_output, velocity };

/// @brief How STORK gets the past outputs its velocity polynomial needs on the first steps.
///
/// - `runge_kutta`: the first intervals are one-step Runge–Kutta steps of the polynomial's order —
///   one Heun step for derivative_order 2 (+1 model call), two steps of Kutta's third-order method for
///   derivative_order 3 (+4 calls) — so the start-up keeps the global order (3 and 4) on every grid.
/// - `multistep`: no extra calls: the first steps use the polynomials through the outputs available
///   (constant, linear, …), as iPNDM and k-diffusion's LMS warm up. The first step is then an Euler step,
///   which caps the global order at 2 on grids whose first step does not shrink with the others.
/// - `automatic` (default): `runge_kutta` on grids of at least 15 intervals for derivative_order 2 (30 for
///   derivative_order 3) whose first interval is at least half the mean interval, `multistep` otherwise
///   (`stork::automatic_startup`). Measured as error against NFE on 21 Gaussian-mixture settings
///   (bench/startup.cpp, docs/startup.md): on grids with a full-size first step (flow at shift 1, VE on
///   karras) the extra calls pay for themselves from about NFE 12 at derivative_order 2 and 25 at 3
///   (geometric mean; VE alone from about 25 and 60); on grids whose first step is short (a shifted flow
///   grid's is about 1/shift of the mean, the beta-spaced one's shrinks faster than the others) the Euler
///   first step costs little and the cheap start is the more accurate up to NFE 100. Over the 21 settings
///   the rule is within 4 % of the better fixed start-up at every NFE from 5 to 100 and up to 2.3× (4.5×)
///   more accurate than always `multistep` (`runge_kutta`).
/// The variant::reference start-up is the reference code's own (§2.1, §2.6) whatever this says.
enum class startup { automatic, runge_kutta, multistep };

/// @brief The start-up `startup::automatic` takes on the grid `times`: `runge_kutta` when the grid has at
/// least 15 intervals (derivative_order 2) or 30 (derivative_order 3) and its first interval is at least
/// half the mean interval |t_N − t_0|/N, `multistep` otherwise (see `stork::startup`).
inline startup automatic_startup(int derivative_order, span<const double> times) noexcept {
  const std::size_t n = times.size() < 2 ? 0 : times.size() - 1;
  if (n < (derivative_order >= 3 ? std::size_t{30} : std::size_t{15})) return startup::multistep;
  const double first = std::abs(times[1] - times[0]), mean = std::abs(times[n] - times[0]) / double(n);
  return first >= 0.5 * mean ? startup::runge_kutta : startup::multistep;
}

}  // namespace stork
