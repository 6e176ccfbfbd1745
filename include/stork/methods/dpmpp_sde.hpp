/// @file
/// @brief `stork::dpmpp_2m_sde`, `stork::dpmpp_2m_sde_bt` and `stork::dpmpp_3m_sde`: DPM-Solver++ multistep
/// for the diffusion SDE (data prediction, steps in the log-SNR λ = log(α/σ)), the noise drawn by the
/// engine; and `stork::flow_rule`, how the SDE samplers treat a rectified-flow model.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>
#include "stork/detail/span.hpp"

#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/history_ring.hpp"
#include "stork/detail/stochastic.hpp"
#include "stork/error.hpp"
#include "stork/methods/dpmpp.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class Method, class S, STORK_CONCEPT(Parameterisation) P>
class dpmpp_sde_stepper;
}

/// @brief How a sampler of stable-diffusion.cpp's menu treats a rectified-flow model (x = (1 − σ)·x₀ + σ·ε)
/// where stable-diffusion.cpp and ComfyUI differ. VE and VP models are not affected.
enum class flow_rule {
  /// ComfyUI's rule for flow (`CONST`) models: the steps run in the flow's own log-SNR
  /// λ = log((1 − σ)/σ) with α = 1 − σ (comfyanonymous/ComfyUI, comfy/k_diffusion/sampling.py,
  /// `sigma_to_half_log_snr`): the VE run of the equivalent model x/α, σ/α. Samples the data distribution.
  log_snr,
  /// stable-diffusion.cpp's: the VE formulas applied to the flow state with λ = −log σ and α = 1
  /// (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp, `sample_dpmpp_2m_sde`,
  /// `sample_dpmpp_2m_sde_bt`, `sample_euler_cfg_pp`, `sample_euler_ancestral_cfg_pp`, which take no
  /// flow flag). With noise (η > 0) this does not sample the data distribution: on a flow Gaussian N(1, ½²)
  /// `dpmpp_2m_sde` ends with mean 1.77 and twice the variance at 1024 steps, where ComfyUI's rule is within
  /// 4e-4 of the variance (`tests/stochastic_test.cpp`); `euler_a_cfg_pp` likewise
  /// (`tests/menu_cfgpp_test.cpp`).
  /// For parity with stable-diffusion.cpp's images only.
  sd_cpp,
};

/// @brief The second-order correction of `dpmpp_2m_sde` (k-diffusion's `solver_type`).
enum class sde_solver {
  midpoint,  ///< ½·ψ₁(h_η)/r·(D_n − D_{n−1}): with η = 0 exactly `stork::dpmpp_2m`
  heun,      ///< ψ₂(h_η)/h_η/r·(D_n − D_{n−1}), ψ₂(h) = h − 1 + e^{−h}
};

/// @brief DPM-Solver++(2M) SDE: k-diffusion's `sample_dpmpp_2m_sde` (crowsonkb/k-diffusion,
/// k_diffusion/sampling.py; stable-diffusion.cpp's `sample_dpmpp_2m_sde`, src/runtime/denoiser.hpp, is its
/// midpoint form), the multistep data-prediction solver of the diffusion SDE (Lu et al. 2022,
/// "DPM-Solver++", arXiv 2211.01095, §4 and App. B) with the noise of the variance-preserving noise
/// injection that k-diffusion parameterises by η. Stochastic: the engine supplies the noise.
///
/// With h = λ_{n+1} − λ_n, h_η = (1 + η)·h, r = (λ_n − λ_{n−1})/h and D_n the data prediction at t_n:
/// x_{n+1} = (σ_{n+1}/σ_n)·e^{−ηh}·x_n + α_{n+1}[ψ₁(h_η)·D_n + c·(D_n − D_{n−1})/r]
///           + s_noise·σ_{n+1}·√(1 − e^{−2ηh})·z,
/// ψ₁(h) = 1 − e^{−h}, c = ψ₁(h_η)/2 (midpoint) or ψ₂(h_η)/h_η (heun), z ~ N(0, I) from the engine. In VE
/// (α = 1, λ = −log σ) this is k-diffusion's and stable-diffusion.cpp's update term for term; VP processes
/// run it in their own coordinates (λ is the same in every one: a VP model sampled this way is the VE run of
/// the equivalent model, x_VE = x/α). Rectified flow follows `.flow`: by default ComfyUI's rule
/// (`flow_rule::log_snr`, the same formula in the flow's own α = 1 − σ and λ: the VE run of the equivalent
/// model, sampling the data distribution); `flow_rule::sd_cpp` is stable-diffusion.cpp's VE formula on the
/// flow σ, which with η > 0 does not (see `flow_rule`). The first step (no history) is first order; so is
/// the last when the grid
/// does not end at data (as `dpmpp_2m`); the interval ending at σ = 0 is x = D_n, with no noise. η = 0
/// adds no noise and is then `stork::dpmpp_2m` (midpoint: bit for bit). Not convergent to the ODE solution,
/// only to the same distribution: weak order 2 (on a Gaussian the output variance error ÷ 4 per doubling of
/// the steps, both solvers, `tests/stochastic_test.cpp`).
///
/// The noise source is called once per interval that adds noise (η·s_noise > 0, not the interval ending at
/// σ = 0), in grid order, with the interval [t_n, t_{n+1}] when it takes one, before anything changes (a
/// bad draw leaves x and the scheduler as they were); with η = 0 it is never called. The grid's σ/α must
/// decrease strictly (λ increase).
/// @par Cost: 1 model call per step; two passes over memory per step (x̂₀, then the update with the draw);
/// 2 temporaries (the stored data predictions) and 1 for the draw when η·s_noise > 0.
struct dpmpp_2m_sde {
  /// Noise per step: 0 deterministic (`dpmpp_2m`), 1 the SDE of k-diffusion's default; finite, >= 0.
  double eta = 1.0;
  /// The second-order correction: `sde_solver::midpoint` (k-diffusion's default) or `sde_solver::heun`.
  sde_solver solver = sde_solver::midpoint;
  /// Scale of each draw (k-diffusion's `s_noise`); finite, >= 0.
  double s_noise = 1.0;
  /// Rectified flow: `flow_rule::log_snr` (ComfyUI's, the default) or `flow_rule::sd_cpp`.
  flow_rule flow = flow_rule::log_snr;
  static constexpr bool stochastic = true;
  static constexpr int order = 2;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::dpmpp_sde_stepper<dpmpp_2m_sde, S, P>;
};

