/// @file
/// @brief The options of STORK besides the variant: what the virtual stages extrapolate, and how the first
/// steps get their history.
#pragma once

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
///   derivative_order 3 (+4 calls) — so the start-up keeps the global order on uniform grids.
/// - `multistep`: no extra calls: the first steps use the polynomials through the outputs available
///   (constant, linear, …), as iPNDM and k-diffusion's LMS warm up. The first step is then first order,
///   which caps uniform grids at global order 2 (grids whose first steps shrink keep the full order).
/// - `automatic` (default): `runge_kutta` for derivative_order 2, `multistep` for derivative_order 3 — the
///   better of the two in the measurements (docs/results/): for derivative_order 3 the four extra calls
///   cost more than the start-up's accuracy buys below NFE ~30 (e.g. flow mixture, NFE 10: median error
///   1.4e-2 against 1.3e-1), and they are level above; for derivative_order 2 the single Heun call is
///   level or slightly better.
/// The variant::reference start-up is the reference code's own (§2.1, §2.6) whatever this says.
enum class startup { automatic, runge_kutta, multistep };

}  // namespace stork
