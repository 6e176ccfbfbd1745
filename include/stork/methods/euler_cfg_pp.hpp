/// @file
/// @brief `stork::euler_cfg_pp` and `stork::euler_a_cfg_pp`: Euler and Euler ancestral with CFG++ (Chung et
/// al. 2024, arXiv 2406.08070), which step with the guided x̂₀ and the unconditional noise estimate: the
/// engine hands over both model outputs (`scheduler::step(out, uncond, x)`).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "stork/detail/ancestral_step.hpp"
#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/stochastic.hpp"
#include "stork/error.hpp"
#include "stork/methods/dpmpp_sde.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class Method, class S, class P>
class cfg_pp_stepper;
}

/// @brief Euler with CFG++ ("euler_cfg_pp"): stable-diffusion.cpp's `sample_euler_cfg_pp`
/// (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp), ComfyUI's `sample_euler_cfg_pp`
/// (comfyanonymous/ComfyUI, comfy/k_diffusion/sampling.py). Deterministic; CFG++: each step needs the
/// guided model output and the unconditional one at the same (x, σ).
///
/// With D_c the x̂₀ of the guided output and D_u that of the unconditional one, both at (x_n, σ_n), in VE
/// (x = x₀ + σ·ε): x_{n+1} = D_c + σ_{n+1}·(x_n − D_u)/σ_n — DDIM with the guided x̂₀ and the unconditional
/// noise estimate, where CFG's Euler step would use the guided one for both; the interval ending at σ = 0 is
/// x = D_c. Without guidance (D_c = D_u) it is `stork::euler`. VP processes run the same step in the VE
/// coordinates x/α, σ/α: x_{n+1} = α_{n+1}·D_c + (σ_{n+1}/σ_n)·(x_n − α_n·D_u). Rectified flow follows
/// `.flow`: stable-diffusion.cpp's rule by default (`flow_rule::sd_cpp`, the VE formula on the flow σ with
/// D = x − σ·v), or ComfyUI's (`flow_rule::log_snr`, the VP form above with α = 1 − σ); both are Euler
/// without guidance and differ by σ_{n+1}·(D_u − D_c) per step with it.
///
/// How the engine hands over the two outputs: `sch.step(out, uncond, x)` (both of the parameterisation's
/// prediction type: for a flow model two velocities, for a VE denoiser two x̂₀; `out` is what the engine's
/// guidance makes of them, e.g. uncond + scale·(cond − uncond)), or zero-copy into `sch.output_buffer()` and
/// `sch.unconditional_buffer()`, then `sch.step(x)`; `integrate` takes a model `f(x, t, out, uncond)`.
/// The one-output `step(out, x)` does not compile for this method.
/// @par Cost: 1 model evaluation per step (the engine's guided and unconditional outputs at one point); one
/// pass over memory per step; no temporaries.
struct euler_cfg_pp {
  /// Rectified flow: `flow_rule::sd_cpp` (stable-diffusion.cpp's, the default) or `flow_rule::log_snr`
  /// (ComfyUI's).
  flow_rule flow = flow_rule::sd_cpp;
  static constexpr bool needs_unconditional = true;
  template <class S, class P, class Ops>
  using stepper = detail::cfg_pp_stepper<euler_cfg_pp, S, P>;
};