/// @brief DPM-Solver++(2M) SDE with Brownian-tree noise: stable-diffusion.cpp's `sample_dpmpp_2m_sde_bt`
/// ("dpm++2m_sde_bt"; leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp), k-diffusion's
/// `sample_dpmpp_2m_sde` with its default `BrownianTreeNoiseSampler` (ComfyUI's `dpmpp_2m_sde_gpu`).
///
/// The steps are `dpmpp_2m_sde{.solver = sde_solver::midpoint}`'s, term for term; what makes it "_bt" is the
/// noise: pass `stork::brownian_tree_noise` (or any source callable as `noise(out, sigma_from, sigma_to)`),
/// which the method hands the grid interval [t_n, t_{n+1}] of every draw, so the draws depend on the
/// interval, not on the step count: the same seed gives the same Brownian path on any grid. A source
/// without the interval is called as `noise(out)` (independent draws: then this is `dpmpp_2m_sde`).
/// stable-diffusion.cpp builds its tree over [the grid's smallest σ > 0, its largest σ] from a seed made of
/// two draws of its sampler RNG: `brownian_tree_noise(x, sigmas, brownian_tree_noise::seed_from_draws(a,
/// b))`.
/// @par Cost: as `dpmpp_2m_sde`; the tree's own cost is `brownian_tree_noise`'s.
struct dpmpp_2m_sde_bt {
  /// Noise per step: 0 deterministic (`dpmpp_2m`), 1 stable-diffusion.cpp's default; finite, >= 0.
  double eta = 1.0;
  /// Scale of each draw (k-diffusion's `s_noise`; stable-diffusion.cpp has none); finite, >= 0.
  double s_noise = 1.0;
  /// Rectified flow: `flow_rule::log_snr` (ComfyUI's, the default) or `flow_rule::sd_cpp`.
  flow_rule flow = flow_rule::log_snr;
  static constexpr bool stochastic = true;
  static constexpr int order = 2;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::dpmpp_sde_stepper<dpmpp_2m_sde_bt, S, P>;
};

