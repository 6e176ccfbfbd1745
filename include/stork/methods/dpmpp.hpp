/// @file
/// @brief `stork::dpmpp_2m` and `stork::dpmpp_3m`: DPM-Solver++ multistep (data prediction, steps in the
/// log-SNR λ = log(α/σ)).
#pragma once

#include <array>
#include <cstddef>
#include "stork/detail/span.hpp"

#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class Method>
using diffusers_parity_t = decltype(std::declval<const Method&>().diffusers_parity);

template <class Method, class S, STORK_CONCEPT(Parameterisation) P>
class dpmpp_stepper;
}  // namespace detail

/// @brief DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095, Alg. 2): the multistep exponential
/// integrator on the data prediction x̂₀, second order.
///
/// With h = λ_{n+1} − λ_n, r = (λ_n − λ_{n−1})/h and D_n the data prediction at t_n:
/// x_{n+1} = (σ_{n+1}/σ_n)·x_n + α_{n+1}(1 − e^{−h})·[(1 + 1/(2r))·D_n − 1/(2r)·D_{n−1}]
/// (diffusers' `solver_type = "midpoint"`). The first step (no history) is first order (DDIM); a step to
/// σ = 0 (λ = +∞, the end of a flow grid) is the limit x = x̂₀ of the last model output (diffusers'
/// `final_sigmas_type = "zero"`). Flow fields (α = 1 − σ) and ε models (`vp_epsilon`) alike. The
/// first-order first and last steps cap a uniform grid at order 2 for every multistep method here; grids
/// whose end steps shrink like 1/n² keep the full order.
/// @par Cost: 1 model call per step; two passes over memory per step (x̂₀, then the update);
/// 2 temporaries (the stored data predictions).
struct dpmpp_2m {
  /// First order on the last interval (diffusers lowers it only below 15 steps; here whenever set).
  bool lower_order_final = true;
  static constexpr int order = 2;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::dpmpp_stepper<dpmpp_2m, S, P>;
};

/// @brief DPM-Solver++(3M): the third-order multistep update of DPM-Solver (Lu et al. 2022, arXiv
/// 2206.00927, multistep DPM-Solver-3) in its data-prediction form (arXiv 2211.01095), as the
/// LuChengTHU/dpm-solver code and diffusers' `multistep_dpm_solver_third_order_update` write it.
///
/// With h, r₀ = h₀/h, r₁ = h₁/h (the two previous steps in λ), D1₀ = (D_n − D_{n−1})/r₀,
/// D1₁ = (D_{n−1} − D_{n−2})/r₁, D1 = D1₀ + r₀/(r₀ + r₁)·(D1₀ − D1₁), D2 = (D1₀ − D1₁)/(r₀ + r₁):
/// x_{n+1} = (σ_{n+1}/σ_n)x_n + α_{n+1}[(1 − e^{−h})D_n + (h − 1 + e^{−h})/h·D1 + w₂·D2].
/// D2 approximates h²/2·D″ (half the second derivative), so the exact exponential integrator of a
/// data prediction quadratic in λ needs w₂ = 2(h²/2 − h + 1 − e^{−h})/h²: that is the default (order 3).
/// The published code uses w₂ = (h²/2 − h + 1 − e^{−h})/h² = ½ − (e^{−h} − 1 + h)/h², half of it, and
/// measures second order; `.diffusers_parity = true` reproduces it. Warm-up: orders 1, 2 (the 2M update), 3.
/// @par Cost: 1 model call per step; two passes over memory per step; 3 temporaries (stored data
/// predictions).
struct dpmpp_3m {
  /// First order on the last interval and at most second order on the one before.
  bool lower_order_final = true;
  /// Use the published D2 weight (second order) instead of the exact one (third order).
  bool diffusers_parity = false;
  static constexpr int order = 3;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::dpmpp_stepper<dpmpp_3m, S, P>;
};

