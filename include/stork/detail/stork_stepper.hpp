/// @file
/// @brief Internal: the STORK-2/STORK-4 stepper shared by `stork2` and `stork4`: start-up, the history of
/// model outputs, the velocity polynomial of each variant, the collapsed step and the final denoise.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stork/detail/grid.hpp"
#include "stork/detail/taylor.hpp"
#include "stork/detail/virtual_stages.hpp"
#include "stork/error.hpp"
#include "stork/field.hpp"
#include "stork/methods/variant.hpp"
#include "stork/state.hpp"

namespace stork::detail {

enum class stork_family { rkg2, rock4 };

/// A noise-process parameterisation: the sampler ends with a denoise x̂₀ = c.state·x + c.output·ε̂.
template <class P>
concept denoising = Parameterisation<P> && requires(const P& p, double t) {
  { p.denoise(t) } -> std::same_as<affine_velocity>;
  { p.sigma(t) } -> std::convertible_to<double>;
};

/// The parameterisations the reference code's ε path handles (VP with linear β).
template <class P>
concept reference_noise = denoising<P> && requires {
  requires P::reference_compatible;
};

/// Stage coefficients of one STORK method and its effective weights Q_k = Σ_i w_i c_i^k
/// (stork-reference.md §2.5): in flow mode a step is x − h[Q0 F0 − hQ1 D1 + h²/2 Q2 D2 − h³/6 Q3 D3].
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
  template <Parameterisation P>
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

/// Weights w of a collapsed step x_{n+1} = w0·Y0 + Σ_i w_{i+1}·F_i. Flow velocities use the effective
/// weights (O(1) work); other parameterisations run the recurrence on coordinates (O(s) scalar work).
template <Parameterisation P>
std::array<double, 5> collapsed_weights(const stork_coefficients& k, const P& param,
                                        const output_polynomial& poly, double t, double H) {
  std::array<double, 5> w{1.0, 0.0, 0.0, 0.0, 0.0};
  if constexpr (is_identity_v<P>) {
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
template <State S, Parameterisation P>
void stagewise_step(const stork_coefficients& k, const P& param, const output_polynomial& poly, double t,
                    double H, const S& y0, const std::array<const S*, 4>& F, S& out) {
  std::vector<S> b = make_states(7, y0);
  const state_space<S, P> sp{param, poly, t, H, F};
  k.step(sp, H, y0, out, stage_buffers<S>{{&b[0], &b[1], &b[2]}, &b[3], &b[4], &b[5], &b[6]});
}

template <class Method, State S, Parameterisation P>
class stork_stepper {
  static constexpr bool flow = is_identity_v<P>;
  static constexpr bool noise = denoising<P>;

  enum class phase {
    heun_start,
    heun_end,  // corrected start-up, derivative_order 2
    rk3_a,
    rk3_b,
    rk3_c,  // corrected start-up, derivative_order 3 (two intervals)
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

 public:
  stork_stepper(const Method& m, std::span<const double> times, const S& x, const P& p)
      : k_(Method::family, m.stages, m.derivative_order, m.variant),
        walk_(times, k_.name(), k_.reference() ? 3 : 2),
        param_(p),
        vel_(p, x),
        order_(static_cast<std::size_t>(m.derivative_order)) {
    if (k_.reference()) {
      if constexpr (flow) {
        if (m.derivative_order == 3)
          fail(k_.name(), "derivative_order", 3,
               "the reference code's third-order differences are wrong in flow mode (stork-reference.md "
               "§2.2); "
               "use variant::corrected");
        phase_ = phase::ref_first;
      } else if constexpr (reference_noise<P>) {
        if (Method::family == stork_family::rkg2)
          throw error(
              "stork: stork2: variant = reference is invalid with an ε model (the reference code's noise "
              "STORK-2 is broken, stork-reference.md §2.3); use variant::corrected");
        phase_ = phase::eps_first;
      } else {
        throw error(std::string("stork: ") + k_.name() +
                    ": variant = reference is invalid with this parameterisation (the reference code "
                    "handles flow velocities and vp_linear ε models only)");
      }
    } else {
      phase_ = order_ == 3 ? phase::rk3_a : phase::heun_start;
    }
    const bool eps_ref = k_.reference() && !flow;
    capacity_ = std::max<std::size_t>(eps_ref ? 3 : order_, 2);
    hist_ = make_states(capacity_, x);
    const std::size_t temps = k_.reference() ? (flow ? 0 : 1) : order_;  // x0, k1 (, k2)
    tmp_ = make_states(temps, x);
  }

  double time() const noexcept {
    switch (phase_) {
      case phase::heun_end:
      case phase::rk3_c:
      case phase::eps_probe:
        return walk_.t1();
      case phase::rk3_b:
      case phase::ref_mid:
      case phase::eps_half:
        return walk_.t0() + 0.5 * walk_.h();
      default:
        return walk_.t0();
    }
  }
  bool done() const noexcept { return phase_ == phase::finished; }
  const stork_coefficients& coefficients() const noexcept { return k_; }

  void advance(const S& out, S& x) {
    const double t = walk_.t0(), H = walk_.done() ? 0.0 : walk_.h();
    switch (phase_) {
      case phase::heun_start: {
        push(out, t);
        const S& v = vel_(out, x, t);
        assign(tmp_[0], x);
        assign(tmp_[1], v);
        lincomb<S, 2>(x, {1.0, H}, {&tmp_[0], &tmp_[1]});
        phase_ = phase::heun_end;
        return;
      }
      case phase::heun_end: {
        const S& v = vel_(out, x, walk_.t1());
        lincomb<S, 3>(x, {1.0, 0.5 * H, 0.5 * H}, {&tmp_[0], &tmp_[1], &v});
        return end_interval();
      }
      case phase::rk3_a: {  // Kutta's third-order method: c = (0, 1/2, 1), b = (1/6, 2/3, 1/6)
        push(out, t);
        const S& v = vel_(out, x, t);
        assign(tmp_[0], x);
        assign(tmp_[1], v);
        lincomb<S, 2>(x, {1.0, 0.5 * H}, {&tmp_[0], &tmp_[1]});
        phase_ = phase::rk3_b;
        return;
      }
      case phase::rk3_b: {
        const S& v = vel_(out, x, t + 0.5 * H);
        assign(tmp_[2], v);
        lincomb<S, 3>(x, {1.0, -H, 2.0 * H}, {&tmp_[0], &tmp_[1], &tmp_[2]});
        phase_ = phase::rk3_c;
        return;
      }
      case phase::rk3_c: {
        const S& v = vel_(out, x, walk_.t1());
        lincomb<S, 4>(x, {1.0, H / 6.0, 2.0 * H / 3.0, H / 6.0}, {&tmp_[0], &tmp_[1], &tmp_[2], &v});
        ++startup_intervals_;
        return end_interval();
      }
      case phase::ref_first:  // Euler half-step to the inserted midpoint
        push(out, t);
        lincomb<S, 2>(x, {1.0, 0.5 * H}, {&x, &out});
        phase_ = phase::ref_mid;
        return;
      case phase::ref_mid:  // AB2 with step H/2 from the midpoint onto σ_1; this output is discarded
        lincomb<S, 3>(x, {1.0, 0.75 * H, -0.25 * H}, {&x, &out, &history(1)});
        walk_.next();
        phase_ = phase::ref_ab2;
        return;
      case phase::ref_ab2: {  // variable-step AB2 against V_0
        const double hp = t - walk_.at(walk_.interval() - 1), r = H * H / (2.0 * hp);
        check_weights(std::array<double, 2>{H + r, -r}, t);
        lincomb<S, 3>(x, {1.0, H + r, -r}, {&x, &out, &history(1)});
        push(out, t);
        return end_interval();
      }
      case phase::eps_first: {  // x ← x0 − ½Δ·f(x0, t0, E0)
        push(out, t);
        assign(tmp_[0], x);
        const affine_velocity c = param_.affine(t);
        lincomb<S, 2>(x, {1.0 + 0.5 * H * c.state, 0.5 * H * c.output}, {&tmp_[0], &out});
        phase_ = phase::eps_half;
        return;
      }
      case phase::eps_half: {  // AB2 half-step predictor onto t1: x − ¾Δ f + ¼Δ f0
        const affine_velocity c = param_.affine(t + 0.5 * H), c0 = param_.affine(t);
        lincomb<S, 4>(
            x, {1.0 + 0.75 * H * c.state, 0.75 * H * c.output, -0.25 * H * c0.state, -0.25 * H * c0.output},
            {&x, &out, &tmp_[0], &history(1)});
        push(out, t + 0.5 * H);
        phase_ = phase::eps_probe;
        return;
      }
      case phase::eps_probe: {  // the predicted state is discarded: one STORK step from (x0, t0)
        const output_polynomial poly = uniform_taylor(0.5 * H, 3);
        collapsed_step(tmp_[0], {&history(2), &history(1), &out, &out}, poly, t, H, x);
        return end_interval();
      }
      case phase::main: {
        main_step(out, x, t, H);
        push(out, t);
        ++main_steps_;
        return end_interval();
      }
      case phase::denoise:  // Tweedie: the reference code omits the division by α (§2.6)
        if constexpr (noise) {
          const affine_velocity c =
              k_.reference() ? affine_velocity{1.0, -param_.sigma(t)} : param_.denoise(t);
          lincomb<S, 2>(x, {c.state, c.output}, {&x, &out});
        }
        phase_ = phase::finished;
        return;
      case phase::finished:
        return;
    }
  }

 private:
  void end_interval() {
    walk_.next();
    if (walk_.done()) {
      if constexpr (noise)
        phase_ = phase::denoise;
      else
        phase_ = phase::finished;
    } else if (!k_.reference() && order_ == 3 && startup_intervals_ < 2) {
      phase_ = phase::rk3_a;
    } else {
      phase_ = phase::main;
    }
  }

  void main_step(const S& out, S& x, double t, double H) {
    output_polynomial poly;
    std::array<const S*, 4> F{&out, &out, &out, &out};
    if (!k_.reference()) {  // Lagrange through the current and up to `order_` past outputs, true times
      const std::size_t n = std::min(count_, order_);
      std::array<double, 4> off{};
      for (std::size_t i = 1; i <= n; ++i) F[i] = &history(i), off[i] = history_time(i) - t;
      poly = output_polynomial::lagrange(off, n + 1);
    } else if constexpr (flow) {  // §2.2: uniform D1, non-uniform D2
      const double h1 = history_time(1) - t, h2 = history_time(2) - history_time(1);
      poly = reference_flow_taylor(h1, h2);
      F[1] = &history(1), F[2] = &history(2);
    } else {  // §2.6: uniform differences with the reference's fixed spacing Δ = τ0 − τ1
      const double delta = walk_.at(0) - walk_.at(1);
      const std::size_t points = main_steps_ >= 2 ? 4 : 3;
      poly = uniform_taylor(main_steps_ == 0 ? 0.5 * delta : delta, points);
      for (std::size_t i = 1; i < points; ++i) F[i] = &history(i);
    }
    collapsed_step(x, F, poly, t, H, x);
  }

  /// x_out = w0·y0 + Σ w_{i+1}·F_i: the whole step as one fused linear combination.
  void collapsed_step(const S& y0, const std::array<const S*, 4>& F, const output_polynomial& poly, double t,
                      double H, S& x_out) {
    const std::array<double, 5> w = collapsed_weights(k_, param_, poly, t, H);
    const std::size_t n = poly.outputs + 1;
    check_weights(std::span<const double>(w.data(), n), t);
    const std::array<const S*, 5> xs{&y0, F[0], F[1], F[2], F[3]};
    state_ops<S>::lincomb(x_out, std::span<const double>(w.data(), n),
                          std::span<const S* const>(xs.data(), n));
  }

  /// Throws stork::error, before anything is changed, when the weights of the step from t overflow:
  /// the velocity polynomial holds powers of the step up to the fourth and of past steps up to the
  /// inverse cube, so steps beyond about 1e±75, or ratios of neighbouring steps beyond about 1e100,
  /// do not fit in double precision.
  void check_weights(std::span<const double> w, double t) const {
    for (const double wi : w)
      if (!std::isfinite(wi))
        fail(k_.name(), "times[" + std::to_string(walk_.interval()) + "]", t,
             "the step to " + describe(walk_.done() ? t : walk_.t1()) +
                 " has non-finite weights in double precision: the grid's steps are too large, too "
                 "small or too different in size for the velocity polynomial");
  }

  /// The k-th most recent stored output (k = 1 is the latest) and its time.
  const S& history(std::size_t k) const noexcept { return hist_[(head_ + capacity_ - (k - 1)) % capacity_]; }
  double history_time(std::size_t k) const noexcept {
    return hist_t_[(head_ + capacity_ - (k - 1)) % capacity_];
  }
  void push(const S& out, double t) {
    head_ = (head_ + 1) % capacity_;
    assign(hist_[head_], out);
    hist_t_[head_] = t;
    count_ = std::min(count_ + 1, capacity_);
  }

  stork_coefficients k_;
  grid_walk walk_;
  P param_;
  velocity_of<S, P> vel_;
  std::size_t order_;
  phase phase_ = phase::main;
  std::size_t capacity_ = 2, head_ = 0, count_ = 0;
  std::vector<S> hist_;
  std::array<double, 3> hist_t_{};
  std::vector<S> tmp_;
  std::size_t startup_intervals_ = 0, main_steps_ = 0;
};

}  // namespace stork::detail

namespace stork {

/// @brief The effective weights Q0..Q3 of a STORK method (stork-reference.md §2.5): in flow mode one step
/// is x_{n+1} = x_n − h[Q0·F0 − h·Q1·D1 + ½h²·Q2·D2 − h³·Q3·D3/6]. The exact integral has
/// (1, 1/2, 1/3, 1/4).
template <class Method>
requires requires { Method::family; }
std::array<double, 4> effective_weights(const Method& m) {
  return detail::stork_coefficients(Method::family, m.stages, m.derivative_order, m.variant)
      .effective_weights();
}

}  // namespace stork
