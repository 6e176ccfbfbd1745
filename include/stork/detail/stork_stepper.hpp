/// @file
/// @brief Internal: the STORK-2/STORK-4 stepper shared by `stork2` and `stork4`: start-up, the history of
/// model outputs, the velocity polynomial of each variant, the collapsed step and how a run ends.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/detail/explicit_rk.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/history_ring.hpp"
#include "stork/detail/taylor.hpp"
#include "stork/detail/virtual_stages.hpp"
#include "stork/error.hpp"
#include "stork/methods/stork_options.hpp"
#include "stork/methods/variant.hpp"
#include "stork/model/model.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/model/vp_linear.hpp"
#include "stork/state.hpp"

namespace stork::detail {

enum class stork_family { rkg2, rock4 };

/// A model under a variance-preserving process: σ > 0 on the whole domain, so STORK ends the run with a
/// denoise at the last grid time.
template <class P>
constexpr bool ends_with_denoise_v = [] {
  if constexpr (process_model<P>)
    return variance_preserving_v<detail::remove_cvref_t<decltype(std::declval<const P&>().process)>>;
  else
    return false;
}();

/// The parameterisation the reference code's ε path handles: an ε model under VP with linear β.
template <class P>
bool reference_noise(const P& p) {
  if constexpr (process_model<P> && std::is_same_v<detected_t<process_member_t, P>, vp_linear>)
    return p.prediction == prediction::epsilon;
  else
    return false;
}

/// Stage coefficients of one STORK method and its effective weights Q_k = Σ_i w_i c_i^k
/// (docs/reference.md §2.5): in flow mode a step is x − h[Q0 F0 − hQ1 D1 + h²/2 Q2 D2 − h³/6 Q3 D3].
class stork_coefficients {
 public:
  stork_coefficients(stork_family family, int stages, int derivative_order, variant v)
      : family_(family), reference_(v == variant::reference) {
    const char* who = name();
    if (v != variant::corrected && v != variant::reference)
      fail(who, "variant", static_cast<int>(v), "not a stork::variant value");
    if (family == stork_family::rock4)
      rock4_.emplace(stages, who);
    else {
      rkg2_.emplace(stages, who);
      tau_ = rkg2_virtual_times(*rkg2_, reference_);
    }
    if (derivative_order != 2 && derivative_order != 3)
      fail(who, "derivative_order", derivative_order, "derivative_order must be 2 or 3");
    // Effective weights: run the recurrence on monomials, "output" k being δ^k, with H = 1.
    const output_polynomial mono = output_polynomial::monomials();
    const coord_space<flow_velocity> sp{flow_velocity{}, mono, 0.0, 1.0};
    std::array<double, 5> r{};
    step(sp, 1.0, std::array<double, 5>{1.0, 0.0, 0.0, 0.0, 0.0}, r);
    q_ = {r[1], r[2], r[3], r[4]};
  }

  const char* name() const noexcept { return family_ == stork_family::rock4 ? "stork4" : "stork2"; }
  bool reference() const noexcept { return reference_; }
  /// Q0..Q3.
  const std::array<double, 4>& effective_weights() const noexcept { return q_; }
  /// Stage count actually used (the ROCK4 degree m for STORK-4, s for STORK-2).
  int stages() const noexcept { return rock4_ ? rock4_->m : rkg2_->s; }

  /// One step's stage recurrence in the vector space `sp` (states or coordinates).
  template <class Space, class V = typename Space::vec>
  void step(const Space& sp, double H, const V& y0, V& out, const stage_buffers<V>& buf) const {
    if (rock4_)
      rock4_virtual_step(*rock4_, reference_, H, sp, y0, out, buf);
    else
      rkg2_virtual_step(*rkg2_, tau_, H, sp, y0, out, buf);
  }
  /// Same, on coordinates with local buffers.
  template <STORK_CONCEPT(Parameterisation) P>
  void step(const coord_space<P>& sp, double H, const std::array<double, 5>& y0,
            std::array<double, 5>& out) const {
    std::array<std::array<double, 5>, 7> b{};
    step(sp, H, y0, out,
         stage_buffers<std::array<double, 5>>{{&b[0], &b[1], &b[2]}, &b[3], &b[4], &b[5], &b[6]});
  }