/// @brief DPM-Solver++(3M) SDE: k-diffusion's `sample_dpmpp_3m_sde` (crowsonkb/k-diffusion,
/// k_diffusion/sampling.py): the third-order multistep data-prediction solver (Lu et al. 2022, arXiv
/// 2206.00927 multistep DPM-Solver-3 in the form of arXiv 2211.01095) on the SDE with η-scaled noise.
///
/// With h, h_η = (1 + η)h, r₀ = h₁/h, r₁ = h₂/h (the previous steps in λ), D1₀ = (D_n − D_{n−1})/r₀,
/// D1₁ = (D_{n−1} − D_{n−2})/r₁, D1 = D1₀ + r₀/(r₀ + r₁)·(D1₀ − D1₁), D2 = (D1₀ − D1₁)/(r₀ + r₁), φ₂ =
/// ψ₂(h_η)/h_η, φ₃ = ψ₃(h_η)/h_η²:
/// x_{n+1} = (σ_{n+1}/σ_n)e^{−ηh}·x_n + α_{n+1}[ψ₁(h_η)·D_n + φ₂·D1 + φ₃·D2]
///           + s_noise·σ_{n+1}·√(1 − e^{−2ηh})·z.
/// Orders 1, 2 (D1 = D1₀, D2 = 0: the heun form of `dpmpp_2m_sde`), then 3 on every interval but the one
/// ending at σ = 0, which is x = D_n with no noise (k-diffusion's schedule: no lower order at the end).
/// φ₃ is k-diffusion's weight, the published one that `dpmpp_3m{.diffusers_parity = true}` uses (half the
/// exact weight of D2 ≈ h²/2·D″; see `dpmpp_3m`). Weak order 2 measured on a Gaussian with η = 1 (the
/// noise, not the extrapolation, limits it); better than the 2M SDE from about 15 steps. η = 0
/// adds no noise (a deterministic third-order multistep method, not `dpmpp_3m`: its second step is the heun
/// form). Rectified flow runs ComfyUI's rule (its `sample_dpmpp_3m_sde` for `CONST` models, the only
/// definition for flow: stable-diffusion.cpp has no 3M SDE): the formula in the flow's own α = 1 − σ and λ,
/// the VE run of the equivalent model. A flow grid may start at σ = 1 (λ = −∞: the limit of the formula;
/// ComfyUI moves σ₀ = 1 to its model's σ at percent 1e-4 instead). Noise contract and grid as
/// `dpmpp_2m_sde`.
/// @par Cost: 1 model call per step; two passes over memory per step; 3 temporaries (stored data
/// predictions) and 1 for the draw when η·s_noise > 0.
struct dpmpp_3m_sde {
  /// Noise per step: 0 deterministic, 1 k-diffusion's default; finite, >= 0.
  double eta = 1.0;
  /// Scale of each draw (k-diffusion's `s_noise`); finite, >= 0.
  double s_noise = 1.0;
  static constexpr bool stochastic = true;
  static constexpr int order = 3;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::dpmpp_sde_stepper<dpmpp_3m_sde, S, P>;
};

namespace detail {

/// Weights w of one DPM-Solver++ SDE update x_t = (σ_t/σ_s)e^{−ηh}x_s + α_t·Σ_j w_j·D_{s−j} + noise, for
/// λ = {λ_s, λ_{s−1}, λ_{s−2}} (entries beyond `order − 1` unused) and target λ_t. The deterministic part
/// is the exponential integrator of the data prediction with every λ scaled by `scale` = 1 + η
/// (h_η = (1 + η)h; the ratios r are unchanged), so `dpmpp_weights` on the scaled λ give the first-order,
/// midpoint second-order and (published D2 weight) third-order updates; `heun` changes the second-order one
/// to ψ₁(h_η)·D_s + ψ₂(h_η)/h_η·(D_s − D_{s−1})/r. With scale = 1 the midpoint weights are `dpmpp_weights`'.
inline std::array<double, 3> dpmpp_sde_weights(int order, bool heun, double scale, double lambda_t,
                                               const std::array<double, 3>& lambda) {
  const std::array<double, 3> l{scale * lambda[0], scale * lambda[1], scale * lambda[2]};
  const double lt = scale * lambda_t;
  if (order == 2 && heun) {
    const double h = lt - l[0], r0 = (l[0] - l[1]) / h, p2 = psi(2, h) / h;
    return {psi(1, h) + p2 / r0, -p2 / r0, 0.0};
  }
  return dpmpp_weights(order, lt, l, /*parity=*/true);
}

/// A rectified-flow parameterisation read in stable-diffusion.cpp's σ space: α = 1, σ = the flow σ, λ =
/// −log σ (`flow_rule::sd_cpp`); the model output and its x̂₀ are the flow model's.
template <class P>
struct sigma_space : P {
  double alpha(double) const noexcept { return 1.0; }
};

template <class Method, class S, STORK_CONCEPT(Parameterisation) P>
class dpmpp_sde_stepper {
  static_assert(
      is_data_prediction_v<P>,
      "stork: the DPM-Solver++ SDE samplers need a parameterisation with alpha(t), sigma(t) and denoise(t): "
      "use stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) with "
      "integrate); a plain velocity field is read as rectified flow");
  static constexpr bool two_m = Method::order == 2;

