/// @file
/// @brief `stork::ipndm` and `stork::lms`: the Adams–Bashforth family on the velocity — iPNDM (variable or
/// fixed steps) and stable-diffusion.cpp's linear multistep `lms` — in one stepper.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include "stork/detail/grid.hpp"
#include "stork/detail/history_ring.hpp"
#include "stork/detail/span.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class Method, class S, class P>
class adams_stepper;
}

/// @brief Which Adams–Bashforth weights `stork::ipndm` takes.
enum class ipndm_coefficients {
  /// The exact weights on the grid's own steps (zju-pi/diff-sampler's and ComfyUI's `ipndm_v`,
  /// k-diffusion's `sample_lms`): order `order` on any smooth grid.
  variable,
  /// The uniform-step weights (1), (3, −1)/2, (23, −16, 5)/12, (55, −59, 37, −9)/24 times the current step,
  /// whatever the steps: stable-diffusion.cpp's `sample_ipndm` (`ipndm`), the iPNDM of Zhang & Chen and
  /// diff-sampler. Order `order` on a uniform grid, at most 2 on a smoothly varying one (measured in
  /// `tests/menu_deterministic_test.cpp`).
  fixed,
  /// stable-diffusion.cpp's `sample_ipndm_v` (`ipndm_v`) as written: variable-step weights at orders 1 and 2,
  /// the uniform-step weights at orders 3 and 4 (diff-sampler's and ComfyUI's `ipndm_v` are variable at
  /// every order: `variable`): at most order 2 on a non-uniform grid, like `fixed`.
  sd_cpp_v,
};

/// @brief iPNDM (Zhang & Chen 2023, "DEIS", arXiv 2204.13902, §5 / App.: PNDM of Liu et al. 2022, arXiv
/// 2202.09778, with its Runge–Kutta warm-up replaced by lower-order multistep steps): the explicit
/// Adams–Bashforth method on the velocity dx/dt in the grid's own time variable (σ for VE and flows — the
/// derivative (x − D)/σ of a denoiser D, stable-diffusion.cpp's wrapped flow denoiser D = x − σ·v included —
/// τ for VP).
///
/// x_{n+1} = x_n + Σ_{j<k} β_j·v_{n−j}. With `coefficients = variable` (the default, the `ipndm_v` of
/// zju-pi/diff-sampler) β_j = ∫_{t_n}^{t_{n+1}} ℓ_j(t) dt, ℓ_j the Lagrange basis on t_n, …, t_{n−k+1}
/// (Hairer, Nørsett & Wanner, Solving ODEs I, §III.5); on a uniform grid β is the classic (1), (3, −1)/2,
/// (23, −16, 5)/12, (55, −59, 37, −9)/24 times h, which `fixed` uses on every grid (stable-diffusion.cpp's
/// `ipndm`); `sd_cpp_v` is stable-diffusion.cpp's `ipndm_v` (see `ipndm_coefficients`). k = min(order, n + 1)
/// (warm-up), and with `lower_order_final` at most the number of intervals left. No special last step: the
/// interval ending at σ = 0 is an Adams–Bashforth step too, as in stable-diffusion.cpp and k-diffusion's
/// `sample_lms` (diff-sampler and ComfyUI end with x = D instead). Order `order` (4 by default) with
/// `variable` on grids whose first steps shrink like 1/n² (the Euler start step caps a uniform grid at
/// order 2).
/// @par Cost: 1 model call per step; two passes over memory per step (store the velocity, update), one with
/// a velocity written into `output_buffer()`; `order` temporaries (stored velocities).
struct ipndm {
  /// Highest Adams–Bashforth order: 1 to 4.
  int order = 4;
  /// Order at most the number of intervals left (off by default, as in zju-pi/diff-sampler and ComfyUI).
  bool lower_order_final = false;
  /// The weights: `variable` (exact on the grid's steps), `fixed` (uniform-step) or `sd_cpp_v`.
  ipndm_coefficients coefficients = ipndm_coefficients::variable;
  template <class S, class P, class Ops>
  using stepper = detail::adams_stepper<ipndm, S, P>;
};

