/// @file
/// @brief `stork::dpmpp_2s_ancestral`: DPM-Solver++(2S) ancestral ("DPM++ 2S a") with stable-diffusion.cpp's
/// VE and flow rules, the noise drawn by the engine.
#pragma once

#include <cmath>

#include "stork/detail/ancestral_step.hpp"
#include "stork/detail/sd_two_stage.hpp"

namespace stork {

/// @brief DPM-Solver++(2S) ancestral: stable-diffusion.cpp's `sample_dpmpp_2s_ancestral` (VE) and
/// `sample_dpmpp_2s_ancestral_flow` (flow) (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp, with
/// `get_ancestral_step` / `get_ancestral_step_flow`; the VE one is k-diffusion's
/// `sample_dpmpp_2s_ancestral`). The single-step second-order DPM-Solver++ (Lu et al. 2022, arXiv 2211.01095,
/// Alg. 1, r = ½) from σ_n to σ_down, then noise. Stochastic: the engine supplies the noise.
///
/// With D₁ the data prediction at (x_n, σ_n), σ_down, σ_up (and a) the ancestral split of [σ_n, σ_{n+1}]:
/// - VE rule (`ve`, and every process but `rectified_flow`, in the VE coordinates x/α, σ/α): σ_down, σ_up of
///   `get_ancestral_step` (as `euler_ancestral`); when σ_down = 0, x = D₁; else the stage
///   σ_s = √(σ_n·σ_down) (the midpoint in λ = −log σ), x_s = (σ_s/σ_n)·x_n + (1 − σ_s/σ_n)·D₁, D₂ at (x_s,
///   σ_s), x_{n+1} = (σ_down/σ_n)·x_n + (1 − σ_down/σ_n)·D₂; then, when σ_{n+1} > 0, + s_noise·σ_up·z.
/// - flow rule (`rectified_flow`, σ = t): the interval ending at σ = 0 is x = D₁; else σ_down, σ_up, a of
///   `get_ancestral_step_flow` (η capped at 1), the stage at the midpoint in the flow log-SNR
///   λ = log((1 − σ)/σ): σ_s = 1/(1 + √((1 − σ_n)/σ_n·(1 − σ_down)/σ_down)), x_s and D₂ as above (no stage
///   call when 1 − σ_n < 1e-6: D₂ = D₁, sd.cpp's shortcut for a start at σ = 1), x_{n+1} =
///   a·((σ_down/σ_n)·x_n + (1 − σ_down/σ_n)·D₂) + s_noise·σ_up·z when η > 0.
/// z ~ N(0, I) from the engine. A VP process finds the stage's time by bisection on σ/α (the stage must lie
/// on the grid: with η > 1 and a grid that does not end at data the constructor may throw).
///
/// Model calls: 2 per step; 1 on the interval ending at σ = 0, on a VE-rule interval whose σ_down is 0
/// (η large enough that σ_up = σ_{n+1}), and on a flow interval starting within 1e-6 of σ = 1. The noise
/// source is called once per interval that adds noise (η·s_noise > 0, σ_{n+1} > 0), in grid order, in the
/// call that completes the interval (after the stage's model call, as sd.cpp), before x changes; with η = 0
/// it is never called. The grid's σ/α must decrease strictly. sd.cpp's default η is 1. `s_noise` is
/// k-diffusion's scale of each draw (not in sd.cpp: 1 there).
/// @par Cost: 2 model calls per step (see above); one pass over memory per call plus a copy of x_n;
/// 1 temporary (x_n) and 1 for the draw when η·s_noise > 0.
struct dpmpp_2s_ancestral {
  /// Noise per step: 0 deterministic (DPM-Solver++(2S)), 1 ancestral (sd.cpp's default); finite, >= 0
  /// (flow: values above 1 act as 1).
  double eta = 1.0;
  /// Scale of each draw (k-diffusion's `s_noise`, not in sd.cpp); finite, >= 0.
  double s_noise = 1.0;
  static constexpr bool stochastic = true;
  static constexpr bool keeps_first_output = false;
  static constexpr const char* name = "dpmpp_2s_ancestral";
  template <class S, class P, class Ops>
  using stepper = detail::two_stage_stepper<dpmpp_2s_ancestral, S, P>;
};

namespace detail {

/// The plan of one interval of `dpmpp_2s_ancestral` (see its documentation).
template <class Stage>
two_stage_plan two_stage_plan_of(const dpmpp_2s_ancestral&, double eta, double s_noise,
                                 const two_stage_interval& in, Stage&& stage) {
  two_stage_plan p;
  const double s0 = in.s0, s1 = in.s1, a = in.a, b = in.b;
  if (in.flow && s1 == 0.0) {  // x = D₁
    p.c1 = b;
    return p;
  }
  const ancestral_step st = in.flow ? ancestral_step_flow(s0, s1, eta) : ancestral_step_ve(s0, s1, eta);
  const double down = st.sigma_down;
  const double k = in.flow && eta > 0.0 ? st.alpha_ratio : 1.0;
  p.noisy = in.active && s1 > 0.0;
  if (p.noisy) p.cz = b * s_noise * st.sigma_up;
  p.two = in.flow ? !(1.0 - s0 < 1e-6) : down != 0.0;
  const double r = down / s0;
  p.cx = b * k * r / a;
  if (p.two) {
    const double target =
        in.flow ? 1.0 / (std::sqrt(((1.0 - s0) / s0) * ((1.0 - down) / down)) + 1.0) : std::sqrt(s0 * down);
    p.stage = stage(target);
    plan_ddim_stage(p, s0, a);
    p.c2 = b * k * (1.0 - r);
  } else {
    p.c1 = b * k * (1.0 - r);
  }
  return p;
}

}  // namespace detail
}  // namespace stork
