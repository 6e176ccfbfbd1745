/// @file
/// @brief `stork::res_multistep`, `stork::res_multistep_ancestral` and `stork::dpmpp_2m_v2`: the
/// second-order multistep samplers of stable-diffusion.cpp that step in k-diffusion's σ space (t = −log σ),
/// flow models included the way stable-diffusion.cpp runs them.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include "stork/detail/arguments.hpp"
#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/history_ring.hpp"
#include "stork/detail/sigma_space.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/stochastic.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class Method, class S, class P>
class sigma_multistep_stepper;
}

/// @brief RES multistep: stable-diffusion.cpp's `sample_res_multistep` with eta = 0, its default
/// (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp; ComfyUI's `sample_res_multistep`,
/// comfy/k_diffusion/sampling.py): the second-order multistep exponential integrator of Zhang, Tao & Chen's
/// "RES" (arXiv 2308.02157) on the data prediction D, in k-diffusion's σ space.
///
/// With t = −log σ, h = t_{n+1} − t_n, h₋ = t_n − t_{n−1} and D_n the data prediction at σ_n:
/// x_{n+1} = e^{−h}·x_n + h·[(φ₁(−h) + φ₂(−h)·h/h₋)·D_n − φ₂(−h)·h/h₋·D_{n−1}],
/// φ₁(z) = (e^z − 1)/z, φ₂(z) = (φ₁(z) − 1)/z: the exact integral of dx/dσ = (x − D)/σ for D linear in t
/// through the last two outputs. The first step, and the one to σ = 0, are Euler steps in σ (the latter:
/// x = D). Flow models (`stork::rectified_flow`, a plain velocity field) run as stable-diffusion.cpp runs
/// them: the flow's own x and σ, the velocity wrapped as the denoiser D = x − σ·v (the same ODE,
/// dx/dσ = (x − D)/σ); VE runs in σ, and a VP model in the VE coordinates x/α at σ/α (k-diffusion's
/// CompVisDenoiser), written as one update of x. A weight that is not finite throws stork::error
/// (stable-diffusion.cpp sets it to 0). Order 2.
/// @par Cost: 1 model call per step; two passes over memory per step (x̂₀, then the update);
/// 2 temporaries (the stored data predictions).
struct res_multistep {
  template <class S, class P, class Ops>
  using stepper = detail::sigma_multistep_stepper<res_multistep, S, P>;
};

/// @brief RES multistep with ancestral noise: stable-diffusion.cpp's `sample_res_multistep` with eta > 0
/// (`--eta`; ComfyUI's `sample_res_multistep_ancestral`). Stochastic: the engine supplies the noise.
///
/// Each step goes, by the rule of `res_multistep`, from σ_n to σ_down instead of σ_{n+1}, then adds noise:
/// VE (and VP in VE coordinates) by k-diffusion's `get_ancestral_step`, σ_up = min(σ_{n+1}, η·√(σ²_{n+1}
/// (σ²_n − σ²_{n+1})/σ²_n)), σ_down = √(σ²_{n+1} − σ²_up), x ← x + s_noise·σ_up·z; rectified flow by
/// stable-diffusion.cpp's `get_ancestral_step_flow` (ComfyUI's `sample_euler_ancestral_RF`): η capped at 1,
/// σ_down = σ_{n+1}(1 + (σ_{n+1}/σ_n − 1)η), x ← x·(1 − σ_{n+1})/(1 − σ_down) + s_noise·σ_up·z with
/// σ_up = σ_{n+1}·√(1 − (σ_down(1 − σ_{n+1})/(σ_{n+1}(1 − σ_down)))²). The previous-step length h₋ of the
/// second-order weight is t_{n−1} − t(σ_down of the previous step), as both engines write it. z ~ N(0, I)
/// from the engine, drawn once per interval that adds noise (σ_{n+1} > 0 and σ_up > 0, as
/// stable-diffusion.cpp draws; never with η·s_noise = 0), in grid order, before anything changes. η = 0 is
/// `res_multistep` bit for bit. `s_noise` is ComfyUI's (stable-diffusion.cpp has none: 1).
/// @par Cost: 1 model call per step; two passes over memory per step (x̂₀, then the update with the draw);
/// 2 temporaries (the stored data predictions) and 1 for the draw when η·s_noise > 0.
struct res_multistep_ancestral {
  /// Noise per step: 0 deterministic (`res_multistep`), 1 full ancestral noise; finite, >= 0 (a flow caps it
  /// at 1, as stable-diffusion.cpp does).
  double eta = 1.0;
  /// Scale of each draw (ComfyUI's `s_noise`; σ_down does not change with it); finite, >= 0.
  double s_noise = 1.0;
  static constexpr bool stochastic = true;
  template <class S, class P, class Ops>
  using stepper = detail::sigma_multistep_stepper<res_multistep_ancestral, S, P>;
};

