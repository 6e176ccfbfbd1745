/// @file
/// @brief `stork::unipc`: UniPC multistep predictor–corrector (B(h) = e^h − 1, "bh2"), data prediction,
/// steps in the log-SNR λ = log(α/σ).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <utility>
#include "stork/detail/span.hpp"

#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, STORK_CONCEPT(Parameterisation) P>
class unipc_stepper;
}

/// @brief UniPC (Zhao et al. 2023, arXiv 2302.04867: UniP-p and UniC-p with B(h) = e^h − 1, "bh2"; diffusers'
/// `UniPCMultistepScheduler` with `predict_x0 = True`, `solver_type = "bh2"`).
///
/// Predictor UniP-p from t_s to t: x̃_t = (σ_t/σ_s)x_s + α_t(1 − e^{−h})[D_s + Σ_k ρᵖ_k (D_{s−k} − D_s)/r_k],
/// r_k = (λ_{s−k} − λ_s)/h. The corrector UniC-p reuses the model call made at x̃_t:
/// x_t = (σ_t/σ_s)x_s + α_t(1 − e^{−h})[D_s + Σ_k ρᶜ_k (D_{s−k} − D_s)/r_k + ρᶜ_p (D̃_t − D_s)], and the
/// next predictor starts from the corrected x_t with D̃_t (the output at the uncorrected point), as in
/// the paper. ρ solve the order conditions Σ_k ρ_k r_k^{i−1} = i!·ψ_{i+1}(h)/(h^i·ψ₁(h)) (the published
/// ρᵖ = ½ for p = 2 and ρᶜ = ½ for p = 1 are kept). UniP-p is of order p, the corrector adds one.
/// Warm-up: orders 1, 2, … as history accumulates; steps to σ = 0 are the limit x = x̂₀.
/// @par Cost: 1 model call per step; two passes over memory per step (x̂₀, then corrector and predictor
/// fused into one linear combination); order + 1 temporaries (stored data predictions).
struct unipc {
  /// p of UniPC-p: 1, 2 or 3.
  int order = 2;
  /// Order at most the number of intervals left (diffusers' `lower_order_final`).
  bool lower_order_final = true;
  /// false: UniP-p alone (diffusers' `disable_corrector` on every step).
  bool corrector = true;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::unipc_stepper<S, P>;
};

namespace detail {

/// Solves the n×n system A·x = b (n ≤ 3) by Gaussian elimination with partial pivoting.
inline std::array<double, 3> solve_small(std::array<std::array<double, 3>, 3> a, std::array<double, 3> b,
                                         std::size_t n) {
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t piv = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r][c]) > std::abs(a[piv][c])) piv = r;
    std::swap(a[c], a[piv]), std::swap(b[c], b[piv]);
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = a[r][c] / a[c][c];
      for (std::size_t k = c; k < n; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  std::array<double, 3> x{};
  for (std::size_t c = n; c-- > 0;) {
    double s = b[c];
    for (std::size_t k = c + 1; k < n; ++k) s -= a[c][k] * x[k];
    x[c] = s / a[c][c];
  }
  return x;
}

/// Weights of one UniPC step of order p from λ_s to λ_t with λ = {λ_s, λ_{s−1}, λ_{s−2}}:
/// predictor x̃_t = (σ_t/σ_s)x_s + α_t·Σ_j pred[j]·D_{s−j} and corrector
/// x_t = (σ_t/σ_s)x_s + α_t·(corr[0]·D̃_t + Σ_j corr[j+1]·D_{s−j}).
struct unipc_weight_set {
  std::array<double, 3> pred{};
  std::array<double, 4> corr{};
};

inline unipc_weight_set unipc_weights(int order, double lambda_t, const std::array<double, 3>& lambda) {
  const std::size_t p = static_cast<std::size_t>(order);
  const double h = lambda_t - lambda[0], p1 = psi(1, h);
  std::array<double, 3> rk{};  // r_1 … r_{p−1}, then 1
  for (std::size_t k = 1; k < p; ++k) rk[k - 1] = (lambda[k] - lambda[0]) / h;
  rk[p - 1] = 1.0;
  // b_i = i!·ψ_{i+1}(h)/(h^i ψ₁(h)) (diffusers' h_phi_k·i!/B_h with B_h = e^{−h} − 1).
  std::array<double, 3> b{};
  double fact = 1.0, hi = 1.0;
  for (std::size_t i = 1; i <= p && p > 1; ++i) {  // p = 1 uses the published ρᶜ = ½ (h may be +∞)
    fact *= static_cast<double>(i), hi *= h;
    b[i - 1] = fact * psi(static_cast<int>(i) + 1, h) / (hi * p1);
  }
  std::array<std::array<double, 3>, 3> r{};  // r[i][k] = rk[k]^i
  for (std::size_t i = 0; i < p; ++i)
    for (std::size_t k = 0; k < p; ++k) r[i][k] = std::pow(rk[k], static_cast<double>(i));

  unipc_weight_set w;
  std::array<double, 3> rho_p{};
  if (p == 2)
    rho_p[0] = 0.5;
  else if (p == 3)
    rho_p = solve_small(r, b, 2);
  w.pred[0] = p1;
  for (std::size_t k = 1; k < p; ++k) {
    w.pred[k] = p1 * rho_p[k - 1] / rk[k - 1];
    w.pred[0] -= p1 * rho_p[k - 1] / rk[k - 1];
  }
  std::array<double, 3> rho_c{};
  if (p == 1)
    rho_c[0] = 0.5;
  else
    rho_c = solve_small(r, b, p);
  w.corr[0] = p1 * rho_c[p - 1];
  w.corr[1] = p1 * (1.0 - rho_c[p - 1]);
  for (std::size_t k = 1; k < p; ++k) {
    w.corr[k + 1] = p1 * rho_c[k - 1] / rk[k - 1];
    w.corr[1] -= p1 * rho_c[k - 1] / rk[k - 1];
  }
  return w;
}

