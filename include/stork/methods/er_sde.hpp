/// @file
/// @brief `stork::er_sde`: the Extended Reverse-time SDE solver (ER-SDE-Solver-3) of stable-diffusion.cpp,
/// the noise drawn by the engine.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/menu_rule.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/stochastic.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, class P>
class er_sde_stepper;
}

/// @brief ER-SDE-Solver-3 (Cui et al. 2023, "Elucidating the solution space of extended reverse-time SDEs
/// for diffusion models", arXiv 2309.06169): stable-diffusion.cpp's `sample_er_sde`
/// (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp; after ComfyUI's `sample_er_sde`), a third-order
/// multistep solver of the reverse SDE with the noise scale function s(λ) = λ·(e^{λ^0.3} + 10).
/// Stochastic: the engine supplies the noise.
///
/// Per grid point a λ and an α: VE rule (`ve`, and every process but `rectified_flow`, in the VE
/// coordinates x/α): λ = max(σ/α, 1e-6) and the factor α (1 for `ve`); flow rule (`rectified_flow`, as sd.cpp
/// does for flow denoisers): σ clamped to [1e-6, 1 − 1e-4], λ = σ/(1 − σ), α = 1 − σ — the same rule with
/// sd.cpp's clamps (a grid may start at σ = 1). With D_n the data prediction, r = s(λ_{n+1})/s(λ_n):
/// x_{n+1} = (α_{n+1}/α_n)·r·x_n + α_{n+1}(1 − r)·D_n + α_{n+1}(Δλ + S₀·s(λ_{n+1}))·D′
///           + α_{n+1}(Δλ²/2 + S₁·s(λ_{n+1}))·D″ + s_noise·α_{n+1}·√(λ²_{n+1} − λ²_n r²)·z,
/// Δλ = λ_{n+1} − λ_n, D′ = (D_n − D_{n−1})/(λ_n − λ_{n−1}) from the second step on, D″ = (D′_n −
/// D′_{n−1})/((λ_n − λ_{n−2})/2) from the third, S₀ and S₁ sd.cpp's 200-point Riemann sums of 1/s(λ) and
/// (λ − λ_n)/s(λ) over [λ_{n+1}, λ_n] (the terms skipped where sd.cpp skips them: a λ difference within
/// 1e-12). The interval ending at σ = 0 is x = D_n, with no noise.
///
/// `eta` is what sd.cpp passes: it reads it only as a switch (noise when η > 0, at full strength; sd.cpp's
/// default 1); `s_noise` scales each draw (ComfyUI's `s_noise`; not in sd.cpp: 1 there). The noise source is
/// called once per interval that adds noise (η > 0, s_noise > 0, σ_{n+1} > 0 and λ_{n+1} > λ_n·r: always
/// unless clamping makes λ_{n+1} = λ_n), in grid order, before anything changes. The grid's σ/α must
/// decrease strictly.
/// @par Cost: 1 model call per step; three passes over memory per step (D_n, D′, the update with the draw)
/// and 400 scalar evaluations of s(λ); 4 temporaries (D_n, D_{n−1}, D′_n, D′_{n−1}) and 1 for the draw.
struct er_sde {
  /// sd.cpp's eta: > 0 adds the noise (at full strength, sd.cpp's default 1), 0 none; finite, >= 0.
  double eta = 1.0;
  /// Scale of each draw (ComfyUI's `s_noise`, not in sd.cpp); finite, >= 0.
  double s_noise = 1.0;
  static constexpr bool stochastic = true;
  template <class S, class P, class Ops>
  using stepper = detail::er_sde_stepper<S, P>;
};

namespace detail {

/// s(λ) = λ·(e^{λ^0.3} + 10) for λ >= 0 (0 below): ER-SDE's noise scale function.
inline double er_sde_scaler(double lambda) {
  const double l = std::max(lambda, 0.0);
  return l * (std::exp(std::pow(l, 0.3)) + 10.0);
}

template <class S, class P>
class er_sde_stepper {
  static_assert(is_data_prediction_v<P>,
                "stork: er_sde needs a parameterisation with alpha(t), sigma(t) and denoise(t): use "
                "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) "
                "with integrate); a plain velocity field is read as rectified flow");
  static constexpr bool flow = sd_flow_rule_v<P>;