/// @brief DPM++ 2M v2: stable-diffusion.cpp's `sample_dpmpp_2m_v2` (`dpm++2mv2`; leejet/stable-diffusion.cpp,
/// src/runtime/denoiser.hpp), a variant of DPM-Solver++(2M) in k-diffusion's σ space (t = −log σ).
///
/// Where `sample_dpmpp_2m` takes x_{n+1} = (σ_{n+1}/σ_n)·x_n + (1 − e^{−h})·[(1 + 1/(2r))·D_n − D_{n−1}/(2r)]
/// with r = h₋/h, v2 uses r = max(h, h₋)/min(h, h₋) ≥ 1 and the weight 1 − e^{−h_d} of the mean step
/// h_d = (h + h₋)/2, keeping σ_{n+1}/σ_n on x: the weights sum to 1 only on uniform steps in t (a heuristic
/// of that code, reproduced as written). The first step and the one to σ = 0 are first order (the latter: x =
/// D). Flow, VE and VP models run in σ space as `res_multistep` describes (stable-diffusion.cpp's flow
/// handling: the velocity wrapped as D = x − σ·v) — unlike `stork::dpmpp_2m`, which steps in the process's
/// own log-SNR.
/// @par Cost: 1 model call per step; two passes over memory per step (x̂₀, then the update);
/// 2 temporaries (the stored data predictions).
struct dpmpp_2m_v2 {
  template <class S, class P, class Ops>
  using stepper = detail::sigma_multistep_stepper<dpmpp_2m_v2, S, P>;
};

namespace detail {

template <class Method, class S, class P>
class sigma_multistep_stepper {
  static_assert(
      is_data_prediction_v<P>,
      "stork: res_multistep and dpmpp_2m_v2 need a parameterisation with alpha(t), sigma(t) and denoise(t): "
      "use stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) with "
      "integrate); a plain velocity field is read as rectified flow");
  static constexpr bool res = !std::is_same_v<Method, dpmpp_2m_v2>;
  static constexpr bool ancestral = std::is_same_v<Method, res_multistep_ancestral>;

 public:
  template <class Ops>
  sigma_multistep_stepper(const Method& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : eta_(ancestral_eta(m)),
        s_noise_(ancestral_s_noise(m)),
        walk_(times, name()),
        grid_(times, p, name()),
        param_(p),
        ring_(2, x, ops),
        noise_(eta_ * s_noise_ > 0.0, x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }
  /// Where the engine may write the next model output (zero-copy): the ring entry it becomes.
  S& output_slot() noexcept { return ring_.next(); }

  /// Stores x̂₀ of the model output at (x, t_n), then moves x to t_{n+1}.
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    static_assert(!ancestral, "stork: res_multistep_ancestral needs a noise source");
    move(ops, out, x, static_cast<no_noise*>(nullptr));
  }
  /// The same, with the engine's noise source (res_multistep_ancestral).
  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, S& x, Noise& noise) {
    move(ops, out, x, &noise);
  }

 private:
  static constexpr std::string_view name() noexcept {
    return std::is_same_v<Method, dpmpp_2m_v2> ? "dpmpp_2m_v2"
                                               : (ancestral ? "res_multistep_ancestral" : "res_multistep");
  }
  static double ancestral_eta(const Method& m) {
    if constexpr (ancestral)
      return checked_eta(name(), m.eta);
    else
      return 0.0;
  }
  static double ancestral_s_noise(const Method& m) {
    if constexpr (ancestral)
      return checked_s_noise(name(), m.s_noise);
    else
      return 1.0;
  }

