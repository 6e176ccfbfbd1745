/// @file
/// @brief `stork::ddim_trailing`: stable-diffusion.cpp's `ddim_trailing` sampler (its Euler ancestral step
/// with sd.cpp's VE and flow noise rules), the noise drawn by the engine.
#pragma once

#include <array>
#include <cstddef>

#include "stork/detail/ancestral_step.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/menu_rule.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/stochastic.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, class P>
class ddim_trailing_stepper;
}

/// @brief DDIM ("trailing"): stable-diffusion.cpp's `ddim_trailing`, which is its `sample_euler_ancestral`
/// (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp, with `get_ancestral_step` /
/// `get_ancestral_step_flow`; sd.cpp: "DDIM is equivalent to Euler Ancestral with the Simple scheduler").
/// The trailing timesteps are the grid's: sd.cpp's default grid for it is its "simple" scheduler. Stochastic:
/// the engine supplies the noise.
///
/// With D the data prediction at (x_n, σ_n) and, in the rule's σ (see below), r = σ_down/σ_n:
/// - the interval ending at σ = 0: x = D, no noise;
/// - η = 0: x_{n+1} = (σ_{n+1}/σ_n)·x_n + (1 − σ_{n+1}/σ_n)·D (DDIM, Euler in σ), no noise;
/// - VE rule (`ve`, and every process but `rectified_flow`, in the VE coordinates x/α, σ/α):
///   σ_up = min(σ_{n+1}, η·√(σ²_{n+1}(σ²_n − σ²_{n+1})/σ²_n)), σ_down = √(σ²_{n+1} − σ²_up),
///   x_{n+1} = r·x_n + (1 − r)·D + s_noise·σ_up·z;
/// - flow rule (`rectified_flow`, σ = t as it is): η capped at 1, σ_down = σ_{n+1}(1 + (σ_{n+1}/σ_n − 1)η),
///   a = (1 − σ_{n+1})/(1 − σ_down), σ_up = σ_{n+1}·√(1 − (a·σ_down/σ_{n+1})²),
///   x_{n+1} = a·(r·x_n + (1 − r)·D) + s_noise·σ_up·z (signal weight 1 − σ_{n+1}, noise variance σ²_{n+1}).
/// z ~ N(0, I) from the engine. With the VE rule this is `stork::euler_ancestral`'s step (η > 1 allowed,
/// σ_up capped at σ_{n+1}); with the flow rule it differs from it (which keeps the VE rule in x/α for flow).
/// sd.cpp's default η for `ddim_trailing` is 0 (no noise: deterministic DDIM), here too.
///
/// The noise source is called once per interval that adds noise (η·s_noise > 0, σ_{n+1} > 0), in grid
/// order, before anything changes; with η = 0 it is never called. The grid's σ/α must decrease strictly.
/// `s_noise` is not in sd.cpp (1 there): k-diffusion's scale of each draw.
/// @par Cost: 1 model call per step; one pass over memory per step (x̂₀ folded into the update) plus the
/// draw; 1 temporary (the draw) when η·s_noise > 0.
struct ddim_trailing {
  /// Noise per step: 0 deterministic DDIM (sd.cpp's default for ddim_trailing), 1 ancestral; finite, >= 0
  /// (flow: values above 1 act as 1).
  double eta = 0.0;
  /// Scale of each draw (not in sd.cpp); finite, >= 0.
  double s_noise = 1.0;
  static constexpr bool stochastic = true;
  template <class S, class P, class Ops>
  using stepper = detail::ddim_trailing_stepper<S, P>;
};

namespace detail {

template <class S, class P>
class ddim_trailing_stepper {
  static_assert(is_data_prediction_v<P>,
                "stork: ddim_trailing needs a parameterisation with alpha(t), sigma(t) and denoise(t): use "
                "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) "
                "with integrate); a plain velocity field is read as rectified flow");
  static constexpr bool flow = sd_flow_rule_v<P>;

 public:
  template <class Ops>
  ddim_trailing_stepper(const ddim_trailing& m, stork::span<const double> times, const S& x, const P& p,
                        Ops& ops)
      : eta_(checked_eta(name, m.eta)),
        s_noise_(checked_s_noise(name, m.s_noise)),
        walk_(times, name),
        grid_(times, p, name, flow),
        param_(p),
        noise_(eta_ * s_noise_ > 0.0, x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }

  /// Moves x from t_n to t_{n+1}: the deterministic part and the draw in one fused pass.
  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, S& x, Noise& noise) {
    const std::size_t n = walk_.interval();
    const affine_velocity c = param_.denoise(walk_.t0());  // D = c.state·x + c.output·out
    const double s0 = grid_.sigma(n), s1 = grid_.sigma(n + 1);
    const double a = grid_.scale(n), b = grid_.scale(n + 1);  // x = scale·x_rule
    double cx = 0.0, cd = b, cz = 0.0;                        // x_{n+1} = cx·x + cd·D + cz·z
    bool noisy = false;
    if (s1 != 0.0) {
      const ancestral_step st = eta_ == 0.0 ? ancestral_step{s1, 0.0, 1.0}
                                : flow      ? ancestral_step_flow(s0, s1, eta_)
                                            : ancestral_step_ve(s0, s1, eta_);
      const double r = st.sigma_down / s0;
      const double k = st.sigma_up > 0.0 ? st.alpha_ratio : 1.0;  // sd.cpp scales x only when it adds noise
      cx = b * k * r / a, cd = b * k * (1.0 - r);
      noisy = st.sigma_up > 0.0 && noise_.active();
      if (noisy) cz = b * s_noise_ * st.sigma_up;
    }
    const std::array<double, 3> coef{cx + cd * c.state, cd * c.output, cz};
    check_step_weights(name, coef, n, walk_.t0(), walk_.t1(), stochastic_weights_overflow);
    if (noisy) {
      const S& z = noise_.draw(noise, ops, x, walk_.t0(), walk_.t1());  // before anything changes
      comb<3>(ops, x, coef, {&x, &out, &z});
    } else {
      comb<2>(ops, x, {coef[0], coef[1]}, {&x, &out});
    }
    walk_.next();
  }

 private:
  static constexpr const char* name = "ddim_trailing";

  double eta_, s_noise_;
  grid_walk walk_;
  rule_grid grid_;
  P param_;
  noise_buffer<S> noise_;
};

}  // namespace detail
}  // namespace stork
