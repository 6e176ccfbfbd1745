/// @file
/// @brief `stork::flow_sigmas`: the flow-matching sigma grid of diffusers' FlowMatchEulerDiscreteScheduler
/// and its options (static and dynamic shift, shift_terminal, karras / exponential / beta spacing,
/// sigma_last, custom lists).
#pragma once

#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stork/detail/schedule_check.hpp"
#include "stork/detail/schedule_math.hpp"
#include "stork/error.hpp"

namespace stork {

/// @brief Formula of the dynamic (resolution-dependent) shift with parameter μ (diffusers'
/// `time_shift_type`).
enum class time_shift {
  exponential,  ///< σ = e^μ / (e^μ + (1/u − 1)), the same map as a static shift S = e^μ (SD3, Flux)
  linear        ///< σ = μ / (μ + (1/u − 1)), the same map as a static shift S = μ; needs μ > 0
};

/// @brief How the sigmas are spread between the shifted end points σ_0 and σ_{N−1}.
enum class sigma_spacing {
  linear,  ///< the shifted grid itself (diffusers' default)
  karras,  ///< (σ_max^{1/ρ} + r(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, r = linspace(0, 1, N) (`use_karras_sigmas`)
  exponential,  ///< uniform in log σ (`use_exponential_sigmas`)
  beta          ///< σ_min + I⁻¹_{α,β}(1 − i/(N−1))·(σ_max − σ_min) (`use_beta_sigmas`)
};

/// @brief Options of `flow_sigmas`. The defaults reproduce diffusers' FlowMatchEulerDiscreteScheduler
/// (shift 1, 1000 training steps), double shift of σ_min included.
///
/// Every field is validated on each call, used by the chosen options or not.
struct flow_schedule {
  /// Static shift S: σ = S·u / (1 + (S − 1)·u). S > 0, finite. Ignored when `mu` is set.
  double shift = 1.0;
  /// Dynamic (resolution-dependent) shift μ, diffusers' `use_dynamic_shifting` with `mu`; when set,
  /// `shift` is ignored and the training σ_min is not shifted (as in diffusers).
  std::optional<double> mu = std::nullopt;
  /// Formula used with `mu`.
  stork::time_shift time_shift = stork::time_shift::exponential;
  /// Spacing applied after the shift (and the `shift_terminal` stretch).
  stork::sigma_spacing spacing = stork::sigma_spacing::linear;
  /// Karras ρ > 0.
  double rho = 7.0;
  /// Parameters α, β > 0 of the beta spacing (diffusers' defaults 0.6, 0.6).
  double beta_alpha = 0.6, beta_beta = 0.6;
  /// diffusers' `shift_terminal` t ∈ (0, 1): σ ← 1 − (1 − σ)/k with k such that the last nonzero σ becomes t.
  std::optional<double> shift_terminal = std::nullopt;
  /// Number of training timesteps T ≥ 1; the unshifted grid ends at u = 1/T.
  int num_train_timesteps = 1000;
  /// true: the grid's low end is F(F(1/T)) (σ_min shifted twice), bit-for-bit the formula of diffusers
  /// and of the STORK reference; false: the clean grid, whose last nonzero σ is F(1/T).
  bool diffusers_parity = true;
  /// Put the last nonzero σ exactly here, 0 < sigma_last < 1 (the unshifted end point is F⁻¹(sigma_last)).
  /// Needs steps ≥ 2; cannot be combined with `shift_terminal` or a custom `sigmas` list.
  std::optional<double> sigma_last = std::nullopt;
  /// A custom list replacing u = linspace(1, u_min, N) (it is shifted like u): strictly decreasing, in
  /// (0, 1], with exactly `steps` entries.
  std::vector<double> sigmas = {};
};

namespace detail {

/// The shift map u ↦ σ of a flow_schedule (static S, or dynamic μ) and its inverse. F(1) = 1 exactly.
struct flow_shift_map {
  enum class kind { fixed, exponential, linear } k = kind::fixed;
  double s = 1.0;       // static shift S
  double mu = 0.0;      // μ (linear), or
  double exp_mu = 1.0;  // e^μ (exponential)