  template <class Ops, class Noise>
  void move(Ops& ops, const S& out, S& x, Noise* noise) {
    const std::size_t n = walk_.interval();
    const double s0 = grid_.sigma(n), s1 = grid_.sigma(n + 1), l0 = grid_.lambda(n);
    const bool first = n == 0;
    // The step in the sampler's coordinates x_k = x/a: x_k ← scale·(cx·x_k + cd·D_n + cold·D_{n−1}) + up·z.
    ancestral_step split{s1, 0.0, 1.0};
    if (eta_ > 0.0)
      split = grid_.flow() ? ancestral_step_flow(s0, s1, eta_) : ancestral_step_ve(s0, s1, eta_);
    double cx = 0.0, cd = 1.0, cold = 0.0, l_down = 0.0;
    if constexpr (res) {
      l_down = -std::log(split.sigma_down);
      if (split.sigma_down == 0.0 || first) {  // Euler in σ: x + (σ_down − σ)(x − D)/σ
        cx = split.sigma_down / s0, cd = -std::expm1(l0 - l_down);
      } else {  // h·b2 = φ₂(−h)·h/c₂ = ψ₂(h)/(t_{n−1} − t_old), h·b1 = ψ₁(h) − h·b2
        const double h = l_down - l0;
        cold = psi(2, h) / (grid_.lambda(n - 1) - lambda_down_old_);
        cx = split.sigma_down / s0, cd = psi(1, h) - cold;
      }
    } else {
      const double h = grid_.lambda(n + 1) - l0;
      cx = s1 / s0;
      if (first || s1 == 0.0) {
        cd = psi(1, h);  // 1 − e^{−h}: 1 at σ = 0
      } else {
        const double h_last = l0 - grid_.lambda(n - 1);
        const double h_min = std::min(h_last, h), h_max = std::max(h_last, h);
        const double r = h_max / h_min, p1 = psi(1, 0.5 * (h_max + h_min));
        cd = p1 * (1.0 + 0.5 / r), cold = -p1 * 0.5 / r;
      }
    }
    const double a1 = grid_.scale(n + 1), k = a1 * split.alpha_ratio;
    const bool noisy = noise_.active() && s1 > 0.0 && split.sigma_up > 0.0;
    const std::array<double, 4> coef{k * cx / grid_.scale(n), k * cd, k * cold,
                                     a1 * split.sigma_up * s_noise_};
    check_step_weights(name(), span<const double>(coef.data(), noisy ? 4 : 3), n, walk_.t0(), walk_.t1(),
                       res ? "the grid's steps in t = -log(sigma) are too unequal or too small"
                           : "the grid's steps in t = -log(sigma) are too unequal");
    const S* z = nullptr;
    if constexpr (!std::is_same_v<Noise, no_noise>)
      if (noisy) z = &noise_.draw(*noise, ops, x, walk_.t0(), walk_.t1());  // before anything changes
    const affine_velocity c = param_.denoise(walk_.t0());
    S& d = ring_.next();
    comb<2>(ops, d, {c.state, c.output}, {&x, &out});
    ring_.push(walk_.t0());
    if (cold != 0.0) {
      if (z)
        comb<4>(ops, x, coef, {&x, &ring_.back(0), &ring_.back(1), z});
      else
        comb<3>(ops, x, {coef[0], coef[1], coef[2]}, {&x, &ring_.back(0), &ring_.back(1)});
    } else if (z) {
      comb<3>(ops, x, {coef[0], coef[1], coef[3]}, {&x, &ring_.back(0), z});
    } else {
      comb<2>(ops, x, {coef[0], coef[1]}, {&x, &ring_.back(0)});
    }
    lambda_down_old_ = l_down;  // t(σ_down) of this step: res_multistep's t_old on the next
    walk_.next();
  }

  double eta_, s_noise_;
  grid_walk walk_;
  sigma_space_grid grid_;
  P param_;
  history_ring<S> ring_;
  noise_buffer<S> noise_;
  double lambda_down_old_ = 0.0;
};

}  // namespace detail
}  // namespace stork