template <class S, STORK_CONCEPT(Parameterisation) P>
class unipc_stepper {
  static_assert(
      is_data_prediction_v<P>,
      "stork: UniPC needs a parameterisation with alpha(t), sigma(t) and denoise(t): use "
      "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) with "
      "integrate); a plain velocity field is read as rectified flow");

 public:
  template <class Ops>
  unipc_stepper(const unipc& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : order_(checked_order(m.order)),
        walk_(times, "unipc"),
        grid_(times, p, "unipc"),
        param_(p),
        lower_order_final_(m.lower_order_final),
        corrector_(m.corrector),
        ring_(static_cast<std::size_t>(order_) + 1, x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }
  /// Where the engine may write the next model output (zero-copy): the ring entry it becomes.
  S& output_slot() noexcept { return ring_.next(); }

  /// Stores x̂₀ of the model output at (x, t_n), corrects x at t_n (UniC) and predicts x at t_{n+1} (UniP).
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    const std::size_t n = walk_.interval();
    const affine_velocity c = param_.denoise(walk_.t0());
    S& d = ring_.next();
    comb<2>(ops, d, {c.state, c.output}, {&x, &out});
    ring_.push(walk_.t0());
    if (n + 1 == walk_.intervals() && grid_.ends_at_data()) {
      copy(ops, x, d);  // σ = 0: the limit of the update is x̂₀ (the correction is multiplied by σ_{n+1} = 0)
      prev_order_ = 1;
      walk_.next();
      return;
    }
    // coef over [x, D_n, D_{n−1}, D_{n−2}, D_{n−3}].
    std::array<double, 5> coef{};
    std::size_t terms = 0;
    const double ratio = grid_.sigma(n + 1) / grid_.sigma(n);
    coef[0] = ratio;
    if (corrector_ && n >= 1) {
      // x_n(corrected) = x_n(predicted) + α_n·Σ_j (corr − pred)_j·D_{n−j}.
      const std::size_t q = static_cast<std::size_t>(prev_order_);
      const unipc_weight_set w = unipc_weights(prev_order_, grid_.lambda(n), lambdas_before(n, q));
      const double an = grid_.alpha(n);
      coef[1] += ratio * an * w.corr[0];
      for (std::size_t j = 0; j < q; ++j) coef[j + 2] += ratio * an * (w.corr[j + 1] - w.pred[j]);
      terms = q + 1;
    }
    const int k = multistep_order(order_, lower_order_final_, n, walk_.intervals(), grid_);
    const unipc_weight_set w =
        unipc_weights(k, grid_.lambda(n + 1), lambdas_before(n + 1, static_cast<std::size_t>(k)));
    const double at = grid_.alpha(n + 1);
    for (std::size_t j = 0; j < static_cast<std::size_t>(k); ++j) coef[j + 1] += at * w.pred[j];
    terms = std::max(terms, static_cast<std::size_t>(k));
    combine_with_history(ops, x, x, coef, ring_, terms);
    prev_order_ = k;
    walk_.next();
  }

 private:
  static int checked_order(int order) {
    if (order < 1 || order > 3) fail("unipc", "order", order, "UniPC is implemented for orders 1, 2 and 3");
    return order;
  }
  /// {λ_{i−1}, …, λ_{i−q}} (unused entries 0).
  std::array<double, 3> lambdas_before(std::size_t i, std::size_t q) const noexcept {
    std::array<double, 3> lam{};
    for (std::size_t j = 0; j < q; ++j) lam[j] = grid_.lambda(i - 1 - j);
    return lam;
  }

  int order_;
  grid_walk walk_;
  log_snr_grid grid_;
  P param_;
  bool lower_order_final_, corrector_;
  history_ring<S> ring_;
  int prev_order_ = 1;
};

}  // namespace detail
}  // namespace stork