 public:
  template <class Ops>
  er_sde_stepper(const er_sde& m, stork::span<const double> times, const S& x, const P& p, Ops& ops)
      : eta_(checked_eta(name, m.eta)),
        s_noise_(checked_s_noise(name, m.s_noise)),
        walk_(times, name),
        grid_(times, p, name, flow),
        param_(p),
        d_{ops.make_like(x), ops.make_like(x)},
        dd_{ops.make_like(x), ops.make_like(x)},
        noise_(eta_ > 0.0 && s_noise_ > 0.0, x, ops) {
    const std::size_t n = times.size();
    lambda_.resize(n), alpha_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (flow) {
        const double s = std::min(std::max(grid_.sigma(i), 1e-6), 1.0 - 1e-4);
        lambda_[i] = s / std::max(1.0 - s, 1e-6), alpha_[i] = 1.0 - s;
      } else {
        lambda_[i] = std::max(grid_.sigma(i), 1e-6), alpha_[i] = grid_.scale(i);
      }
    }
  }

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }

  /// Stores D_n (and D′_n), then moves x to t_{n+1} with the draw.
  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, S& x, Noise& noise) {
    const std::size_t n = walk_.interval();
    const affine_velocity c = param_.denoise(walk_.t0());  // D_n = c.state·x + c.output·out
    S& d = d_[cur_];
    const S& d_old = d_[1 - cur_];
    if (grid_.sigma(n + 1) == 0.0) {  // x = D_n, no noise
      const std::array<double, 2> coef{grid_.scale(n + 1) * c.state, grid_.scale(n + 1) * c.output};
      check_step_weights(name, coef, n, walk_.t0(), walk_.t1(), stochastic_weights_overflow);
      comb<2>(ops, d, {c.state, c.output}, {&x, &out});
      comb<2>(ops, x, coef, {&x, &out});
      finish(false);
      return;
    }
    const double ls = lambda_[n], lt = lambda_[n + 1], as = alpha_[n], at = alpha_[n + 1];
    const double scaled_s = er_sde_scaler(ls), scaled_t = er_sde_scaler(lt);
    const double r_alpha = as > 0.0 ? at / as : 0.0, r = scaled_s > 0.0 ? scaled_t / scaled_s : 0.0;
    // x_{n+1} = cx·x + cd·D_n + c1·D′_n + c2·D′_{n−1} + cz·z
    double cx = r_alpha * r, cd = at * (1.0 - r), c1 = 0.0, c2 = 0.0, cz = 0.0;
    bool first_difference = false, second_difference = false;
    double denom_d = 1.0;
    if (n >= 1) {
      const bool third = n >= 2 && have_dd_;
      const double dt = lt - ls, step = -dt / 200.0;
      double s0 = 0.0, s1 = 0.0;
      for (int k = 0; k < 200; ++k) {
        const double l = lt + k * step, sc = er_sde_scaler(l);
        if (sc <= 0.0) continue;
        s0 += 1.0 / sc;
        if (third) s1 += (l - ls) / sc;
      }
      s0 *= step;
      denom_d = ls - lambda_[n - 1];
      if (std::abs(denom_d) > 1e-12) {
        first_difference = true;
        c1 = at * (dt + s0 * scaled_t);
        if (third) {
          const double denom_u = (ls - lambda_[n - 2]) * 0.5;
          if (std::abs(denom_u) > 1e-12) {
            second_difference = true;
            const double cu =
                at * (0.5 * dt * dt + s1 * step * scaled_t) / denom_u;  // D″ = (D′_n − D′_{n−1})/denom_u
            c1 += cu, c2 = -cu;
          }
        }
      }
    }
    const double noise_sq = lt * lt - ls * ls * r * r;
    const bool noisy = noise_.active() && noise_sq > 0.0;
    if (noisy) cz = s_noise_ * at * std::sqrt(noise_sq);
    const std::array<double, 5> coef{cx, cd, c1, c2, cz};
    check_step_weights(name, coef, n, walk_.t0(), walk_.t1(), stochastic_weights_overflow);
    const S* z =
        noisy ? &noise_.draw(noise, ops, x, walk_.t0(), walk_.t1()) : nullptr;  // before anything changes
    comb<2>(ops, d, {c.state, c.output}, {&x, &out});
    S& dd = dd_[dd_cur_];
    if (first_difference) comb<2>(ops, dd, {1.0 / denom_d, -1.0 / denom_d}, {&d, &d_old});
    std::array<double, 5> w{};
    std::array<const S*, 5> xs{};
    std::size_t k = 0;
    auto term = [&](double wk, const S* s) { w[k] = wk, xs[k] = s, ++k; };
    term(cx, &x);
    term(cd, &d);
    if (first_difference) term(c1, &dd);
    if (second_difference) term(c2, &dd_[1 - dd_cur_]);
    if (noisy) term(cz, z);
    comb_n<5>(ops, x, w, xs, k);
    finish(first_difference);
  }

 private:
  static constexpr const char* name = "er_sde";

  /// D_n becomes D_{n−1}; D′_n becomes D′_{n−1} when it was formed.
  void finish(bool formed_difference) noexcept {
    cur_ = 1 - cur_;
    if (formed_difference) dd_cur_ = 1 - dd_cur_, have_dd_ = true;
    walk_.next();
  }

  double eta_, s_noise_;
  grid_walk walk_;
  rule_grid grid_;
  P param_;
  std::array<S, 2> d_, dd_;  // D_n / D_{n−1} and D′_n / D′_{n−1}, by index
  noise_buffer<S> noise_;
  std::vector<double> lambda_, alpha_;
  std::size_t cur_ = 0, dd_cur_ = 0;
  bool have_dd_ = false;
};

}  // namespace detail
}  // namespace stork
