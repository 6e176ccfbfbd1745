/// @file
/// @brief `stork::rkg2`: the second-order Runge–Kutta–Gegenbauer method (every stage evaluates f).
#pragma once

#include <cstddef>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/detail/grid.hpp"
#include "stork/detail/velocity.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, STORK_CONCEPT(Parameterisation) P>
class rkg2_stepper;
}

/// @brief Classic RKG2 with `stages` = s stages (2 ≤ s ≤ 100000), closed-form coefficients
/// (docs/reference.md §2.3; Skaras, Gupta, O'Sullivan, JCP 2021). Order 2; real stability interval
/// [−(s+4)(s−1)/3, 0]. An interval that ends where the model cannot be called (σ = 0 with an ε, x̂₀ or v
/// model) is one Euler step, as in k-diffusion's multi-stage samplers.
/// @par Cost: s model calls per step; 3 temporaries (step start, f at the step start, last increment).
struct rkg2 {
  int stages = 10;
  template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
  using stepper = detail::rkg2_stepper<S, P>;
};

namespace detail {

/// The RKG2 recurrence for s stages: Y_0 = x, Y_1 = Y_0 + μ̃_1·h·f_0,
/// Y_j = μ_j Y_{j−1} + ν_j Y_{j−2} + (1 − μ_j − ν_j) Y_0 + μ̃_j h f_{j−1} + γ̃_j h f_0 (j = 2..s),
/// with f_j = f(t + c_j h, Y_j). Arrays are indexed by j; entries that do not exist are 0.
struct rkg2_coefficients {
  static constexpr int max_stages = 100000;
  int s = 0;
  double w1 = 0;
  std::vector<double> mu, nu, mu_tilde, gamma_tilde, c;

  explicit rkg2_coefficients(int stages, std::string_view who = "rkg2") {
    if (stages < 2) fail(who, "stages", stages, "RKG2 needs stages >= 2");
    if (stages > max_stages)  // O(s) coefficient memory; the stability interval is already ~3e9 there
      fail(who, "stages", stages, "at most 100000 stages (the coefficient tables are O(stages))");
    s = stages;
    const auto n = static_cast<std::size_t>(s) + 1;
    mu.assign(n, 0.0), nu.assign(n, 0.0), mu_tilde.assign(n, 0.0), gamma_tilde.assign(n, 0.0),
        c.assign(n, 0.0);
    const double sd = s;
    w1 = 6.0 / ((sd + 4.0) * (sd - 1.0));
    std::vector<double> b(n, 0.0);
    b[0] = 1.0;
    b[1] = 1.0 / 3.0;
    for (std::size_t j = 2; j < n; ++j) {
      const double jd = static_cast<double>(j);
      b[j] = 4.0 * (jd - 1.0) * (jd + 4.0) / (3.0 * jd * (jd + 1.0) * (jd + 2.0) * (jd + 3.0));
    }
    mu_tilde[1] = w1;
    c[1] = w1;
    for (std::size_t j = 2; j < n; ++j) {
      const double jd = static_cast<double>(j);
      const double a_prev = 1.0 - b[j - 1] * jd * (jd + 1.0) / 2.0;  // a_{j−1}
      mu[j] = (2.0 * jd + 1.0) * b[j] / (jd * b[j - 1]);
      nu[j] = -(jd + 1.0) * b[j] / (jd * b[j - 2]);
      mu_tilde[j] = mu[j] * w1;
      gamma_tilde[j] = -a_prev * mu_tilde[j];
      c[j] = (jd - 1.0) * (jd + 4.0) / ((sd - 1.0) * (sd + 4.0));
    }
  }
};

template <class S, STORK_CONCEPT(Parameterisation) P>
class rkg2_stepper {
 public:
  template <class Ops>
  rkg2_stepper(const rkg2& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : k_(m.stages),
        walk_(times, "rkg2"),
        vel_(p, x, ops),
        y0_(ops.make_like(x)),
        f0_(ops.make_like(x)),
        d_(ops.make_like(x)) {}
  double time() const noexcept { return walk_.t0() + k_.c[j_] * walk_.h(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  bool at_grid_point() const noexcept { return j_ == 0; }

  /// Consumes f_j = f(t + c_j h, Y_j) and moves x from Y_j to Y_{j+1}. Keeps d = Y_j − Y_{j−1}, so
  /// the recurrence needs no copy of Y_{j−1}: two passes per stage.
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    const double h = walk_.h();
    const S& v = vel_(ops, out, x, time());
    if (j_ == 0 && !callable_at(vel_.param(), walk_.t1())) {  // see the struct's doc: one Euler step
      comb<2>(ops, x, {1.0, h}, {&x, &v});
      walk_.next();
      return;
    }
    if (j_ == 0) {
      copy(ops, y0_, x);
      copy(ops, f0_, v);
      comb<1>(ops, d_, {k_.mu_tilde[1] * h}, {&f0_});
    } else {
      const auto j = j_ + 1;  // coefficients of Y_{j+1}
      const double mu = k_.mu[j], nu = k_.nu[j];
      comb<5>(ops, d_, {mu + nu - 1.0, -nu, 1.0 - mu - nu, k_.mu_tilde[j] * h, k_.gamma_tilde[j] * h},
              {&x, &d_, &y0_, &v, &f0_});
    }
    comb<2>(ops, x, {1.0, 1.0}, {&x, &d_});
    if (++j_ == static_cast<std::size_t>(k_.s)) {
      j_ = 0;
      walk_.next();
    }
  }

 private:
  rkg2_coefficients k_;
  grid_walk walk_;
  velocity_of<S, P> vel_;
  S y0_, f0_, d_;
  std::size_t j_ = 0;
};

}  // namespace detail
}  // namespace stork
