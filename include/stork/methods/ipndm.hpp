/// @file
/// @brief `stork::ipndm`: iPNDM, variable-step Adams–Bashforth up to order 4 with lower-order warm-up.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include "stork/detail/span.hpp"
#include <string>

#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/history_ring.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, STORK_CONCEPT(Parameterisation) P>
class ipndm_stepper;
}

/// @brief iPNDM (Zhang & Chen 2023, "DEIS", arXiv 2204.13902, §5 / App.: PNDM of Liu et al. 2022, arXiv
/// 2202.09778, with its Runge–Kutta warm-up replaced by lower-order multistep steps), here with
/// variable-step coefficients (the `ipndm_v` of zju-pi/diff-sampler): the explicit Adams–Bashforth
/// method on the velocity dx/dt in the grid's own time variable (σ for flows, τ for `vp_epsilon`).
///
/// x_{n+1} = x_n + Σ_{j<k} β_j·v_{n−j}, β_j = ∫_{t_n}^{t_{n+1}} ℓ_j(t) dt with ℓ_j the Lagrange basis on
/// t_n, …, t_{n−k+1} (Hairer, Nørsett & Wanner, Solving ODEs I, §III.5). On a uniform grid β is the classic
/// (1), (3, −1)/2, (23, −16, 5)/12, (55, −59, 37, −9)/24 times h. k = min(order, n + 1) (warm-up), and with
/// `lower_order_final` at most the number of intervals left. Order `order` (4 by default) on grids whose
/// first steps shrink like 1/n² (the Euler start step caps a uniform grid at order 2).
/// @par Cost: 1 model call per step; two passes over memory per step (store the velocity, update);
/// `order` temporaries (stored velocities).
struct ipndm {
  /// Highest Adams–Bashforth order: 1 to 4.
  int order = 4;
  /// Order at most the number of intervals left (off by default, as in zju-pi/diff-sampler and ComfyUI).
  bool lower_order_final = false;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::ipndm_stepper<S, P>;
};

namespace detail {

/// Variable-step Adams–Bashforth weights β_j (j < k ≤ 4) for the step t[1] → t[0] with the past times
/// t[1] = t_n, t[2] = t_{n−1}, …: x_{n+1} = x_n + Σ_j β_j·f(t_{n−j}).
inline std::array<double, 4> adams_bashforth_weights(int k, const std::array<double, 5>& t) {
  const double h = t[0] - t[1];
  std::array<double, 4> s{}, beta{};
  const std::size_t kk = static_cast<std::size_t>(k);
  for (std::size_t j = 0; j < kk; ++j) s[j] = (t[j + 1] - t[1]) / h;  // nodes in units of h (s[0] = 0)
  for (std::size_t j = 0; j < kk; ++j) {
    std::array<double, 4> poly{1.0, 0.0, 0.0, 0.0};  // Π_{i≠j} (u − s_i), coefficients of u^m
    double denom = 1.0;
    std::size_t deg = 0;
    for (std::size_t i = 0; i < kk; ++i) {
      if (i == j) continue;
      for (std::size_t m = deg + 1; m-- > 0;) {
        poly[m + 1] += poly[m];
        poly[m] *= -s[i];
      }
      ++deg;
      denom *= s[j] - s[i];
    }
    double integral = 0.0;  // ∫₀¹ Π (u − s_i) du
    for (std::size_t m = 0; m <= deg; ++m) integral += poly[m] / static_cast<double>(m + 1);
    beta[j] = h * integral / denom;
  }
  return beta;
}

template <class S, STORK_CONCEPT(Parameterisation) P>
class ipndm_stepper {
 public:
  template <class Ops>
  ipndm_stepper(const ipndm& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : order_(checked_order(m.order)),
        walk_(times, "ipndm"),
        param_(p),
        lower_order_final_(m.lower_order_final),
        ring_(static_cast<std::size_t>(order_), x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }
  /// Where the engine may write the next model output (zero-copy): the ring entry it becomes.
  S& output_slot() noexcept { return ring_.next(); }

  /// Stores the velocity at (x, t_n) and takes one Adams–Bashforth step to t_{n+1}.
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    const std::size_t n = walk_.interval();
    std::size_t k = std::min(static_cast<std::size_t>(order_), n + 1);
    if (lower_order_final_) k = std::min(k, walk_.intervals() - n);
    std::array<double, 5> t{walk_.t1(), 0.0, 0.0, 0.0, 0.0};
    for (std::size_t j = 0; j < k; ++j) t[j + 1] = walk_.at(n - j);
    const std::array<double, 4> beta = adams_bashforth_weights(static_cast<int>(k), t);
    for (std::size_t j = 0; j < k; ++j)  // before anything changes: x and the history stay as they were
      if (!std::isfinite(beta[j]))
        fail("ipndm", "times[" + std::to_string(n + 1) + "]", walk_.t1(),
             "the Adams-Bashforth weights overflow double precision: neighbouring steps differ too much in "
             "size");
    S& v = ring_.next();
    if (output_is_velocity(param_)) {
      if (&v != &out) copy(ops, v, out);
    } else {
      const affine_velocity c = param_.affine(walk_.t0());
      comb<2>(ops, v, {c.state, c.output}, {&x, &out});
    }
    ring_.push(walk_.t0());
    const std::array<double, 5> coef{1.0, beta[0], beta[1], beta[2], beta[3]};
    combine_with_history(ops, x, x, coef, ring_, k);
    walk_.next();
  }

 private:
  static int checked_order(int order) {
    if (order < 1 || order > 4)
      fail("ipndm", "order", order, "iPNDM is Adams-Bashforth of order 1, 2, 3 or 4");
    return order;
  }

  int order_;
  grid_walk walk_;
  P param_;
  bool lower_order_final_;
  history_ring<S> ring_;
};

}  // namespace detail
}  // namespace stork