/// @brief Euler ancestral with CFG++ ("euler_a_cfg_pp"): stable-diffusion.cpp's
/// `sample_euler_ancestral_cfg_pp` (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp), ComfyUI's
/// `sample_euler_ancestral_cfg_pp` (comfyanonymous/ComfyUI, comfy/k_diffusion/sampling.py). Stochastic:
/// the engine supplies the noise; CFG++: each step needs the guided and the unconditional output.
///
/// In VE, with (σ_down, σ_up) = `get_ancestral_step(σ_n, σ_{n+1}, η)` (as `stork::euler_ancestral`):
/// x_{n+1} = D_c + σ_down·(x_n − D_u)/σ_n + s_noise·σ_up·z, z ~ N(0, I) from the engine; the interval
/// ending at σ = 0 is x = D_c, with no noise. VP processes run it in the VE coordinates x/α, σ/α. Rectified
/// flow follows `.flow`: by default ComfyUI's rule (`flow_rule::log_snr`: the VE split of σ/α, the step
/// x_{n+1} = α_{n+1}·D_c + α_{n+1}·σ_down·(x_n/α_n − D_u)/(σ_n/α_n) + s_noise·α_{n+1}·σ_up·z with α = 1 − σ,
/// which samples the data distribution); `flow_rule::sd_cpp` is stable-diffusion.cpp's VE formula on the
/// flow σ (no flow rule there), which does not: on a flow Gaussian without guidance its mean drifts to 1.75
/// for the data's 1 at 1024 steps (`tests/menu_cfgpp_test.cpp`). A flow grid may start at σ = 1 (α = 0):
/// the split takes its limit there, σ_up = min(1, η)·σ_{n+1}/α_{n+1} (ComfyUI's λ = −∞ gives σ_{n+1}/α_{n+1}
/// for every η > 0). η = 0 is `euler_cfg_pp` with the same
/// flow rule; η > 1 is allowed (σ_up is capped). The noise source is called once per interval that adds
/// noise (η·s_noise > 0 and σ_up > 0; stable-diffusion.cpp draws on every interval but the last and
/// multiplies by σ_up), in grid order, with the interval [t_n, t_{n+1}] when it takes one, before anything
/// changes. Hand-over of the two outputs as `euler_cfg_pp`.
/// @par Cost: 1 model evaluation per step (guided and unconditional outputs); one pass over memory per step;
/// 1 temporary (the draw) when η·s_noise > 0.
struct euler_a_cfg_pp {
  /// Noise per step: 0 deterministic (`euler_cfg_pp`), 1 ancestral sampling (stable-diffusion.cpp's
  /// default); finite, >= 0.
  double eta = 1.0;
  /// Scale of each draw (ComfyUI's `s_noise`; stable-diffusion.cpp has none); finite, >= 0.
  double s_noise = 1.0;
  /// Rectified flow: `flow_rule::log_snr` (ComfyUI's, the default) or `flow_rule::sd_cpp`.
  flow_rule flow = flow_rule::log_snr;
  static constexpr bool stochastic = true;
  static constexpr bool needs_unconditional = true;
  template <class S, class P, class Ops>
  using stepper = detail::cfg_pp_stepper<euler_a_cfg_pp, S, P>;
};

namespace detail {

/// The VE split (σ_down, σ_up) of σ_from → σ_to in VE σ, where σ_from may be +∞ (a flow grid at σ = 1
/// read as VE): there σ_up = min(σ_to, η·σ_to) (the limit of `ancestral_step_ve`).
inline ancestral_step ancestral_step_ve_from(double sigma_from, double sigma_to, double eta) noexcept {
  if (std::isfinite(sigma_from)) return ancestral_step_ve(sigma_from, sigma_to, eta);
  if (!(eta > 0.0)) return {sigma_to, 0.0, 1.0};
  const double up = std::min(sigma_to, eta * sigma_to), down2 = sigma_to * sigma_to - up * up;
  return {down2 > 0.0 ? std::sqrt(down2) : 0.0, up, 1.0};
}

template <class Method, class S, class P>
class cfg_pp_stepper {
  static_assert(
      is_data_prediction_v<P>,
      "stork: the CFG++ samplers need a parameterisation with alpha(t), sigma(t) and denoise(t): use "
      "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) with "
      "integrate); a plain velocity field is read as rectified flow");
  static constexpr bool ancestral = std::is_same_v<Method, euler_a_cfg_pp>;

