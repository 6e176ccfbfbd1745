/// @file
/// @brief `stork::lcm` and `stork::tcd`: the consistency-model samplers of stable-diffusion.cpp (Latent
/// Consistency Models, Trajectory Consistency Distillation), the noise drawn by the engine.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stork/detail/data_prediction.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/menu_rule.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/stochastic.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork {
namespace detail {
template <class S, class P>
class lcm_stepper;
template <class S, class P>
class tcd_stepper;
}  // namespace detail

/// @brief LCM (Luo et al. 2023, "Latent Consistency Models", arXiv 2310.04378, multistep sampling):
/// stable-diffusion.cpp's `sample_lcm` (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp). Each step
/// jumps to the data prediction and re-noises it to the next grid point (sd.cpp's default grid for it is its
/// "lcm" scheduler). Stochastic: the engine supplies the noise.
///
/// With D the data prediction at (x_n, t_n): x_{n+1} = α_{n+1}·D + σ_{n+1}·s_n·z, z ~ N(0, I) from the
/// engine, s_n = noise_scale_start + (noise_scale_end − noise_scale_start)·n/(N − 1) (N intervals; s_0 when
/// N = 1). That is sd.cpp's VE rule (x = D + σ_{n+1}·s_n·z) and its flow rule (x = (1 − σ_{n+1})·D +
/// σ_{n+1}·s_n·z) alike, and every other process's VE rule in x/α. The interval ending at σ = 0 is x = D.
/// sd.cpp's extra argument `noise_clip_std` (clip the draw to ±c times its own standard deviation) is a
/// transformation of the draw: an engine that wants it applies it in its noise source.
///
/// The noise source is called once per interval with σ_{n+1} > 0, in grid order, before anything changes,
/// unless both noise scales are 0 (then never; the draw is taken on an interval whose own s_n is 0, as
/// sd.cpp does). The grid's σ/α must decrease strictly.
/// @par Cost: 1 model call per step; one pass over memory per step (x̂₀ folded in) plus the draw;
/// 1 temporary (the draw).
struct lcm {
  /// The scale of the draw on the first interval (sd.cpp's `noise_scale_start`); finite, >= 0.
  double noise_scale_start = 1.0;
  /// The scale on the last interval (sd.cpp's `noise_scale_end`); when unset, `noise_scale_start` (as
  /// sd.cpp); finite, >= 0.
  std::optional<double> noise_scale_end = std::nullopt;
  static constexpr bool stochastic = true;
  template <class S, class P, class Ops>
  using stepper = detail::lcm_stepper<S, P>;
};

/// @brief TCD (Zheng et al. 2024, "Trajectory Consistency Distillation", arXiv 2402.19159, strategic
/// stochastic sampling): stable-diffusion.cpp's `sample_tcd` (leejet/stable-diffusion.cpp,
/// src/runtime/denoiser.hpp; sd.cpp's default grid for it is its "lcm" scheduler). Stochastic: the engine
/// supplies the noise.
///
/// sd.cpp looks timesteps up in the DDPM table of Stable Diffusion (scaled-linear β from 0.00085 to 0.012
/// over 1000 steps, ᾱ_i = Π_{j≤i}(1 − β_j), σ_i = √((1 − ᾱ_i)/ᾱ_i); the options below, default sd.cpp's). In
/// the rule's σ (VE rule: `ve` and every process but `rectified_flow`, in the VE coordinates x/α, σ/α; flow:
/// `rectified_flow`'s σ = t as it is — sd.cpp runs sample_tcd unchanged for flow denoisers), with D the data
/// prediction at (x_n, σ_n): i = the table index whose σ_i is nearest σ_{n+1} (sd.cpp's lower_bound and
/// tie rule), s = ⌊(1 − η)·i⌋, ᾱ_p = 1/(σ²_{n+1} + 1), ᾱ_s = ᾱ[s],
/// x' = √(ᾱ_s/ᾱ_p)·D + √((1 − ᾱ_s)/ᾱ_p)·(x_n − D)/σ_n; when η > 0 and σ_{n+1} > 0,
/// x_{n+1} = √(ᾱ_p/ᾱ_s)·x' + √(1/ᾱ_p − 1/ᾱ_s)·z (z ~ N(0, I) from the engine), else x_{n+1} = x'. η is
/// TCD's γ (sd.cpp passes its eta; default 0 there and here; the paper's default is 0.3). Where
/// 1/ᾱ_p − 1/ᾱ_s < 0 (σ_{n+1} at or below the table's σ_s, e.g. below σ_0 ≈ 0.029: sd.cpp's output is NaN)
/// the noise weight is 0. Even the interval ending at σ = 0 keeps sd.cpp's arithmetic: i = 0, so x =
/// √ᾱ_0·D + √(1 − ᾱ_0)·ε̂, not D.
///
/// The noise source is called once per interval with σ_{n+1} > 0 when η > 0, in grid order, before anything
/// changes. The grid's σ/α must decrease strictly.
/// @par Cost: 1 model call per step; one pass over memory per step (x̂₀ folded in) plus the draw;
/// 1 temporary (the draw) when η > 0. The constructor builds the O(T) table once.
struct tcd {
  /// TCD's γ (sd.cpp's eta): 0 deterministic (sd.cpp's default), up to 1; in [0, 1].
  double eta = 0.0;
  /// The DDPM table the timesteps are looked up in (sd.cpp's constants): T >= 2, 0 < β < 1.
  int num_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
  static constexpr bool stochastic = true;
  template <class S, class P, class Ops>
  using stepper = detail::tcd_stepper<S, P>;
};