 private:
  stork_family family_;
  bool reference_;
  std::optional<rock4_coefficients> rock4_;
  std::optional<rkg2_coefficients> rkg2_;
  std::vector<double> tau_;
  std::array<double, 4> q_{};
};

/// Weights w of a collapsed step x_{n+1} = w0·Y0 + Σ_i w_{i+1}·F_i. When the F_i are velocities
/// (`velocities`) the effective weights give them directly (O(1) work); otherwise the recurrence runs on
/// coordinates with the parameterisation's affine coefficients at every stage (O(s) scalar work).
template <STORK_CONCEPT(Parameterisation) P>
std::array<double, 5> collapsed_weights(const stork_coefficients& k, const P& param, bool velocities,
                                        const output_polynomial& poly, double t, double H) {
  std::array<double, 5> w{1.0, 0.0, 0.0, 0.0, 0.0};
  if (velocities) {
    const auto& q = k.effective_weights();
    for (std::size_t i = 0; i < poly.outputs; ++i) {
      double hk = H, sum = 0.0;
      for (std::size_t j = 0; j < 4; ++j, hk *= H) sum += q[j] * hk * poly.coef[j][i];
      w[i + 1] = sum;
    }
  } else {
    const coord_space<P> sp{param, poly, t, H};
    k.step(sp, H, std::array<double, 5>{1.0, 0.0, 0.0, 0.0, 0.0}, w);
  }
  return w;
}

/// The stage-by-stage form of one step on real states (O(s) passes; 7 temporaries allocated here).
/// Kept for verification: tests hold it equal to the collapsed form.
template <STORK_CONCEPT(State) S, STORK_CONCEPT(Parameterisation) P>
void stagewise_step(const stork_coefficients& k, const P& param, const output_polynomial& poly, double t,
                    double H, const S& y0, const std::array<const S*, 4>& F, S& out) {
  state_ops<S> ops;
  std::vector<S> b = make_states(ops, 7, y0);
  const state_space<S, P, state_ops<S>> sp{param, poly, t, H, F, ops};
  k.step(sp, H, y0, out, stage_buffers<S>{{&b[0], &b[1], &b[2]}, &b[3], &b[4], &b[5], &b[6]});
}

/// STORK's stepper. One model call per interval once the history holds `derivative_order` past outputs:
/// the output (or, with extrapolate::velocity, the velocity) is stored in a ring and the whole step is one
/// fused linear combination of x and up to four stored entries.
template <class Method, class S, STORK_CONCEPT(Parameterisation) P>
class stork_stepper {
  enum class phase {
    startup,  // corrected, startup::runge_kutta: Heun (order 2) or Kutta RK3 (order 3) steps
    ref_first,
    ref_mid,
    ref_ab2,  // reference flow start-up (§2.1)
    eps_first,
    eps_half,
    eps_probe,  // reference ε start-up (§2.6)
    main,
    denoise,
    finished
  };
  using heun_startup = explicit_rk_stepper<heun_tableau, S, P>;
  using kutta3_startup = explicit_rk_stepper<kutta3_tableau, S, P>;

