/// @file
/// @brief `stork::rock4`: Abdulle's fourth-order orthogonal Runge–Kutta–Chebyshev method.
#pragma once

#include <array>
#include <cstddef>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/detail/grid.hpp"
#include "stork/detail/rock4_tables.hpp"
#include "stork/detail/velocity.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, STORK_CONCEPT(Parameterisation) P>
class rock4_stepper;
}

/// @brief Classic ROCK4 (A. Abdulle, SIAM J. Sci. Comput. 23(6), 2002): an m-stage three-term
/// Chebyshev recurrence followed by a 4-stage finishing procedure. m is the smallest tabulated degree
/// ≥ `stages` (1 ≤ stages ≤ 148). Order 4; real stability interval about [−(0.353(m+4)² − 3), 0]. An
/// interval that ends where the model cannot be called (σ = 0 with an ε, x̂₀ or v model) is one Euler step.
/// @par Cost: m + 4 model calls per step; 4 temporaries.
struct rock4 {
  int stages = 10;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::rock4_stepper<S, P>;
};

namespace detail {

/// One row of the ROCK4 tables, unpacked: recurrence Y_1 = Y_0 + h·a1·f_0,
/// Y_j = (1+κ_j) Y_{j−1} − κ_j Y_{j−2} + h μ_j f_{j−1} (j = 2..m), then the finishing procedure.
struct rock4_coefficients {
  int m = 0;                   ///< degree (recurrence stages)
  std::size_t row = 0;         ///< row in the tables
  std::vector<double> mu;      ///< μ_j, j = 1..m (μ_1 = a1)
  std::vector<double> kappa;   ///< κ_j, j = 2..m (κ_1 = 0)
  std::vector<double> c;       ///< stage times c_0..c_m of the recurrence
  std::array<double, 6> a{};   ///< a21, a31, a32, a41, a42, a43
  std::array<double, 4> b{};   ///< b1..b4
  std::array<double, 4> cf{};  ///< times of the four finishing stages

  explicit rock4_coefficients(int stages, std::string_view who = "rock4") {
    namespace t = rock4_tables;
    if (stages < 1 || stages > t::degree.back())
      fail(who, "stages", stages, "ROCK4 degrees are tabulated for 1 <= stages <= 148");
    while (t::degree[row] < stages) ++row;
    m = t::degree[row];
    const auto n = static_cast<std::size_t>(m) + 1;
    mu.assign(n, 0.0), kappa.assign(n, 0.0), c.assign(n, 0.0);
    const std::size_t p = t::recf_offset[row];
    mu[1] = t::recf[p];
    c[1] = mu[1];
    for (std::size_t j = 2; j < n; ++j) {
      mu[j] = t::recf[p + 2 * (j - 2) + 1];
      kappa[j] = t::recf[p + 2 * (j - 2) + 2];
      c[j] = (1.0 + kappa[j]) * c[j - 1] - kappa[j] * c[j - 2] + mu[j];
    }
    a = t::fpa[row];
    b = t::fpb[row];
    const double cm = c[static_cast<std::size_t>(m)];
    cf = {cm, cm + a[0], cm + a[1] + a[2], cm + a[3] + a[4] + a[5]};
  }
};

template <class S, STORK_CONCEPT(Parameterisation) P>
class rock4_stepper {
 public:
  template <class Ops>
  rock4_stepper(const rock4& method, span<const double> times, const S& x, const P& p, Ops& ops)
      : k_(method.stages),
        walk_(times, "rock4"),
        vel_(p, x, ops),
        d_(ops.make_like(x)),
        ym_(ops.make_like(x)),
        k1_(ops.make_like(x)),
        k2_(ops.make_like(x)) {}

  double time() const noexcept {
    const auto m = static_cast<std::size_t>(k_.m);
    return walk_.t0() + (j_ < m ? k_.c[j_] : k_.cf[j_ - m]) * walk_.h();
  }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  bool at_grid_point() const noexcept { return j_ == 0; }

  /// Stage j < m consumes f(Y_j) and moves x to Y_{j+1} (keeping d = Y_j − Y_{j−1}: two passes);
  /// stages m..m+3 are the finishing procedure from Y_m.
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    const double h = walk_.h();
    const S& v = vel_(ops, out, x, time());
    if (j_ == 0 && !callable_at(vel_.param(), walk_.t1())) {  // see the struct's doc: one Euler step
      comb<2>(ops, x, {1.0, h}, {&x, &v});
      walk_.next();
      return;
    }
    const auto m = static_cast<std::size_t>(k_.m);
    const auto& a = k_.a;
    if (j_ < m) {
      const std::size_t j = j_ + 1;  // coefficients of Y_{j+1}
      if (j_ == 0)
        comb<1>(ops, d_, {h * k_.mu[1]}, {&v});
      else
        comb<2>(ops, d_, {k_.kappa[j], h * k_.mu[j]}, {&d_, &v});
      comb<2>(ops, x, {1.0, 1.0}, {&x, &d_});
    } else if (j_ == m) {
      copy(ops, ym_, x);
      copy(ops, k1_, v);
      comb<2>(ops, x, {1.0, h * a[0]}, {&ym_, &k1_});
    } else if (j_ == m + 1) {
      copy(ops, k2_, v);
      comb<3>(ops, x, {1.0, h * a[1], h * a[2]}, {&ym_, &k1_, &k2_});
    } else if (j_ == m + 2) {
      copy(ops, d_, v);  // d_ holds K3 during the finishing procedure
      comb<4>(ops, x, {1.0, h * a[3], h * a[4], h * a[5]}, {&ym_, &k1_, &k2_, &d_});
    } else {
      const auto& b = k_.b;
      comb<5>(ops, x, {1.0, h * b[0], h * b[1], h * b[2], h * b[3]}, {&ym_, &k1_, &k2_, &d_, &v});
    }
    if (++j_ == m + 4) {
      j_ = 0;
      walk_.next();
    }
  }

 private:
  rock4_coefficients k_;
  grid_walk walk_;
  velocity_of<S, P> vel_;
  S d_, ym_, k1_, k2_;
  std::size_t j_ = 0;
};

}  // namespace detail
}  // namespace stork