  explicit flow_shift_map(const flow_schedule& sc) : s(sc.shift) {
    if (!sc.mu) return;
    mu = *sc.mu;
    k = sc.time_shift == stork::time_shift::linear ? kind::linear : kind::exponential;
    exp_mu = std::exp(mu);
  }
  /// σ = F(u), u ∈ (0, 1]. Static: S·u/(S·u + (1 − u)) (= S·u/(1 + (S − 1)u), exact at u = 1).
  double operator()(double u) const {
    if (u == 1.0) return 1.0;
    switch (k) {
      case kind::fixed:
        return s * u / (s * u + (1.0 - u));
      case kind::exponential:
        return exp_mu / (exp_mu + (1.0 / u - 1.0));
      case kind::linear:
        return mu / (mu + (1.0 / u - 1.0));
    }
    return u;
  }
  /// u = F⁻¹(σ), σ ∈ (0, 1).
  double inverse(double sigma) const {
    switch (k) {
      case kind::fixed:
        return sigma / (s * (1.0 - sigma) + sigma);  // σ/(S − (S − 1)σ)
      case kind::exponential:
        return 1.0 / (1.0 + exp_mu * (1.0 / sigma - 1.0));
      case kind::linear:
        return 1.0 / (1.0 + mu * (1.0 / sigma - 1.0));
    }
    return sigma;
  }
};

/// Throws unless v is finite and lo < v < hi (open) or lo < v <= hi (`closed_hi`).
inline void check_flow_range(std::string_view param, double v, double lo, double hi, bool closed_hi,
                             std::string_view why) {
  const bool ok = std::isfinite(v) && v > lo && (closed_hi ? v <= hi : v < hi);
  if (!ok) fail("flow_sigmas", param, v, why);
}

/// Throws unless sig is finite, positive and strictly decreasing; `stage` says which step produced it.
inline void check_flow_sigmas(const std::vector<double>& sig, int steps, std::string_view stage) {
  check_decreasing_sigmas("flow_sigmas", steps, sig, stage,
                          "check shift, mu, num_train_timesteps and the spacing options");
}

inline void check_flow_schedule(int steps, const flow_schedule& s) {
  check_schedule_steps("flow_sigmas", steps, 1);
  if (!(std::isfinite(s.shift) && s.shift > 0.0))
    fail("flow_sigmas", "shift", s.shift, "needs a finite shift > 0");
  if (s.time_shift != stork::time_shift::exponential && s.time_shift != stork::time_shift::linear)
    fail("flow_sigmas", "time_shift", static_cast<int>(s.time_shift), "not a stork::time_shift value");
  if (s.mu) {
    if (!std::isfinite(*s.mu)) fail("flow_sigmas", "mu", *s.mu, "needs a finite mu");
    if (s.time_shift == stork::time_shift::linear && !(*s.mu > 0.0))
      fail("flow_sigmas", "mu", *s.mu, "the linear time shift mu/(mu + 1/u - 1) needs mu > 0");
  }
  switch (s.spacing) {
    case sigma_spacing::linear:
    case sigma_spacing::karras:
    case sigma_spacing::exponential:
    case sigma_spacing::beta:
      break;
    default:
      fail("flow_sigmas", "spacing", static_cast<int>(s.spacing), "not a stork::sigma_spacing value");
  }
  if (!(std::isfinite(s.rho) && s.rho > 0.0)) fail("flow_sigmas", "rho", s.rho, "needs a finite rho > 0");
  if (!(std::isfinite(s.beta_alpha) && s.beta_alpha > 0.0))
    fail("flow_sigmas", "beta_alpha", s.beta_alpha, "needs a finite beta_alpha > 0");
  if (!(std::isfinite(s.beta_beta) && s.beta_beta > 0.0))
    fail("flow_sigmas", "beta_beta", s.beta_beta, "needs a finite beta_beta > 0");
  if (s.shift_terminal)
    check_flow_range("shift_terminal", *s.shift_terminal, 0.0, 1.0, false, "needs 0 < shift_terminal < 1");
  if (s.num_train_timesteps < 1)
    fail("flow_sigmas", "num_train_timesteps", s.num_train_timesteps, "needs num_train_timesteps >= 1");
  if (s.sigma_last) {
    check_flow_range("sigma_last", *s.sigma_last, 0.0, 1.0, false, "needs 0 < sigma_last < 1");
    if (s.shift_terminal)
      fail("flow_sigmas", "sigma_last", *s.sigma_last,
           "cannot be combined with shift_terminal = " + describe(*s.shift_terminal) +
               ", which also sets the last nonzero sigma");
    if (!s.sigmas.empty())
      fail("flow_sigmas", "sigma_last", *s.sigma_last, "cannot be combined with a custom sigmas list");
    if (steps < 2)
      fail("flow_sigmas", "steps", steps,
           "sigma_last needs steps >= 2 (with one step the only nonzero sigma is 1)");
  }
  if (!s.sigmas.empty()) {
    if (s.sigmas.size() != static_cast<std::size_t>(steps))
      fail("flow_sigmas", "steps", steps,
           "a custom sigmas list needs steps == sigmas.size() = " + std::to_string(s.sigmas.size()));
    for (std::size_t i = 0; i < s.sigmas.size(); ++i) {
      const std::string name = "sigmas[" + std::to_string(i) + "]";
      check_flow_range(name, s.sigmas[i], 0.0, 1.0, true, "custom sigmas must be finite and in (0, 1]");
      if (i > 0 && !(s.sigmas[i] < s.sigmas[i - 1]))
        fail("flow_sigmas", name, s.sigmas[i],
             "custom sigmas must be strictly decreasing, sigmas[" + std::to_string(i - 1) +
                 "] = " + describe(s.sigmas[i - 1]));
    }
  } else if (s.num_train_timesteps == 1 && steps >= 2 && !s.sigma_last) {
    fail("flow_sigmas", "num_train_timesteps", s.num_train_timesteps,
         "the training grid ends at u = 1/T = 1, so steps = " + std::to_string(steps) +
             " >= 2 would repeat sigma = 1");
  }
}

}  // namespace detail

/// @brief The flow-matching sigma grid for `steps` = N steps: N + 1 values, strictly decreasing from
/// σ_0 (1 unless a custom list or spacing says otherwise) to a final 0.
///
/// Reproduces diffusers' FlowMatchEulerDiscreteScheduler.set_timesteps (the STORK reference's flow grid,
/// docs/reference.md §2.1) to 1e-12, in double: u = linspace(1, u_min, N), σ = F(u) with F the static
/// shift S·u/(1 + (S − 1)u) or the dynamic shift with μ; u_min = F(1/T) (σ_min shifted twice, when
/// `diffusers_parity` and no μ), 1/T (clean variant, or with μ), F⁻¹(sigma_last), or the custom list
/// replaces u. Then the `shift_terminal` stretch, then karras / exponential / beta spacing between
/// σ_0 and σ_{N−1}; 0 is appended. Example: N = 10, S = 3 gives
/// 1, .96013, .91335, .85769, .79037, .70728, .60215, .46488, .27805, .00893, 0.
/// @par Cost: O(N); the beta spacing adds about 57 incomplete-beta evaluations (a continued fraction of
/// O(√max(α, β)) terms) per sigma. Throws stork::error, naming the field, for any invalid option
/// (steps outside [1, 10⁶] included).
inline std::vector<double> flow_sigmas(int steps, const flow_schedule& s = {}) {
  detail::check_flow_schedule(steps, s);
  const auto n = static_cast<std::size_t>(steps);
  const detail::flow_shift_map shift(s);

  std::vector<double> u;
  if (!s.sigmas.empty()) {
    u = s.sigmas;
  } else {
    const double u_train = 1.0 / static_cast<double>(s.num_train_timesteps);
    double u_min = u_train;  // clean grid; dynamic shift (never at init)
    if (s.sigma_last)
      u_min = shift.inverse(*s.sigma_last);  // lands on sigma_last after the shift
    else if (s.diffusers_parity && !s.mu)
      u_min = shift(u_train);  // diffusers' σ_min, shifted again below
    u = detail::linspace(1.0, u_min, n);
  }

  std::vector<double> sig(n);
  for (std::size_t i = 0; i < n; ++i) sig[i] = shift(u[i]);
  if (s.sigma_last) sig[n - 1] = *s.sigma_last;  // F(F⁻¹(σ)) may be off by an ulp
  detail::check_flow_sigmas(sig, steps, "shifted");

  if (s.shift_terminal) {  // diffusers' stretch_shift_to_terminal
    if (!(sig[n - 1] < 1.0))
      detail::fail("flow_sigmas", "steps", steps,
                   "shift_terminal needs a last nonzero sigma below 1 to stretch (use steps >= 2)");
    const double scale = (1.0 - sig[n - 1]) / (1.0 - *s.shift_terminal);
    for (double& v : sig) v = 1.0 - (1.0 - v) / scale;
    detail::check_flow_sigmas(sig, steps, "stretched");
  }

  const double hi = sig.front(), lo = sig.back();
  switch (s.spacing) {
    case sigma_spacing::linear:
      break;
    case sigma_spacing::karras:  // the ramp of karras_sigmas
      sig = detail::karras_ramp(hi, lo, s.rho, n);
      break;
    case sigma_spacing::exponential:  // the ramp of exponential_sigmas
      sig = detail::log_uniform_ramp(hi, lo, n);
      break;
    case sigma_spacing::beta: {
      const std::vector<double> r = detail::linspace(0.0, 1.0, n);
      for (std::size_t i = 0; i < n; ++i)
        sig[i] = lo + detail::incomplete_beta_inverse(s.beta_alpha, s.beta_beta, 1.0 - r[i]) * (hi - lo);
      break;
    }
  }
  if (s.sigma_last) sig[n - 1] = *s.sigma_last;
  if (s.spacing != sigma_spacing::linear) detail::check_flow_sigmas(sig, steps, "spaced");

  sig.push_back(0.0);
  return sig;
}

}  // namespace stork