 public:
  template <class Ops>
  stork_stepper(const Method& m, span<const double> times, const S& x, const P& p, Ops& ops)
      : k_(Method::family, m.stages, m.derivative_order, m.variant),
        walk_(times, k_.name(), k_.reference() ? 3 : 2),
        param_(p),
        order_(static_cast<std::size_t>(m.derivative_order)),
        velocities_(checked_form(m.extrapolate) == extrapolate::velocity || output_is_velocity(p)),
        ring_(k_.reference() && !output_is_velocity(p) ? 4 : order_ + 1, x, ops) {
    if (m.startup != startup::automatic && m.startup != startup::runge_kutta &&
        m.startup != startup::multistep)
      fail(k_.name(), "startup", static_cast<int>(m.startup), "not a stork::startup value");
    if (k_.reference()) {
      if (output_is_velocity(p)) {
        if (m.derivative_order == 3)
          fail(k_.name(), "derivative_order", 3,
               "the reference code's third-order differences are wrong in flow mode (docs/reference.md "
               "§2.2); "
               "use variant::corrected");
        phase_ = phase::ref_first;
      } else if (reference_noise(p) && m.extrapolate == extrapolate::model_output) {
        if (Method::family == stork_family::rkg2)
          throw error(
              "stork: stork2: variant = reference is invalid with an ε model (the reference code's noise "
              "STORK-2 is broken, docs/reference.md §2.3); use variant::corrected");
        phase_ = phase::eps_first;
        x0_.emplace(ops.make_like(x));
      } else {
        throw error(std::string("stork: ") + k_.name() +
                    ": variant = reference is invalid with this model (the reference code extrapolates flow "
                    "velocities and the ε of a vp_linear model only); use variant::corrected");
      }
      return;
    }
    const startup chosen =
        m.startup == startup::automatic ? automatic_startup(m.derivative_order, walk_.times()) : m.startup;
    if (chosen == startup::multistep) {
      phase_ = phase::main;
      return;
    }
    const std::size_t n = std::min<std::size_t>(order_ == 3 ? 2 : 1, walk_.intervals());
    const span<const double> head = walk_.times().first(n + 1);
    if (order_ == 3)
      kutta3_.emplace(head, x, p, k_.name(), ops);
    else
      heun_.emplace(head, x, p, k_.name(), ops);
    phase_ = phase::startup;
  }

  double time() const noexcept {
    switch (phase_) {
      case phase::startup:
        return heun_ ? heun_->time() : kutta3_->time();
      case phase::eps_probe:
        return walk_.t1();
      case phase::ref_mid:
      case phase::eps_half:
        return walk_.t0() + 0.5 * walk_.h();
      default:
        return walk_.t0();
    }
  }
  bool done() const noexcept { return phase_ == phase::finished; }
  /// The grid interval the next evaluation belongs to (the number of intervals for the final denoise).
  std::size_t interval() const noexcept {
    if (phase_ == phase::startup) return heun_ ? heun_->interval() : kutta3_->interval();
    return walk_.interval();
  }
  /// True when the next evaluation is at a grid point t_n (false for the stage calls of a start-up).
  bool at_grid_point() const noexcept {
    switch (phase_) {
      case phase::startup:
        return heun_ ? heun_->at_grid_point() : kutta3_->at_grid_point();
      case phase::ref_mid:
      case phase::eps_half:
      case phase::eps_probe:
        return false;
      default:
        return true;
    }
  }
  /// Where the engine may write the next model output (zero-copy): the history entry it may become.
  S& output_slot() noexcept { return ring_.next(); }
  const stork_coefficients& coefficients() const noexcept { return k_; }

  template <class Ops>
  void advance(Ops& ops, const S& out, S& x) {
    const double t = walk_.t0(), H = walk_.done() ? 0.0 : walk_.h();
    switch (phase_) {
      case phase::startup:
        return startup_step(ops, out, x);
      case phase::ref_first:  // Euler half-step to the inserted midpoint
        keep(ops, out, x, t);
        comb<2>(ops, x, {1.0, 0.5 * H}, {&x, &out});
        phase_ = phase::ref_mid;
        return;
      case phase::ref_mid:  // AB2 with step H/2 from the midpoint onto σ_1; this output is discarded
        comb<3>(ops, x, {1.0, 0.75 * H, -0.25 * H}, {&x, &out, &ring_.back(0)});
        walk_.next();
        phase_ = phase::ref_ab2;
        return;
      case phase::ref_ab2: {  // variable-step AB2 against V_0
        const double hp = t - walk_.at(walk_.interval() - 1), r = H * H / (2.0 * hp);
        check_weights(std::array<double, 2>{H + r, -r}, t);
        comb<3>(ops, x, {1.0, H + r, -r}, {&x, &out, &ring_.back(0)});
        keep(ops, out, x, t);
        return end_interval();
      }
      case phase::eps_first: {  // x ← x0 − ½Δ·f(x0, t0, E0)
        keep(ops, out, x, t);
        copy(ops, *x0_, x);
        const affine_velocity c = param_.affine(t);
        comb<2>(ops, x, {1.0 + 0.5 * H * c.state, 0.5 * H * c.output}, {&*x0_, &out});
        phase_ = phase::eps_half;
        return;
      }
      case phase::eps_half: {  // AB2 half-step predictor onto t1: x − ¾Δ f + ¼Δ f0
        const affine_velocity c = param_.affine(t + 0.5 * H), c0 = param_.affine(t);
        comb<4>(ops, x,
                {1.0 + 0.75 * H * c.state, 0.75 * H * c.output, -0.25 * H * c0.state, -0.25 * H * c0.output},
                {&x, &out, &*x0_, &ring_.back(0)});
        keep(ops, out, x, t + 0.5 * H);
        phase_ = phase::eps_probe;
        return;
      }
      case phase::eps_probe: {  // the predicted state is discarded: one STORK step from (x0, t0)
        const output_polynomial poly = uniform_taylor(0.5 * H, 3);
        collapsed_step(ops, *x0_, {&ring_.back(1), &ring_.back(0), &out, &out}, poly, t, H, x);
        return end_interval();
      }
      case phase::main:
        return main_step(ops, out, x, t, H);
      case phase::denoise:  // Tweedie: the reference code omits the division by α (§2.6)
        if constexpr (ends_with_denoise_v<P>) {
          const affine_velocity c =
              k_.reference() ? affine_velocity{1.0, -param_.sigma(t)} : param_.denoise(t);
          comb<2>(ops, x, {c.state, c.output}, {&x, &out});
        }
        phase_ = phase::finished;
        return;
      case phase::finished:
        return;
    }
  }