namespace detail {

/// Weights w of one DPM-Solver++ multistep update in λ: x_t = (σ_t/σ_s)·x_s + α_t·Σ_j w_j·D_{s−j}, for
/// λ = {λ_s, λ_{s−1}, λ_{s−2}} (the entries beyond `order − 1` unused) and target λ_t.
/// Order 1: DDIM; 2: DPM-Solver++(2M) Alg. 2; 3: the third-order multistep (`parity`: published D2 weight).
inline std::array<double, 3> dpmpp_weights(int order, double lambda_t, const std::array<double, 3>& lambda,
                                           bool parity) {
  const double h = lambda_t - lambda[0], p1 = psi(1, h);
  if (order <= 1) return {p1, 0.0, 0.0};
  const double r0 = (lambda[0] - lambda[1]) / h;
  if (order == 2) return {p1 * (1.0 + 0.5 / r0), -p1 * 0.5 / r0, 0.0};
  const double r1 = (lambda[1] - lambda[2]) / h;
  const double c1 = psi(2, h) / h;                               // weight of D1 ≈ h·D′
  const double c2 = (parity ? 1.0 : 2.0) * psi(3, h) / (h * h);  // weight of D2 ≈ h²/2·D″
  // D1 = (1 + r0/(r0+r1))·D1₀ − r0/(r0+r1)·D1₁, D2 = (D1₀ − D1₁)/(r0+r1).
  const double a0 = c1 * (1.0 + r0 / (r0 + r1)) + c2 / (r0 + r1);  // on D1₀ = (D_s − D_{s−1})/r0
  const double a1 = -c1 * r0 / (r0 + r1) - c2 / (r0 + r1);         // on D1₁ = (D_{s−1} − D_{s−2})/r1
  return {p1 + a0 / r0, -a0 / r0 + a1 / r1, -a1 / r1};
}

template <class Method, class S, STORK_CONCEPT(Parameterisation) P>
class dpmpp_stepper {
  static_assert(
      is_data_prediction_v<P>,
      "stork: DPM-Solver++ needs a parameterisation with alpha(t), sigma(t) and denoise(t): use "
      "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) with "
      "integrate); a plain velocity field is read as rectified flow");

 public:
  template <class Ops>
  dpmpp_stepper(const Method& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : walk_(times, name()),
        grid_(times, p, name()),
        param_(p),
        order_(Method::order),
        lower_order_final_(m.lower_order_final),
        parity_(parity_of(m)),
        ring_(static_cast<std::size_t>(Method::order), x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }
  /// Where the engine may write the next model output (zero-copy): the ring entry it becomes.
  S& output_slot() noexcept { return ring_.next(); }

  /// Stores x̂₀ of the model output at (x, t_n), then moves x to t_{n+1}.
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    const std::size_t n = walk_.interval();
    const affine_velocity c = param_.denoise(walk_.t0());
    S& d = ring_.next();
    comb<2>(ops, d, {c.state, c.output}, {&x, &out});
    ring_.push(walk_.t0());
    const int k = multistep_order(order_, lower_order_final_, n, walk_.intervals(), grid_);
    if (n + 1 == walk_.intervals() && grid_.ends_at_data()) {
      copy(ops, x, d);  // σ = 0: the limit of the update is x̂₀
    } else {
      std::array<double, 3> lam{grid_.lambda(n), 0.0, 0.0};
      for (std::size_t j = 1; j < static_cast<std::size_t>(k); ++j) lam[j] = grid_.lambda(n - j);
      const std::array<double, 3> w = dpmpp_weights(k, grid_.lambda(n + 1), lam, parity_);
      const double at = grid_.alpha(n + 1);
      const std::array<double, 4> coef{grid_.sigma(n + 1) / grid_.sigma(n), at * w[0], at * w[1], at * w[2]};
      combine_with_history(ops, x, x, coef, ring_, static_cast<std::size_t>(k));
    }
    walk_.next();
  }

 private:
  static const char* name() noexcept { return Method::order == 2 ? "dpmpp_2m" : "dpmpp_3m"; }
  static bool parity_of(const Method& m) noexcept {
    if constexpr (is_detected_v<diffusers_parity_t, Method>)
      return m.diffusers_parity;
    else
      return false;
  }

  grid_walk walk_;
  log_snr_grid grid_;
  P param_;
  int order_;
  bool lower_order_final_, parity_;
  history_ring<S> ring_;
};

}  // namespace detail
}  // namespace stork
