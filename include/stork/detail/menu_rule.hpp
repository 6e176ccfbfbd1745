/// @file
/// @brief Internal: what the samplers of stable-diffusion.cpp's menu (ddim_trailing, dpmpp_2s_ancestral,
/// res_2s, er_sde, lcm, tcd) share — which of sd.cpp's two rules a parameterisation gets (VE or flow), the
/// grid as that rule sees it, and the process time of a stage σ.
///
/// stable-diffusion.cpp (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp, commit 97d2990807fe) runs
/// every model in one σ space: x = x₀ + σ·ε for the denoisers (VE; SD1/SD2/SDXL ε and v models are wrapped
/// as VE denoisers), x = (1 − σ)·x₀ + σ·ε for the flow denoisers (src/stable-diffusion.cpp,
/// `is_flow_denoiser()`: the denoiser is a `DiscreteFlowDenoiser`, i.e. SD3, FLUX, Wan, …). Its samplers take
/// `is_flow_denoiser` and switch the noise rule on it. Here:
/// - a parameterisation whose process is `rectified_flow` (`model<rectified_flow>`, `flow_velocity`, a plain
///   velocity field) gets the flow rule, on x and σ = t as they are;
/// - every other process gets the VE rule in the VE coordinates x/α, σ/α (for `ve` that is x and σ
///   themselves; a VP model is then sampled as the VE run of the equivalent model, as `euler_ancestral`
///   and the DPM-Solver++ SDEs do).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "stork/detail/data_prediction.hpp"
#include "stork/detail/span.hpp"
#include "stork/error.hpp"
#include "stork/model/rectified_flow.hpp"
#include "stork/model/ve.hpp"

namespace stork::detail {

/// The type of `p.process` (void when P has none).
template <class P, class = void>
struct process_type_of {
  using type = void;
};
template <class P>
struct process_type_of<P, std::void_t<decltype(std::declval<const P&>().process)>> {
  using type = std::decay_t<decltype(std::declval<const P&>().process)>;
};

/// True when the parameterisation's process is `rectified_flow`: stable-diffusion.cpp's flow rule.
template <class P>
inline constexpr bool sd_flow_rule_v = std::is_same_v<typename process_type_of<P>::type, rectified_flow>;

/// True when the rule's σ is the process time itself (`ve` and `rectified_flow`): a stage σ needs no search.
template <class P>
inline constexpr bool sd_sigma_is_time_v =
    sd_flow_rule_v<P> || std::is_same_v<typename process_type_of<P>::type, ve>;

/// @brief The user's grid as an sd.cpp rule sees it: per grid point the σ of the rule (flow: σ = t; VE
/// rule: σ/α) and the factor from the rule's coordinates to x (flow 1, VE rule α: x = α·x_VE). Validates the
/// grid as `log_snr_grid` does (σ/α must decrease strictly).
class rule_grid {
 public:
  template <class P>
  rule_grid(stork::span<const double> times, const P& p, std::string_view who, bool flow)
      : grid_(times, p, who) {
    const std::size_t n = times.size();
    sigma_.resize(n), scale_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      sigma_[i] = flow ? grid_.sigma(i) : grid_.sigma(i) / grid_.alpha(i);
      scale_[i] = flow ? 1.0 : grid_.alpha(i);
    }
  }
  /// The σ the rule sees at grid point i.
  double sigma(std::size_t i) const noexcept { return sigma_[i]; }
  /// x = scale·x_rule at grid point i.
  double scale(std::size_t i) const noexcept { return scale_[i]; }
  /// The process's σ at grid point i.
  double process_sigma(std::size_t i) const noexcept { return grid_.sigma(i); }
  /// True when the grid ends at σ = 0.
  bool ends_at_data() const noexcept { return grid_.ends_at_data(); }

 private:
  log_snr_grid grid_;
  std::vector<double> sigma_, scale_;
};

/// A model evaluation inside an interval: its process time, the rule's σ there and x = scale·x_rule.
struct rule_stage {
  double time, sigma, scale;
};

/// @brief The process time at which the rule's σ equals `target`, searched between the grid times t_from
/// (rule σ above the target) and t_end (the grid's last time). `ve` and `rectified_flow`: t = target.
/// Other processes (VP): bisection on log(σ/α) to double precision; the stage then uses the process's own
/// σ/α at the time found. A target within a relative 1e-9 beyond the grid's end (η = 1 puts the stage at
/// σ_{n+1}, up to rounding) is the end; one further beyond throws stork::error.
template <class P>
rule_stage stage_at(const P& p, bool flow, double target, double t_from, double t_end, std::string_view who,
                    std::size_t n) {
  if constexpr (sd_sigma_is_time_v<P>) {
    (void)t_from, (void)t_end, (void)who, (void)n;
    return {target, target, flow ? 1.0 : p.alpha(target)};
  } else {
    const double goal = std::log(target);
    auto g = [&p](double t) { return std::log(p.sigma(t)) - std::log(p.alpha(t)); };
    double hi = t_from, lo = t_end;  // g(hi) >= goal > g(lo) (the noisy end, the data end)
    const double g_end = g(lo);
    if (g_end > goal && g_end - goal < 1e-9) return {lo, p.sigma(lo) / p.alpha(lo), p.alpha(lo)};  // rounding
    if (!(g_end <= goal))
      fail(who, "times[" + std::to_string(n) + "]", t_from,
           "the stage at sigma/alpha = " + describe(target) +
               " lies beyond the grid's last point (eta > 1 on a grid that does not end at data): use eta "
               "<= 1 or a grid that ends at data");
    for (int it = 0; it < 200; ++it) {
      const double mid = 0.5 * (hi + lo);
      if (mid == hi || mid == lo) break;
      (g(mid) >= goal ? hi : lo) = mid;
    }
    const double t = std::abs(g(hi) - goal) <= std::abs(g(lo) - goal) ? hi : lo;
    return {t, p.sigma(t) / p.alpha(t), p.alpha(t)};
  }
}

}  // namespace stork::detail