 private:
  static extrapolate checked_form(extrapolate e) {
    if (e != extrapolate::model_output && e != extrapolate::velocity)
      fail("stork", "extrapolate", static_cast<int>(e), "not a stork::extrapolate value");
    return e;
  }

  /// The Runge–Kutta start-up: the grid-point outputs go into the history, the steps are the start-up
  /// method's.
  template <class Ops>
  void startup_step(Ops& ops, const S& out, S& x) {
    const bool grid_point = heun_ ? heun_->at_grid_point() : kutta3_->at_grid_point();
    // A kept velocity is the start-up's velocity too (the output may have been converted in place, when
    // the engine wrote it into output_buffer()).
    const bool use_kept = grid_point && velocities_;
    if (grid_point) keep(ops, out, x, time());
    auto run = [&](auto& startup) {
      if (use_kept)
        startup.advance_velocity(ops, ring_.back(0), x);
      else
        startup.advance(ops, out, x);
      return startup.done();
    };
    const bool finished_startup = heun_ ? run(*heun_) : run(*kutta3_);
    if (!finished_startup) return;
    const std::size_t n = order_ == 3 ? 2 : 1;
    for (std::size_t i = 0; i < n && !walk_.done(); ++i) walk_.next();
    heun_.reset(), kutta3_.reset();
    enter_interval();
  }

  void end_interval() {
    walk_.next();
    enter_interval();
  }
  void enter_interval() {
    if (!walk_.done())
      phase_ = phase::main;
    else
      phase_ = ends_with_denoise_v<P> ? phase::denoise : phase::finished;
  }

  template <class Ops>
  void main_step(Ops& ops, const S& out, S& x, double t, double H) {
    if (!velocities_ && !k_.reference() && !callable_at(param_, walk_.t1())) {
      // The interval ends where the model cannot be called (σ = 0 for an ε, x̂₀ or v model): the stages
      // would integrate a(t) = O(1/σ). One Euler step lands on x̂₀ there (rectified flow and VE).
      const affine_velocity c = param_.affine(t);
      comb<2>(ops, x, {1.0 + H * c.state, H * c.output}, {&x, &out});
      return end_interval();
    }
    // The polynomial and the step weights first, from the times alone: a step whose weights overflow
    // throws before the history changes. Entry i of the polynomial is the i-th newest after this output.
    output_polynomial poly;
    std::size_t points = 0;
    if (!k_.reference()) {  // Lagrange through the current and up to `order_` past entries, true times
      const std::size_t n = std::min(ring_.size(), order_);
      std::array<double, 4> off{};
      for (std::size_t i = 1; i <= n; ++i) off[i] = ring_.time(i - 1) - t;
      poly = output_polynomial::lagrange(off, n + 1);
      points = n + 1;
    } else if (velocities_) {  // §2.2: uniform D1, non-uniform D2
      const double h1 = ring_.time(0) - t, h2 = ring_.time(1) - ring_.time(0);
      poly = reference_flow_taylor(h1, h2);
      points = 3;
    } else {  // §2.6: uniform differences with the reference's fixed spacing Δ = τ0 − τ1
      const double delta = walk_.at(0) - walk_.at(1);
      points = main_steps_ >= 2 ? 4 : 3;
      poly = uniform_taylor(main_steps_ == 0 ? 0.5 * delta : delta, points);
    }
    const std::array<double, 5> w = collapsed_weights(k_, param_, velocities_, poly, t, H);
    check_weights(span<const double>(w.data(), poly.outputs + 1), t);
    keep(ops, out, x, t);
    std::array<const S*, 5> xs{&x, &ring_.back(0), &ring_.back(0), &ring_.back(0), &ring_.back(0)};
    for (std::size_t i = 1; i < points; ++i) xs[i + 1] = &ring_.back(i);
    comb_n<5>(ops, x, w, xs, poly.outputs + 1);
    ++main_steps_;
    end_interval();
  }