/// @brief Linear multistep: stable-diffusion.cpp's `sample_lms` (`lms`; leejet/stable-diffusion.cpp,
/// src/runtime/denoiser.hpp), k-diffusion's `sample_lms` "modified with a history shift", on the velocity in
/// the grid's time variable (as `ipndm`).
///
/// At step n with k = min(order, n + 1): c_j = ∫_{t_n}^{t_{n+1}} ℓ_j(t) dt (ℓ_j the Lagrange basis on t_n,
/// …, t_{n−k+1}) by the midpoint rule on `divisions` equal parts, as that code integrates it, and
/// x_{n+1} = x_n + c_0·v_n + Σ_{1≤j<k} c_j·v_{n−max(1, j−shift)}: with `shift = 0` the weight of v_{n−j} is
/// c_j (k-diffusion's LMS, up to the midpoint rule: `ipndm{.order = k}` integrates exactly); the default
/// `shift = 1` (stable-diffusion.cpp's, "PR #1843") pairs c_1 and c_2 with v_{n−1}, c_3 with v_{n−2}, …,
/// which keeps first order only. Options as stable-diffusion.cpp's extra sample args `lms_max_order`,
/// `lms_shift`, `lms_divisions`. stable-diffusion.cpp evaluates the midpoint sums in float, here they are in
/// double: its float32 run and stork's on float states end within float round-off (8e-7 relative at the
/// defaults, 3e-6 at order 6, `tests/menu_deterministic_test.cpp`). Where it clamps bad values (order < 1,
/// shift < 0) or accepts `lms_divisions` < 1 ("always produces noise") this throws stork::error, and orders
/// above 16 too (there: "values above 12 can produce NaNs").
/// @par Cost: 1 model call per step; two passes over memory per step (store the velocity, update);
/// max(1, order − 1 − shift) + 1 temporaries (stored velocities); O(divisions·order²) scalar work per step
/// for the weights (about 12 000 multiply-divides at order 4).
struct lms {
  /// Highest order (stable-diffusion.cpp's `lms_max_order`): 1 to 16.
  int order = 4;
  /// History shift (`lms_shift`): >= 0; 0 is k-diffusion's pairing.
  int shift = 1;
  /// Midpoint-rule subintervals of each weight's integral (`lms_divisions`): 1 to 10⁸.
  int divisions = 1000;
  template <class S, class P, class Ops>
  using stepper = detail::adams_stepper<lms, S, P>;
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

/// The uniform-step Adams–Bashforth weights of order k (1 to 4) times h.
inline std::array<double, 4> fixed_adams_bashforth_weights(int k, double h) {
  static constexpr double w[4][4] = {{1.0, 0.0, 0.0, 0.0},
                                     {3.0 / 2.0, -1.0 / 2.0, 0.0, 0.0},
                                     {23.0 / 12.0, -16.0 / 12.0, 5.0 / 12.0, 0.0},
                                     {55.0 / 24.0, -59.0 / 24.0, 37.0 / 24.0, -9.0 / 24.0}};
  const std::size_t r = static_cast<std::size_t>(k - 1);
  return {h * w[r][0], h * w[r][1], h * w[r][2], h * w[r][3]};
}

/// stable-diffusion.cpp's `linear_multistep_coeff`: c_j = ∫_{t[0]}^{t1} Π_{i≠j, i<k} (u − t[i])/(t[j] − t[i])
/// du by the midpoint rule on `divisions` parts (nodes t[0] = t_n, t[1] = t_{n−1}, …), written as that code
/// sums it (in double).
template <std::size_t N>
void lms_weights(std::size_t k, const std::array<double, N>& t, double t1, int divisions,
                 std::array<double, N>& c) {
  const double a = t[0], dx = (t1 - a) / divisions, b0 = a + 0.5 * dx;
  for (std::size_t j = 0; j < k; ++j) {
    const double s = t[j];
    double sum = 0.0;
    for (int m = 0; m < divisions; ++m) {
      const double b = m * dx + b0;
      double prod = 1.0;
      for (std::size_t i = 0; i < k; ++i)
        if (i != j) prod *= (b - t[i]) / (s - t[i]);
      sum += prod;
    }
    c[j] = sum * dx;
  }
}

/// The shared stepper of `ipndm` and `lms`: stores the velocity at t_n in a ring of past velocities and
/// takes one Adams–Bashforth step x ← x + Σ_lag w_lag·v_{n−lag} with the method's weights.
template <class Method, class S, class P>
class adams_stepper {
  static constexpr bool is_lms = std::is_same_v<Method, lms>;
  static constexpr std::size_t max_order = is_lms ? 16 : 4;

