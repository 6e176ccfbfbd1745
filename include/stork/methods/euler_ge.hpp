/// @file
/// @brief `stork::euler_ge`: Euler with gradient estimation (Permenter & Yuan, "Interpreting and Improving
/// Diffusion Models from an Optimization Perspective", ICML 2024), stable-diffusion.cpp's "euler_ge".
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

#include "stork/detail/ancestral_step.hpp"
#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/stochastic.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, class P>
class euler_ge_stepper;
}

/// @brief Gradient estimation ("euler_ge"): stable-diffusion.cpp's `sample_gradient_estimation`
/// (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp; ToyotaResearchInstitute/
/// gradient-estimation-sampler), which is ComfyUI's `sample_gradient_estimation` (comfyanonymous/ComfyUI,
/// comfy/k_diffusion/sampling.py) with an ancestral η on top. Stochastic when η > 0: the engine supplies the
/// noise (a source is always passed; with η = 0, stable-diffusion.cpp's default, it is never called).
///
/// In VE (x = x₀ + σ·ε), with d_n = (x_n − D)/σ_n the Karras derivative at (x_n, σ_n) and (σ_down, σ_up)
/// = `get_ancestral_step(σ_n, σ_{n+1}, η)` (as `stork::euler_ancestral`):
/// x_{n+1} = x_n + (σ_down − σ_n)·(γ·d_n + (1 − γ)·d_{n−1}) + s_noise·σ_up·z, the first step plain Euler
/// (d_n alone); the interval ending at σ = 0 is x = D, with no noise. With η = 0 and γ = 2 this is the
/// paper's sampler: the derivative extrapolated as d_n + (γ − 1)(d_n − d_{n−1}); γ = 1 is `stork::euler`.
/// Rectified flow (`stork::rectified_flow`, a flow `model<>` or a plain velocity field, D = x̂₀ of the
/// output): stable-diffusion.cpp's flow rule, the same step on the flow σ with `get_ancestral_step_flow`
/// (η capped at 1; before the draw x is multiplied by (1 − σ_{n+1})/(1 − σ_down), as
/// `stork::euler_ancestral`); with η = 0 the same arithmetic as VE, which is ComfyUI's. VP processes run
/// the VE steps in the VE coordinates x/α, σ/α. The noise source is called once per interval that adds
/// noise (η·s_noise > 0 and σ_up > 0), in grid order, with the interval [t_n, t_{n+1}] when it takes one,
/// before anything changes. The grid's σ/α must decrease strictly.
/// @par Cost: 1 model call per step; two passes over memory per step (d_n, then the update); 2 temporaries
/// (d_n and d_{n−1}) and 1 for the draw when η·s_noise > 0.
struct euler_ge {
  /// γ, the weight of the current derivative (stable-diffusion.cpp's extra argument "gamma", ComfyUI's
  /// `ge_gamma`; default 2); finite.
  double gamma = 2.0;
  /// Noise per step: 0 deterministic (stable-diffusion.cpp's default for euler_ge, ComfyUI's only form),
  /// 1 ancestral; finite, >= 0.
  double eta = 0.0;
  /// Scale of each draw (stable-diffusion.cpp has none); finite, >= 0.
  double s_noise = 1.0;
  static constexpr bool stochastic = true;
  template <class S, class P, class Ops>
  using stepper = detail::euler_ge_stepper<S, P>;
};

namespace detail {

template <class S, class P>
class euler_ge_stepper {
  static_assert(
      is_data_prediction_v<P>,
      "stork: euler_ge needs a parameterisation with alpha(t), sigma(t) and denoise(t): use "
      "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) with "
      "integrate); a plain velocity field is read as rectified flow");

 public:
  template <class Ops>
  euler_ge_stepper(const euler_ge& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : gamma_(checked_gamma(m.gamma)),
        eta_(checked_eta(name, m.eta)),
        s_noise_(checked_s_noise(name, m.s_noise)),
        walk_(times, name),
        grid_(times, p, name),
        param_(p),
        d_(make_states(ops, 2, x)),
        noise_(eta_ * s_noise_ > 0.0, x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }

  /// Draws the noise (if this interval adds any), forms d_n, then moves x to t_{n+1}.
  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, S& x, Noise& noise) {
    const std::size_t n = walk_.interval();
    const affine_velocity c = param_.denoise(walk_.t0());  // D = c.state·x + c.output·out
    if (n + 1 == walk_.intervals() && grid_.ends_at_data()) {
      comb<2>(ops, x, {c.state, c.output}, {&x, &out});  // x = D, no noise
      walk_.next();
      return;
    }
    // The VE coordinates y = x/A, ς = s/A the steps run in: A = α, or 1 for flow (stable-diffusion.cpp's σ).
    constexpr bool flow = is_flow<P>();
    const double a0 = flow ? 1.0 : grid_.alpha(n), a1 = flow ? 1.0 : grid_.alpha(n + 1);
    const double s0 = grid_.sigma(n), s1 = grid_.sigma(n + 1);
    const ancestral_step st =
        flow ? ancestral_step_flow(s0, s1, eta_) : ancestral_step_ve(s0 / a0, s1 / a1, eta_);
    const double ar = flow && st.sigma_up > 0.0 ? st.alpha_ratio : 1.0;  // sd.cpp rescales only with noise
    const double dt = st.sigma_down - s0 / a0, k = a1 * ar;
    // d_n = (y − D)/ς_n = ((1 − A·c.state)·x − A·c.output·out)/s_n; x' = k·(x/A + dt·(γ·d_n + (1 −
    // γ)·d_{n−1})).
    const std::array<double, 2> cd{(1.0 - a0 * c.state) / s0, -a0 * c.output / s0};
    const double g = has_old_ ? gamma_ : 1.0;
    const std::array<double, 4> coef{k / a0, k * dt * g, k * dt * (1.0 - g), a1 * s_noise_ * st.sigma_up};
    const bool noisy = noise_.active() && coef[3] > 0.0;
    check_step_weights(name, cd, n, walk_.t0(), walk_.t1(), stochastic_weights_overflow);
    check_step_weights(name, coef, n, walk_.t0(), walk_.t1(), stochastic_weights_overflow);
    const S* z = noisy ? &noise_.draw(noise, ops, x, walk_.t0(), walk_.t1()) : nullptr;  // before any change
    S& d = d_[cur_];
    const S& old = d_[1 - cur_];
    comb<2>(ops, d, cd, {&x, &out});
    const std::size_t terms = (has_old_ ? 3 : 2) + (noisy ? 1 : 0);
    std::array<double, 4> w{coef[0], coef[1], coef[2], coef[3]};
    std::array<const S*, 4> xs{&x, &d, &old, z};
    if (!has_old_) w[2] = coef[3], xs[2] = z;  // the first step has no d_{n−1}
    comb_n<4>(ops, x, w, xs, terms);
    cur_ = 1 - cur_;
    has_old_ = true;
    walk_.next();
  }

 private:
  static constexpr const char* name = "euler_ge";
  static double checked_gamma(double gamma) {
    if (!std::isfinite(gamma))
      fail(name, "gamma", gamma,
           "gamma weighs the current derivative against the previous one: it must be finite");
    return gamma;
  }

  double gamma_, eta_, s_noise_;
  grid_walk walk_;
  log_snr_grid grid_;
  P param_;
  std::vector<S> d_;  // d_n and d_{n−1}, alternating
  std::size_t cur_ = 0;
  bool has_old_ = false;
  noise_buffer<S> noise_;
};

}  // namespace detail
}  // namespace stork
