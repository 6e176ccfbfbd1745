/// @file
/// @brief `stork::res_2s`: the two-stage exponential Runge–Kutta sampler "RES 2S" of stable-diffusion.cpp,
/// with its VE and flow ancestral noise, the noise drawn by the engine.
#pragma once

#include <cmath>

#include "stork/detail/ancestral_step.hpp"
#include "stork/detail/data_prediction.hpp"
#include "stork/detail/sd_two_stage.hpp"

namespace stork {

/// @brief RES 2S: stable-diffusion.cpp's `sample_res_2s` (leejet/stable-diffusion.cpp,
/// src/runtime/denoiser.hpp, with `get_ancestral_step(…, is_flow_denoiser)`), the second-order exponential
/// Runge–Kutta method with c₂ = ½ (the "RES" samplers of Clybius / ComfyUI's res_2s, Zhang & Chen's DEIS
/// family; Hochbruck & Ostermann 2005) on dx/dσ = (x − D)/σ from σ_n to σ_down, then ancestral noise.
/// Stochastic: the engine supplies the noise.
///
/// In the rule's σ (VE rule: `ve` and every process but `rectified_flow`, in the VE coordinates x/α, σ/α;
/// flow rule: `rectified_flow`, σ = t as it is, whose ODE in σ is the same), with D₁ at (x_n, σ_n) and
/// σ_down, σ_up, a from `get_ancestral_step` (VE, a = 1) or `get_ancestral_step_flow` (flow, η capped at 1):
/// when σ_down = 0 (the interval ending at σ = 0, or VE with η so large that σ_up = σ_{n+1}), x = D₁; else
/// h = log(σ_n/σ_down), the stage σ_s = σ_n·e^{−h/2} (also in flow: sd.cpp takes the midpoint in −log σ
/// for both rules), x_s = e^{−h/2}·x_n + (1 − e^{−h/2})·D₁, D₂ at (x_s, σ_s),
/// x = e^{−h}·x_n + (φ₁ − 2φ₂)·h·D₁ + 2φ₂·h·D₂ with φ₁ = (1 − e^{−h})/h, φ₂ = (e^{−h} − 1 + h)/h² (sd.cpp's
/// φ₁(−h), φ₂(−h); here computed without cancellation); then, when σ_{n+1} > 0 and σ_up > 0,
/// x_{n+1} = a·x + s_noise·σ_up·z, z ~ N(0, I) from the engine. A VP process finds the stage's time by
/// bisection on σ/α. sd.cpp's default η for res_2s is 0 (deterministic), here too.
///
/// Model calls: 2 per step; 1 when σ_down = 0 (the interval ending at σ = 0; VE with η large). The noise
/// source is called once per interval that adds noise (η·s_noise > 0, σ_{n+1} > 0), in grid order, in the
/// call that completes the interval (after the stage's model call), before x changes; with η = 0 never.
/// The grid's σ/α must decrease strictly. `s_noise` scales each draw (not in sd.cpp: 1 there).
/// @par Cost: 2 model calls per step (see above); one pass over memory per call plus copies of x_n and D₁;
/// 2 temporaries (x_n, D₁) and 1 for the draw when η·s_noise > 0.
struct res_2s {
  /// Noise per step: 0 deterministic (sd.cpp's default for res_2s), 1 ancestral; finite, >= 0 (flow: values
  /// above 1 act as 1).
  double eta = 0.0;
  /// Scale of each draw (not in sd.cpp); finite, >= 0.
  double s_noise = 1.0;
  static constexpr bool stochastic = true;
  static constexpr bool keeps_first_output = true;
  static constexpr const char* name = "res_2s";
  template <class S, class P, class Ops>
  using stepper = detail::two_stage_stepper<res_2s, S, P>;
};

namespace detail {

/// The plan of one interval of `res_2s` (see its documentation).
template <class Stage>
two_stage_plan two_stage_plan_of(const res_2s&, double eta, double s_noise, const two_stage_interval& in,
                                 Stage&& stage) {
  two_stage_plan p;
  const double s0 = in.s0, s1 = in.s1, a = in.a, b = in.b;
  const ancestral_step st = in.flow ? ancestral_step_flow(s0, s1, eta) : ancestral_step_ve(s0, s1, eta);
  const double down = st.sigma_down;
  const bool adds = s1 > 0.0 && st.sigma_up > 0.0;  // sd.cpp scales x by a and adds noise only then
  const double k = adds && in.flow ? st.alpha_ratio : 1.0;
  p.noisy = adds && in.active;
  if (p.noisy) p.cz = b * s_noise * st.sigma_up;
  p.two = down != 0.0 && s0 != 0.0;
  if (!p.two) {  // x = D₁
    p.c1 = b * k;
    return p;
  }
  const double h = std::log(s0 / down);
  p.stage = stage(s0 * std::exp(-0.5 * h));
  plan_ddim_stage(p, s0, a);
  const double w2 = 2.0 * psi(2, h) / h;  // 2φ₂·h = 2ψ₂(h)/h
  p.cx = b * k * (down / s0) / a;
  p.c1 = b * k * (psi(1, h) - w2);
  p.c2 = b * k * w2;
  return p;
}

}  // namespace detail
}  // namespace stork