namespace detail {

template <class S, class P>
class lcm_stepper {
  static_assert(is_data_prediction_v<P>,
                "stork: lcm needs a parameterisation with alpha(t), sigma(t) and denoise(t): use "
                "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) "
                "with integrate); a plain velocity field is read as rectified flow");

 public:
  template <class Ops>
  lcm_stepper(const lcm& m, stork::span<const double> times, const S& x, const P& p, Ops& ops)
      : start_(checked_scale("noise_scale_start", m.noise_scale_start)),
        end_(checked_scale("noise_scale_end", m.noise_scale_end.value_or(m.noise_scale_start))),
        walk_(times, name),
        grid_(times, p, name),
        param_(p),
        noise_(start_ != 0.0 || end_ != 0.0, x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }

  /// x = α_{n+1}·D + σ_{n+1}·s_n·z in one fused pass.
  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, S& x, Noise& noise) {
    const std::size_t n = walk_.interval(), intervals = walk_.intervals();
    const affine_velocity c = param_.denoise(walk_.t0());
    const double at = grid_.alpha(n + 1), st = grid_.sigma(n + 1);
    const double frac = intervals > 1 ? static_cast<double>(n) / static_cast<double>(intervals - 1) : 0.0;
    const bool noisy = st > 0.0 && noise_.active();
    const std::array<double, 3> coef{at * c.state, at * c.output,
                                     noisy ? st * (start_ + (end_ - start_) * frac) : 0.0};
    check_step_weights(name, coef, n, walk_.t0(), walk_.t1(), stochastic_weights_overflow);
    if (noisy) {
      const S& z = noise_.draw(noise, ops, x, walk_.t0(), walk_.t1());  // before anything changes
      comb<3>(ops, x, coef, {&x, &out, &z});
    } else {
      comb<2>(ops, x, {coef[0], coef[1]}, {&x, &out});
    }
    walk_.next();
  }

 private:
  static constexpr const char* name = "lcm";
  static double checked_scale(const char* param, double v) {
    if (!(v >= 0.0) || !std::isfinite(v))
      fail(name, param, v, "the noise scale multiplies each draw: it must be finite and >= 0");
    return v;
  }

  double start_, end_;
  grid_walk walk_;
  log_snr_grid grid_;
  P param_;
  noise_buffer<S> noise_;
};

template <class S, class P>
class tcd_stepper {
  static_assert(is_data_prediction_v<P>,
                "stork: tcd needs a parameterisation with alpha(t), sigma(t) and denoise(t): use "
                "stork::model<Process>{.process, .prediction} (or stork::field(model, process, prediction) "
                "with integrate); a plain velocity field is read as rectified flow");
  static constexpr bool flow = sd_flow_rule_v<P>;

  /// x_{n+1} = cx·x_n + cd·D + cz·z.
  struct step_plan {
    double cx, cd, cz;
    bool noisy;
  };

 public:
  template <class Ops>
  tcd_stepper(const tcd& m, stork::span<const double> times, const S& x, const P& p, Ops& ops)
      : eta_(checked_gamma(m.eta)),
        walk_(times, name),
        plan_(make_plan(m, times, p)),
        param_(p),
        noise_(eta_ > 0.0, x, ops) {}

  double time() const noexcept { return walk_.t0(); }
  bool done() const noexcept { return walk_.done(); }
  std::size_t interval() const noexcept { return walk_.interval(); }
  static constexpr bool at_grid_point() noexcept { return true; }