 public:
  template <class Ops>
  dpmpp_sde_stepper(const Method& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : eta_(checked_eta(name(), m.eta)),
        s_noise_(checked_s_noise(name(), m.s_noise)),
        heun_(heun_of(m)),
        walk_(times, name()),
        grid_(make_grid(m, times, p)),
        param_(p),
        ring_(static_cast<std::size_t>(Method::order), x, ops),
        noise_(eta_ * s_noise_ > 0.0, x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }
  /// Where the engine may write the next model output (zero-copy): the ring entry it becomes.
  S& output_slot() noexcept { return ring_.next(); }

  /// Draws the noise (if this interval adds any), stores x̂₀ of the model output at (x, t_n), then moves x
  /// to t_{n+1} in one fused pass.
  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, S& x, Noise& noise) {
    const std::size_t n = walk_.interval();
    const bool to_data = n + 1 == walk_.intervals() && grid_.ends_at_data();
    // 2M: first order on the last interval (as dpmpp_2m); 3M: k-diffusion's orders 1, 2, 3, 3, ….
    const int k = multistep_order(Method::order, /*lower_order_final=*/two_m, n, walk_.intervals(), grid_);
    std::array<double, 5> coef{};  // x, D_n, D_{n−1}, D_{n−2}, then the draw
    const std::size_t terms = static_cast<std::size_t>(k) + 1;
    bool noisy = false;
    if (!to_data) {
      std::array<double, 3> lam{grid_.lambda(n), 0.0, 0.0};
      for (std::size_t j = 1; j < static_cast<std::size_t>(k); ++j) lam[j] = grid_.lambda(n - j);
      const double h = grid_.lambda(n + 1) - grid_.lambda(n);  // +∞ from σ = 1 on a flow grid
      const std::array<double, 3> w = dpmpp_sde_weights(k, heun_, 1.0 + eta_, grid_.lambda(n + 1), lam);
      const double at = grid_.alpha(n + 1), ratio = grid_.sigma(n + 1) / grid_.sigma(n);
      coef = {eta_ == 0.0 ? ratio : ratio * std::exp(-eta_ * h), at * w[0], at * w[1], at * w[2], 0.0};
      noisy = noise_.active();
      if (noisy) coef[terms] = s_noise_ * grid_.sigma(n + 1) * std::sqrt(-std::expm1(-2.0 * eta_ * h));
      check_step_weights(name(), span<const double>(coef.data(), terms + (noisy ? 1 : 0)), n, walk_.t0(),
                         walk_.t1(), stochastic_weights_overflow);
    }
    const S* z = noisy ? &noise_.draw(noise, ops, x, walk_.t0(), walk_.t1()) : nullptr;  // before any change
    const affine_velocity c = param_.denoise(walk_.t0());
    S& d = ring_.next();
    comb<2>(ops, d, {c.state, c.output}, {&x, &out});
    ring_.push(walk_.t0());
    if (to_data) {
      copy(ops, x, d);  // σ = 0: x = D_n, no noise
    } else if (!noisy) {
      const std::array<double, 4> c4{coef[0], coef[1], coef[2], coef[3]};
      combine_with_history(ops, x, x, c4, ring_, static_cast<std::size_t>(k));  // dpmpp_2m's very call
    } else {
      std::array<const S*, 5> xs{};
      xs[0] = &x;
      for (std::size_t j = 0; j < static_cast<std::size_t>(k); ++j) xs[j + 1] = &ring_.back(j);
      xs[terms] = z;
      comb_n<5>(ops, x, coef, xs, terms + 1);
    }
    walk_.next();
  }

 private:
  static const char* name() noexcept {
    if constexpr (std::is_same_v<Method, dpmpp_2m_sde_bt>)
      return "dpmpp_2m_sde_bt";
    else
      return two_m ? "dpmpp_2m_sde" : "dpmpp_3m_sde";
  }
  /// The grid in log-SNR: the process's own, or stable-diffusion.cpp's σ space for a flow model with
  /// `flow_rule::sd_cpp`.
  static log_snr_grid make_grid(const Method& m, span<const double> times, const P& p) {
    if constexpr (two_m) {
      if (m.flow != flow_rule::log_snr && m.flow != flow_rule::sd_cpp)
        fail(name(), "flow", static_cast<int>(m.flow), "use stork::flow_rule::log_snr or ::sd_cpp");
      if constexpr (is_flow<P>())
        if (m.flow == flow_rule::sd_cpp) return log_snr_grid(times, sigma_space<P>{p}, name());
    }
    return log_snr_grid(times, p, name());
  }
  static bool heun_of(const Method& m) {
    if constexpr (std::is_same_v<Method, dpmpp_2m_sde_bt>) {
      return false;  // stable-diffusion.cpp's midpoint form
    } else if constexpr (two_m) {
      if (m.solver != sde_solver::midpoint && m.solver != sde_solver::heun)
        fail(name(), "solver", static_cast<int>(m.solver), "use stork::sde_solver::midpoint or ::heun");
      return m.solver == sde_solver::heun;
    } else {
      return true;  // k-diffusion's 3M SDE: its second-order warm-up step is the heun form
    }
  }

  double eta_, s_noise_;
  bool heun_;
  grid_walk walk_;
  log_snr_grid grid_;
  P param_;
  history_ring<S> ring_;
  noise_buffer<S> noise_;
};

}  // namespace detail
}  // namespace stork