 public:
  template <class Ops>
  cfg_pp_stepper(const Method& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : eta_(ancestral ? checked_eta(name(), eta_of(m)) : 0.0),
        s_noise_(ancestral ? checked_s_noise(name(), s_noise_of(m)) : 0.0),
        unit_alpha_(is_flow<P>() && checked_rule(m.flow) == flow_rule::sd_cpp),
        walk_(times, name()),
        grid_(times, p, name()),
        param_(p),
        noise_(eta_ * s_noise_ > 0.0, x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }

  /// Moves x from t_n to t_{n+1} with the guided output `out` and the unconditional `uncond` at (x, t_n).
  template <class Ops>
  void advance(Ops& ops, const S& out, const S& uncond, S& x) {
    static_assert(!ancestral, "stork: euler_a_cfg_pp is stochastic: its scheduler passes a noise source");
    no_noise_source none;
    step(ops, out, uncond, x, none);
  }
  /// The same, drawing from the engine's source (euler_a_cfg_pp).
  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, const S& uncond, S& x, Noise& noise) {
    step(ops, out, uncond, x, noise);
  }

 private:
  struct no_noise_source {
    void operator()(S&, double, double) const noexcept {}
  };
  static const char* name() noexcept { return ancestral ? "euler_a_cfg_pp" : "euler_cfg_pp"; }
  static double eta_of(const Method& m) noexcept {
    if constexpr (ancestral)
      return m.eta;
    else
      return 0.0;
  }
  static double s_noise_of(const Method& m) noexcept {
    if constexpr (ancestral)
      return m.s_noise;
    else
      return 0.0;
  }
  static flow_rule checked_rule(flow_rule r) {
    if (r != flow_rule::log_snr && r != flow_rule::sd_cpp)
      fail(name(), "flow", static_cast<int>(r), "use stork::flow_rule::log_snr or ::sd_cpp");
    return r;
  }

  /// The scale A_i of the coordinates the VE formulas run in (x/A, σ/A): α_i, or 1 for a flow model under
  /// stable-diffusion.cpp's rule.
  double scale(std::size_t i) const noexcept { return unit_alpha_ ? 1.0 : grid_.alpha(i); }

  template <class Ops, class Noise>
  void step(Ops& ops, const S& out, const S& uncond, S& x, Noise& noise) {
    const std::size_t n = walk_.interval();
    const double a0 = scale(n), a1 = scale(n + 1), s0 = grid_.sigma(n), s1 = grid_.sigma(n + 1);
    // The split in VE σ = s/A (σ_n/A_n = +∞ on a flow grid from σ = 1 under ComfyUI's rule).
    const ancestral_step st =
        ancestral_step_ve_from(a0 > 0.0 ? s0 / a0 : std::numeric_limits<double>::infinity(), s1 / a1, eta_);
    // x_{n+1} = A'·D_c + A'·(σ_down/ς_n)·(x/A − D_u) + A'·s_noise·σ_up·z, ς_n = s_n/A_n.
    const double rx = a1 * st.sigma_down / s0, ru = a1 * st.sigma_down * a0 / s0;
    const affine_velocity c = param_.denoise(walk_.t0());  // D = c.state·x + c.output·o
    const std::array<double, 4> coef{a1 * c.state + rx - ru * c.state, a1 * c.output, -ru * c.output,
                                     a1 * s_noise_ * st.sigma_up};
    const bool noisy = noise_.active() && coef[3] > 0.0;
    check_step_weights(name(), span<const double>(coef.data(), noisy ? 4 : 3), n, walk_.t0(), walk_.t1(),
                       stochastic_weights_overflow);
    if (noisy) {
      const S& z = noise_.draw(noise, ops, x, walk_.t0(), walk_.t1());  // before anything changes
      comb<4>(ops, x, coef, {&x, &out, &uncond, &z});
    } else {
      comb<3>(ops, x, {coef[0], coef[1], coef[2]}, {&x, &out, &uncond});
    }
    walk_.next();
  }

  double eta_, s_noise_;
  bool unit_alpha_;
  grid_walk walk_;
  log_snr_grid grid_;
  P param_;
  noise_buffer<S> noise_;
};

}  // namespace detail
}  // namespace stork