  template <class Ops, class Noise>
  void advance(Ops& ops, const S& out, S& x, Noise& noise) {
    const std::size_t n = walk_.interval();
    const step_plan& q = plan_[n];
    const affine_velocity c = param_.denoise(walk_.t0());
    const std::array<double, 3> coef{q.cx + q.cd * c.state, q.cd * c.output, q.cz};
    check_step_weights(name, stork::span<const double>(coef.data(), q.noisy ? 3 : 2), n, walk_.t0(),
                       walk_.t1(), stochastic_weights_overflow);
    if (q.noisy) {
      const S& z = noise_.draw(noise, ops, x, walk_.t0(), walk_.t1());  // before anything changes
      comb<3>(ops, x, coef, {&x, &out, &z});
    } else {
      comb<2>(ops, x, {coef[0], coef[1]}, {&x, &out});
    }
    walk_.next();
  }

 private:
  static constexpr const char* name = "tcd";

  static double checked_gamma(double eta) {
    if (!(eta >= 0.0 && eta <= 1.0))
      fail(name, "eta", eta, "TCD's gamma picks the timestep floor((1 - eta)*t): it must lie in [0, 1]");
    return eta;
  }

  /// Every interval's weights, from sd.cpp's table lookups (the table is needed only here).
  std::vector<step_plan> make_plan(const tcd& m, stork::span<const double> times, const P& p) const {
    const int t_count = m.num_train_timesteps;
    if (t_count < 2 || t_count > 1000000)
      fail(name, "num_train_timesteps", t_count, "the DDPM table needs 2 to 1000000 timesteps");
    for (const auto& [param, v] : {std::pair<const char*, double>{"beta_start", m.beta_start},
                                   std::pair<const char*, double>{"beta_end", m.beta_end}})
      if (!(v > 0.0 && v < 1.0)) fail(name, param, v, "a DDPM beta must lie in (0, 1)");
    const auto count = static_cast<std::size_t>(t_count);
    std::vector<double> alpha_bar(count), table_sigma(count);
    const double lo = std::sqrt(m.beta_start), hi = std::sqrt(m.beta_end);
    for (std::size_t i = 0; i < count; ++i) {
      const double root = lo + (hi - lo) * (static_cast<double>(i) / static_cast<double>(count - 1));
      alpha_bar[i] = (i == 0 ? 1.0 : alpha_bar[i - 1]) * (1.0 - root * root);
      table_sigma[i] = std::sqrt((1.0 - alpha_bar[i]) / alpha_bar[i]);
    }
    // sd.cpp's get_timestep_from_sigma: the nearer of the two table entries around s (the lower on a tie).
    auto timestep_of = [&](double s) -> std::size_t {
      const auto it = std::lower_bound(table_sigma.begin(), table_sigma.end(), s);
      if (it == table_sigma.begin()) return 0;
      if (it == table_sigma.end()) return count - 1;
      const auto high = static_cast<std::size_t>(it - table_sigma.begin());
      return std::abs(table_sigma[high] - s) < std::abs(table_sigma[high - 1] - s) ? high : high - 1;
    };
    const rule_grid g(times, p, name, flow);
    std::vector<step_plan> plan(times.size() - 1);
    for (std::size_t n = 0; n + 1 < times.size(); ++n) {
      const double s0 = g.sigma(n), s1 = g.sigma(n + 1), a = g.scale(n), b = g.scale(n + 1);
      const std::size_t prev = timestep_of(s1);
      const auto s = static_cast<std::size_t>(std::floor((1.0 - eta_) * static_cast<double>(prev)));
      const double ab_prev = 1.0 / (s1 * s1 + 1.0), ab_s = alpha_bar[s];
      const double to_d = std::sqrt(ab_s / ab_prev), to_eps = std::sqrt((1.0 - ab_s) / ab_prev);
      // x' = to_d·D + to_eps·(x_rule − D)/σ_n, x_rule = x/a
      double keep = 1.0, cz = 0.0;
      const bool noisy = eta_ > 0.0 && s1 > 0.0;
      if (noisy)
        keep = std::sqrt(ab_prev / ab_s), cz = b * std::sqrt(std::max(1.0 / ab_prev - 1.0 / ab_s, 0.0));
      plan[n] = {b * keep * to_eps / (s0 * a), b * keep * (to_d - to_eps / s0), cz, noisy};
    }
    return plan;
  }

  double eta_;
  grid_walk walk_;
  std::vector<step_plan> plan_;
  P param_;
  noise_buffer<S> noise_;
};

}  // namespace detail
}  // namespace stork
