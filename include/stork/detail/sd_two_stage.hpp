/// @file
/// @brief Internal: the stepper shared by stable-diffusion.cpp's two-stage ancestral samplers
/// (`dpmpp_2s_ancestral`, `res_2s`): per interval one model call at t_n, at most one at a stage σ inside the
/// interval, then x_{n+1} = c_x·x_n + c₁·D₁ + c₂·D₂ + c_z·z. The scalars of every interval are planned by the
/// constructor (`two_stage_plan_of`, one overload per method), so stepping only combines states.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/menu_rule.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/stochastic.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork::detail {

/// One interval as the rule sees it: σ_n, σ_{n+1} of the rule, the factors x = scale·x_rule at both ends,
/// and whether the method adds noise at all (η·s_noise > 0).
struct two_stage_interval {
  double s0, s1, a, b;
  bool flow, active;
};

/// What one interval does, in x's own coordinates.
struct two_stage_plan {
  /// True when the interval makes a second model call, at `stage`.
  bool two = false;
  rule_stage stage{0.0, 0.0, 1.0};
  /// The stage state: x_s = sx·x_n + sd·D₁.
  double sx = 0.0, sd = 0.0;
  /// x_{n+1} = cx·x_n + c1·D₁ + c2·D₂ + cz·z (c2 = 0 when `two` is false).
  double cx = 0.0, c1 = 0.0, c2 = 0.0, cz = 0.0;
  /// True when the interval draws noise (cz is then its weight).
  bool noisy = false;
};

/// The stage state of a DDIM step from rule σ s0 to the stage: x_s = scale_s·((σ_s/s0)·x_rule + (1 −
/// σ_s/s0)·D₁).
inline void plan_ddim_stage(two_stage_plan& p, double s0, double a) {
  const double q = p.stage.sigma / s0;
  p.sx = p.stage.scale * q / a, p.sd = p.stage.scale * (1.0 - q);
}

template <class Method, class S, class P>
class two_stage_stepper {
  static_assert(is_data_prediction_v<P>,
                "stork: this sampler needs a parameterisation with alpha(t), sigma(t) and denoise(t): use "
                "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) "
                "with integrate); a plain velocity field is read as rectified flow");
  static constexpr bool flow = sd_flow_rule_v<P>;
  /// The update uses D₁ after the stage call (res_2s), so D₁ is kept.
  static constexpr bool keeps_d1 = Method::keeps_first_output;

 public:
  template <class Ops>
  two_stage_stepper(const Method& m, stork::span<const double> times, const S& x, const P& p, Ops& ops)
      : eta_(checked_eta(Method::name, m.eta)),
        s_noise_(checked_s_noise(Method::name, m.s_noise)),
        walk_(times, Method::name),
        grid_(times, p, Method::name, flow),
        param_(p),
        plan_(make_plan(m, p, times)),
        noise_(any_noisy(), x, ops) {
    for (const two_stage_plan& q : plan_)
      if (q.two) {
        x0_.emplace(ops.make_like(x));
        if (keeps_d1) d1_.emplace(ops.make_like(x));
        break;
      }
  }

  double time() const noexcept { return stage_ ? plan_[walk_.interval()].stage.time : walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  bool at_grid_point() const noexcept { return !stage_; }

  /// The first call of an interval: moves x to the stage state (or, for a one-call interval, to t_{n+1});
  /// the second: moves x to t_{n+1} with the draw.
  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, S& x, Noise& noise) {
    const std::size_t n = walk_.interval();
    const two_stage_plan& q = plan_[n];
    if (!stage_) {
      const affine_velocity c = param_.denoise(walk_.t0());  // D₁ = c.state·x + c.output·out
      if (q.two) {
        const std::array<double, 2> coef{q.sx + q.sd * c.state, q.sd * c.output};
        check_step_weights(Method::name, coef, n, walk_.t0(), walk_.t1(), stochastic_weights_overflow);
        copy(ops, *x0_, x);
        if constexpr (keeps_d1) comb<2>(ops, *d1_, {c.state, c.output}, {&x, &out});
        comb<2>(ops, x, coef, {&x, &out});
        stage_ = true;
        return;
      }
      const std::array<double, 3> coef{q.cx + q.c1 * c.state, q.c1 * c.output, q.cz};
      check_step_weights(Method::name, stork::span<const double>(coef.data(), q.noisy ? 3 : 2), n, walk_.t0(),
                         walk_.t1(), stochastic_weights_overflow);
      if (q.noisy) {
        const S& z = noise_.draw(noise, ops, x, walk_.t0(), walk_.t1());  // before anything changes
        comb<3>(ops, x, coef, {&x, &out, &z});
      } else {
        comb<2>(ops, x, {coef[0], coef[1]}, {&x, &out});
      }
      walk_.next();
      return;
    }
    const affine_velocity c = param_.denoise(q.stage.time);  // D₂ = c.state·x_s + c.output·out
    std::array<double, 5> coef{};
    std::array<const S*, 5> xs{};
    std::size_t k = 0;
    auto term = [&](double w, const S* s) { coef[k] = w, xs[k] = s, ++k; };
    term(q.cx, &*x0_);
    if constexpr (keeps_d1) term(q.c1, &*d1_);
    term(q.c2 * c.state, &x);
    term(q.c2 * c.output, &out);
    if (q.noisy) term(q.cz, nullptr);
    check_step_weights(Method::name, stork::span<const double>(coef.data(), k), n, walk_.t0(), walk_.t1(),
                       stochastic_weights_overflow);
    if (q.noisy) xs[k - 1] = &noise_.draw(noise, ops, x, walk_.t0(), walk_.t1());  // before anything changes
    comb_n<5>(ops, x, coef, xs, k);
    stage_ = false;
    walk_.next();
  }

 private:
  std::vector<two_stage_plan> make_plan(const Method& m, const P& p, stork::span<const double> times) const {
    const std::size_t intervals = times.size() - 1;
    std::vector<two_stage_plan> plan(intervals);
    const bool active = eta_ * s_noise_ > 0.0;
    for (std::size_t n = 0; n < intervals; ++n) {
      const two_stage_interval in{
          grid_.sigma(n), grid_.sigma(n + 1), grid_.scale(n), grid_.scale(n + 1), flow, active};
      auto stage = [&](double target) {
        return stage_at(p, flow, target, times[n], times[intervals], Method::name, n);
      };
      plan[n] = two_stage_plan_of(m, eta_, s_noise_, in, stage);
    }
    return plan;
  }
  bool any_noisy() const noexcept {
    for (const two_stage_plan& q : plan_)
      if (q.noisy) return true;
    return false;
  }

  double eta_, s_noise_;
  grid_walk walk_;
  rule_grid grid_;
  P param_;
  std::vector<two_stage_plan> plan_;
  noise_buffer<S> noise_;
  std::optional<S> x0_, d1_;  // x_n and D₁ across the stage call
  bool stage_ = false;
};

}  // namespace stork::detail