  /// x_out = w0·y0 + Σ w_{i+1}·F_i: the whole step as one fused linear combination.
  template <class Ops>
  void collapsed_step(Ops& ops, const S& y0, const std::array<const S*, 4>& F, const output_polynomial& poly,
                      double t, double H, S& x_out) {
    const std::array<double, 5> w = collapsed_weights(k_, param_, velocities_, poly, t, H);
    const std::size_t n = poly.outputs + 1;
    check_weights(span<const double>(w.data(), n), t);
    const std::array<const S*, 5> xs{&y0, F[0], F[1], F[2], F[3]};
    comb_n<5>(ops, x_out, w, xs, n);
  }

  /// Throws stork::error, before anything is changed, when the weights of the step from t overflow:
  /// the velocity polynomial holds powers of the step up to the fourth and of past steps up to the
  /// inverse cube, so steps beyond about 1e±75, or ratios of neighbouring steps beyond about 1e100,
  /// do not fit in double precision.
  void check_weights(span<const double> w, double t) const {
    check_step_weights(k_.name(), w, walk_.interval(), t, walk_.done() ? t : walk_.t1(),
                       "the grid's steps are too large, too small or too different in size for the velocity "
                       "polynomial");
  }

  /// Stores the output at (x, t) as the newest history entry: as it is, or as the velocity
  /// (extrapolate::velocity with a non-velocity output: one pass).
  template <class Ops>
  void keep(Ops& ops, const S& out, const S& x, double t) {
    S& slot = ring_.next();
    if (velocities_ && !output_is_velocity(param_)) {
      const affine_velocity c = param_.affine(t);
      comb<2>(ops, slot, {c.state, c.output}, {&x, &out});
    } else if (&slot != &out) {
      copy(ops, slot, out);
    }
    ring_.push(t);
  }

  stork_coefficients k_;
  grid_walk walk_;
  P param_;
  std::size_t order_;
  bool velocities_;  // the ring holds velocities: flow mode (effective weights)
  history_ring<S> ring_;
  phase phase_ = phase::main;
  std::optional<heun_startup> heun_;
  std::optional<kutta3_startup> kutta3_;
  std::optional<S> x0_;  // the reference ε path's step start
  std::size_t main_steps_ = 0;
};

}  // namespace stork::detail

namespace stork::detail {
template <class Method>
using family_t = decltype(Method::family);
}  // namespace stork::detail

namespace stork {

/// @brief The effective weights Q0..Q3 of a STORK method (docs/reference.md §2.5): in flow mode one step
/// is x_{n+1} = x_n − h[Q0·F0 − h·Q1·D1 + ½h²·Q2·D2 − h³·Q3·D3/6]. The exact integral has
/// (1, 1/2, 1/3, 1/4).
template <class Method>
std::array<double, 4> effective_weights(const Method& m) {
  static_assert(detail::is_detected_v<detail::family_t, Method>,
                "stork: effective_weights: only the STORK methods (stork2, stork4) have effective weights");
  return detail::stork_coefficients(Method::family, m.stages, m.derivative_order, m.variant)
      .effective_weights();
}

}  // namespace stork
