/// @file
/// @brief `stork::use_flow_sigmas`: the flow-matching sigma grid of diffusers' multistep schedulers
/// (DPMSolverMultistepScheduler, UniPCMultistepScheduler) with `use_flow_sigmas=True`.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/detail/schedule_check.hpp"
#include "stork/detail/schedule_math.hpp"
#include "stork/error.hpp"

namespace stork {

/// @brief The flow sigma grid of diffusers' DPMSolverMultistepScheduler and UniPCMultistepScheduler
/// with `use_flow_sigmas=True, flow_shift=shift, final_sigmas_type="zero"`, for `steps` = N steps:
/// N + 1 values, N strictly decreasing from F(1 − 1/T) down to F(1 − a_1), then a final 0.
///
/// The set_timesteps code of scheduling_dpmsolver_multistep.py (and scheduling_unipc_multistep.py) is
/// a = linspace(1, 1/T, N + 1), u = 1 − a, σ = flip(S·u / (1 + (S − 1)·u))[:-1], then 0 appended:
/// so σ_k = F(1 − a_{N−k}) for k = 0 … N − 1 with F(u) = S·u/(1 + (S − 1)·u). Unlike `flow_sigmas` the
/// grid does not start at 1 (σ_0 = F(1 − 1/T), 0.99967 for S = 3, T = 1000) and has no σ_min tail: the
/// last nonzero σ is F(1 − a_1), about S/N for large N. One step gives {F(1 − 1/T), 0}.
///
/// stork evaluates this in double in numpy's operation order (numpy's linspace, 1 − a, S·u,
/// 1 + (S − 1)·u, the quotient), so each value is bit for bit the float64 value numpy computes, as long
/// as the compiler does not contract a·b + c into fused multiply-adds: x86-64 without -mfma never does;
/// with FMA contraction (g++ -march=haswell or native, AArch64) a value can differ in its last bit, so
/// build with -ffp-contract=off where the bits matter. diffusers then stores the grid as float32
/// (`.astype(np.float32)`): `static_cast<float>(sigma)` is diffusers' `scheduler.sigmas` exactly, and
/// σ·T (in double) its `timesteps` before their cast to int64.
/// Example: `stork::use_flow_sigmas(10, 3.0)` gives .99967, .96394, .92272, .87464, .81781, .74962,
/// .6663, .56215, .42827, .24979, 0 (rounded).
/// @param steps N, the number of steps, 1 ≤ N ≤ 10⁶.
/// @param shift S, diffusers' `flow_shift`, finite and > 0 (1: no shift).
/// @param num_train_timesteps T, diffusers' `num_train_timesteps`, ≥ 2.
/// @par Cost: O(N).
/// @throws stork::error naming the parameter and its value for steps outside [1, 10⁶], shift not finite
/// and > 0, num_train_timesteps < 2, or (naming steps) a grid that is not positive and strictly
/// decreasing in double (an extreme shift, such as 1e300, makes every σ round to 1).
inline std::vector<double> use_flow_sigmas(int steps, double shift, int num_train_timesteps = 1000) {
  detail::check_schedule_steps("use_flow_sigmas", steps, 1);
  if (!(std::isfinite(shift) && shift > 0.0))
    detail::fail("use_flow_sigmas", "shift", shift, "needs a finite shift > 0");
  if (num_train_timesteps < 2)
    detail::fail("use_flow_sigmas", "num_train_timesteps", num_train_timesteps,
                 "needs num_train_timesteps >= 2 (with T = 1 every sigma is 0)");
  const auto n = static_cast<std::size_t>(steps);
  const std::vector<double> a = detail::linspace(1.0, 1.0 / static_cast<double>(num_train_timesteps), n + 1);
  const double shift_minus_one = shift - 1.0;
  std::vector<double> sig(n + 1);
  for (std::size_t k = 0; k < n; ++k) {  // flip(...)[:-1]: a_N first, a_0 (u = 0) dropped
    const double u = 1.0 - a[n - k];
    const double num = shift * u;
    const double den_tail = shift_minus_one * u;
    const double den = 1.0 + den_tail;
    sig[k] = num / den;
  }
  sig[n] = 0.0;  // final_sigmas_type = "zero"
  detail::check_decreasing_sigmas("use_flow_sigmas", steps, span<const double>(sig.data(), n),
                                  "use_flow_sigmas", "check shift and num_train_timesteps");
  return sig;
}

}  // namespace stork