 public:
  template <class Ops>
  adams_stepper(const Method& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : method_(checked(m)), walk_(times, name()), param_(p), ring_(capacity(method_), x, ops) {}

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
    std::size_t k = std::min(static_cast<std::size_t>(method_.order), n + 1);
    std::array<double, max_order> w{};  // weight of v_{n−lag}, by lag
    std::size_t lags = k;
    if constexpr (is_lms) {
      std::array<double, max_order> t{}, c{};
      for (std::size_t j = 0; j < k; ++j) t[j] = walk_.at(n - j);
      lms_weights(k, t, walk_.t1(), method_.divisions, c);
      const std::size_t shift = static_cast<std::size_t>(method_.shift);
      lags = 1;
      w[0] = c[0];
      for (std::size_t j = 1; j < k; ++j) {
        const std::size_t lag = j > shift + 1 ? j - shift : 1;
        w[lag] += c[j];
        lags = std::max(lags, lag + 1);
      }
    } else {
      if (method_.lower_order_final) k = std::min(k, walk_.intervals() - n);
      lags = k;
      const bool fixed = method_.coefficients == ipndm_coefficients::fixed ||
                         (method_.coefficients == ipndm_coefficients::sd_cpp_v && k > 2);
      std::array<double, 4> beta{};
      if (fixed) {
        beta = fixed_adams_bashforth_weights(static_cast<int>(k), walk_.h());
      } else {
        std::array<double, 5> t{walk_.t1(), 0.0, 0.0, 0.0, 0.0};
        for (std::size_t j = 0; j < k; ++j) t[j + 1] = walk_.at(n - j);
        beta = adams_bashforth_weights(static_cast<int>(k), t);
      }
      for (std::size_t j = 0; j < k; ++j) w[j] = beta[j];
    }
    // Before anything changes: x and the history stay as they were.
    check_step_weights(name(), span<const double>(w.data(), lags), n, walk_.t0(), walk_.t1(),
                       "the Adams-Bashforth weights are ratios of steps: neighbouring steps differ too much "
                       "in size");
    S& v = ring_.next();
    if (output_is_velocity(param_)) {
      if (&v != &out) copy(ops, v, out);
    } else {
      const affine_velocity c = param_.affine(walk_.t0());
      comb<2>(ops, v, {c.state, c.output}, {&x, &out});
    }
    ring_.push(walk_.t0());
    std::array<double, max_order + 1> coef{};
    coef[0] = 1.0;
    for (std::size_t j = 0; j < lags; ++j) coef[j + 1] = w[j];
    combine_with_history(ops, x, x, coef, ring_, lags);
    walk_.next();
  }

 private:
  static constexpr std::string_view name() noexcept { return is_lms ? "lms" : "ipndm"; }

  static Method checked(const Method& m) {
    if (m.order < 1 || m.order > static_cast<int>(max_order))
      fail(name(), "order", m.order,
           is_lms ? "lms is the linear multistep method of order 1 to 16"
                  : "iPNDM is Adams-Bashforth of order 1, 2, 3 or 4");
    if constexpr (is_lms) {
      if (m.shift < 0)
        fail(name(), "shift", m.shift, "the history shift must be >= 0 (0: k-diffusion's LMS)");
      if (m.divisions < 1 || m.divisions > 100000000)
        fail(name(), "divisions", m.divisions,
             "the midpoint rule of each weight needs 1 to 100000000 subintervals (stable-diffusion.cpp: "
             "values "
             "below 1 produce noise)");
    } else {
      const int c = static_cast<int>(m.coefficients);
      if (c < 0 || c > 2)
        fail(name(), "coefficients", c, "expected ipndm_coefficients::variable, fixed or sd_cpp_v");
    }
    return m;
  }
  /// Stored velocities a step reads: `order` for ipndm; lms with a shift reads back to lag
  /// max(1, order − 1 − shift) only.
  static std::size_t capacity(const Method& m) {
    if constexpr (is_lms) {
      if (m.order < 2) return 1;
      return static_cast<std::size_t>(std::max(1, m.order - 1 - m.shift)) + 1;
    } else {
      return static_cast<std::size_t>(m.order);
    }
  }

  Method method_;
  grid_walk walk_;
  P param_;
  history_ring<S> ring_;
};

}  // namespace detail
}  // namespace stork
