/// @file
/// @brief `stork::dpm2`: k-diffusion's DPM-Solver-2-inspired midpoint method, the midpoint at the geometric
/// mean of the step's ends.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include "stork/detail/grid.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/velocity.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, class P>
class dpm2_stepper;
}

/// @brief DPM2: stable-diffusion.cpp's `sample_dpm2` (`dpm2`; leejet/stable-diffusion.cpp,
/// src/runtime/denoiser.hpp), k-diffusion's `sample_dpm_2` without churn (crowsonkb/k-diffusion,
/// k_diffusion/sampling.py; ComfyUI's `dpm_2`), "inspired by DPM-Solver-2 and Algorithm 2 of Karras et al.
/// 2022": a midpoint method whose stage sits at the geometric mean of the step's ends.
///
/// With f the velocity dx/dt and t_mid = √(t_n·t_{n+1}) (exp of the mean of the logs):
/// x_mid = x_n + (t_mid − t_n)·f(t_n, x_n), x_{n+1} = x_n + (t_{n+1} − t_n)·f(t_mid, x_mid). In VE σ and flow
/// σ (a flow velocity is the derivative of stable-diffusion.cpp's wrapped denoiser, (x − D)/σ = v) this is
/// `sample_dpm2` step for step; other processes run it in their own time variable (τ for VP). The interval
/// ending at t = 0 is one Euler step (x = D for a denoiser), with one model call. Order 2. Times must be
/// positive, the last may be 0.
/// @par Cost: 2 model calls per step (1 on the interval ending at 0); 1 temporary (the step start) plus the
/// velocity buffer of a non-velocity output.
struct dpm2 {
  template <class S, class P, class Ops>
  using stepper = detail::dpm2_stepper<S, P>;
};

namespace detail {

template <class S, class P>
class dpm2_stepper {
 public:
  template <class Ops>
  dpm2_stepper(const dpm2&, span<const double> times, const S& x, const P& p, Ops& ops)
      : walk_(times, "dpm2"), vel_(p, x, ops), x0_(ops.make_like(x)) {
    for (std::size_t i = 0; i < times.size(); ++i)
      if (!(times[i] > 0.0) && !(i + 1 == times.size() && times[i] == 0.0))
        fail("dpm2", "times[" + std::to_string(i) + "]", times[i],
             "dpm2's stage sits at the geometric mean of a step's ends: times must be > 0 (the last may be "
             "0)");
  }

  double time() const noexcept { return stage_ ? mid_ : walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  bool at_grid_point() const noexcept { return !stage_; }

  /// Stage 0 (at t_n): moves x to the midpoint state, or (interval ending at 0) takes the Euler step.
  /// Stage 1 (at t_mid): x = x_n + h·f(t_mid, x_mid).
  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    const double t0 = walk_.t0(), t1 = walk_.t1(), h = walk_.h();
    if (stage_) {
      const S& v = vel_(ops, out, x, mid_);
      comb<2>(ops, x, {1.0, h}, {&x0_, &v});
      stage_ = false;
      walk_.next();
      return;
    }
    const S& v = vel_(ops, out, x, t0);
    if (t1 == 0.0) {
      comb<2>(ops, x, {1.0, h}, {&x, &v});
      walk_.next();
      return;
    }
    const double mid = std::sqrt(t0) * std::sqrt(t1);
    copy(ops, x0_, x);
    comb<2>(ops, x, {1.0, mid - t0}, {&x, &v});
    mid_ = mid, stage_ = true;
  }

 private:
  grid_walk walk_;
  velocity_of<S, P> vel_;
  S x0_;
  double mid_ = 0.0;
  bool stage_ = false;
};

}  // namespace detail
}  // namespace stork
