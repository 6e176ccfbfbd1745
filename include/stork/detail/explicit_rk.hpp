/// @file
/// @brief Internal: explicit Runge–Kutta methods given by a Butcher tableau, one model call per stage
/// (`stork::heun`, and the start-up of STORK).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/detail/grid.hpp"
#include "stork/detail/velocity.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork::detail {

/// Heun's method (explicit trapezoidal rule): c = (0, 1), a21 = 1, b = (½, ½). Order 2.
struct heun_tableau {
  static constexpr std::size_t stages = 2;
  static constexpr std::array<double, 2> c{0.0, 1.0};
  static constexpr std::array<std::array<double, 2>, 2> a{{{0.0, 0.0}, {1.0, 0.0}}};
  static constexpr std::array<double, 2> b{0.5, 0.5};
};

/// Kutta's third-order method: c = (0, ½, 1), a21 = ½, a31 = −1, a32 = 2, b = (1/6, 2/3, 1/6). Order 3.
struct kutta3_tableau {
  static constexpr std::size_t stages = 3;
  static constexpr std::array<double, 3> c{0.0, 0.5, 1.0};
  static constexpr std::array<std::array<double, 3>, 3> a{
      {{0.0, 0.0, 0.0}, {0.5, 0.0, 0.0}, {-1.0, 2.0, 0.0}}};
  static constexpr std::array<double, 3> b{1.0 / 6.0, 2.0 / 3.0, 1.0 / 6.0};
};

/// An explicit Runge–Kutta method, one model call per stage. An interval that ends where the model cannot
/// be called (σ = 0 for an ε, x̂₀ or v model) is one Euler step instead, from its first call — as
/// k-diffusion's Heun does; for rectified flow and VE that step lands exactly on x̂₀.
/// Temporaries: the step start and `stages − 1` stage velocities (plus the velocity buffer of a
/// non-velocity output).
template <class Tableau, class S, STORK_CONCEPT(Parameterisation) P>
class explicit_rk_stepper {
  static constexpr std::size_t K = Tableau::stages;

 public:
  template <class Ops>
  explicit_rk_stepper(span<const double> times, const S& x, const P& p, std::string_view who, Ops& ops)
      : walk_(times, who), vel_(p, x, ops), x0_(ops.make_like(x)), k_(make_states(ops, K - 1, x)) {}

  double time() const noexcept { return walk_.t0() + Tableau::c[j_] * walk_.h(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  bool at_grid_point() const noexcept { return j_ == 0; }

  /// Consumes the model output of stage j and moves x to the state of stage j + 1 (or to the next grid
  /// point).
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    advance_velocity(ops, vel_(ops, out, x, time()), x);
  }
  /// The same from the velocity of stage j (already converted from the model output).
  template <class Ops>
  void advance_velocity(Ops& ops, const S& v, S& x) {
    const double h = walk_.h();
    if (j_ == 0 && !callable_at(vel_.param(), walk_.t1())) {
      comb<2>(ops, x, {1.0, h}, {&x, &v});
      walk_.next();
      return;
    }
    std::array<double, K + 1> c{};
    std::array<const S*, K + 1> xs{};
    c[0] = 1.0, xs[0] = &x0_;
    if (j_ + 1 < K) {  // x = x0 + h·Σ_{i≤j} a[j+1][i]·k_i
      if (j_ == 0) copy(ops, x0_, x);
      copy(ops, k_[j_], v);
      for (std::size_t i = 0; i <= j_; ++i) c[i + 1] = h * Tableau::a[j_ + 1][i], xs[i + 1] = &k_[i];
      comb_n<K + 1>(ops, x, c, xs, j_ + 2);
      ++j_;
    } else {  // x = x0 + h·Σ b_i·k_i, the last velocity used where it is
      for (std::size_t i = 0; i + 1 < K; ++i) c[i + 1] = h * Tableau::b[i], xs[i + 1] = &k_[i];
      c[K] = h * Tableau::b[K - 1], xs[K] = &v;
      comb<K + 1>(ops, x, c, xs);
      j_ = 0;
      walk_.next();
    }
  }

 private:
  grid_walk walk_;
  velocity_of<S, P> vel_;
  S x0_;
  std::vector<S> k_;
  std::size_t j_ = 0;
};

}  // namespace stork::detail
