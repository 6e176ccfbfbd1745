/// @file
/// @brief Time grids: flow-matching sigma schedules (`stork::flow_sigmas`, diffusers'
/// FlowMatchEulerDiscreteScheduler and its options) and the reference's ε grid (`stork::vp_taus`).
#pragma once

#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

/// numpy.linspace(a, b, n): a + i·(b − a)/(n − 1), the last value exactly b; [a] when n = 1.
inline std::vector<double> linspace(double a, double b, std::size_t n) {
  std::vector<double> y(n, a);
  if (n < 2) return y;
  const double step = (b - a) / static_cast<double>(n - 1);
  for (std::size_t i = 0; i < n; ++i) y[i] = a + static_cast<double>(i) * step;
  y[n - 1] = b;
  return y;
}

/// ln Γ(x) for x > 0: Lanczos approximation (g = 7, 9 terms), relative error about 1e-15. Unlike
/// std::lgamma it writes no global (glibc's `signgam`), so flow_sigmas is safe to call from many threads.
inline double log_gamma(double x) {
  constexpr double pi = 3.14159265358979323846;
  if (x < 0.5) return std::log(pi / std::sin(pi * x)) - log_gamma(1.0 - x);  // reflection, 0 < x < 0.5
  constexpr double c[9] = {0.99999999999980993,  676.5203681218851,     -1259.1392167224028,
                           771.32342877765313,   -176.61502916214059,   12.507343278686905,
                           -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7};
  x -= 1.0;
  double a = c[0];
  for (int i = 1; i < 9; ++i) a += c[i] / (x + static_cast<double>(i));
  const double t = x + 7.5;
  return 0.91893853320467274178 + (x + 0.5) * std::log(t) - t + std::log(a);  // ½ ln 2π + …
}

/// Continued fraction of the incomplete beta function (modified Lentz; the Numerical Recipes `betacf`
/// recurrence), converging fast for x < (a + 1)/(a + b + 2). Returns NaN if it has not converged.
inline double beta_continued_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300, eps = 1e-16;
  constexpr int max_iter = 100000;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= max_iter; ++m) {
    const double md = m, m2 = 2.0 * md;
    double aa = md * (b - md) * x / ((qam + m2) * (a + m2));  // even step
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + md) * (qab + md) * x / ((a + m2) * (qap + m2));  // odd step
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) <= eps) return h;
  }
  return std::nan("");
}

/// Regularised incomplete beta function I_x(a, b), a, b > 0, x ∈ [0, 1]; `log_beta` = ln B(a, b).
/// Uses the continued fraction of I_x(a, b) or of 1 − I_{1−x}(b, a), whichever converges fast.
/// NaN when the continued fraction did not converge.
inline double incomplete_beta(double a, double b, double log_beta, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double front = std::exp(a * std::log(x) + b * std::log1p(-x) - log_beta);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

/// Inverse of p ↦ I_x(a, b) (scipy.stats.beta.ppf(p, a, b)) by bisection on [0, 1] to an absolute
/// 1e-17: about 57 evaluations of I. Checked against mpmath: |x − x_true| ≲ 1e-14 for a, b ≤ 1e4
/// (≈ 1e-12 at 1e6, where ln B(a, b) cancels). Throws stork::error if the continued fraction does not
/// converge.
inline double incomplete_beta_inverse(double a, double b, double p) {
  if (p <= 0.0) return 0.0;
  if (p >= 1.0) return 1.0;
  const double log_beta = log_gamma(a) + log_gamma(b) - log_gamma(a + b);
  double lo = 0.0, hi = 1.0;
  while (hi - lo > 1e-17) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    const double i = incomplete_beta(a, b, log_beta, mid);
    if (std::isnan(i))
      fail("flow_sigmas", "beta_alpha", a,
           "the incomplete beta continued fraction did not converge for beta_beta = " + describe(b));
    (i < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

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
  for (std::size_t i = 0; i < sig.size(); ++i) {
    const bool ok = std::isfinite(sig[i]) && sig[i] > 0.0 && (i == 0 || sig[i] < sig[i - 1]);
    if (!ok)
      fail("flow_sigmas", "steps", steps,
           std::string("the ") + std::string(stage) +
               " grid is not positive and strictly decreasing in double " + "precision: sigma[" +
               std::to_string(i) + "] = " + describe(sig[i]) +
               (i == 0 ? std::string() : ", sigma[" + std::to_string(i - 1) + "] = " + describe(sig[i - 1])) +
               "; check shift, mu, num_train_timesteps and the spacing options");
  }
}

/// Largest `steps` of flow_sigmas and vp_taus: a bound on the memory a request can ask for.
inline constexpr int max_schedule_steps = 1000000;

inline void check_flow_schedule(int steps, const flow_schedule& s) {
  if (steps < 1) fail("flow_sigmas", "steps", steps, "needs steps >= 1");
  if (steps > max_schedule_steps) fail("flow_sigmas", "steps", steps, "at most 1000000 steps");
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
/// stork-reference.md §2.1) to 1e-12, in double: u = linspace(1, u_min, N), σ = F(u) with F the static
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
    case sigma_spacing::karras: {
      const double hi_r = std::pow(hi, 1.0 / s.rho), lo_r = std::pow(lo, 1.0 / s.rho);
      const std::vector<double> r = detail::linspace(0.0, 1.0, n);
      for (std::size_t i = 0; i < n; ++i) sig[i] = std::pow(hi_r + r[i] * (lo_r - hi_r), s.rho);
      break;
    }
    case sigma_spacing::exponential: {
      const std::vector<double> l = detail::linspace(std::log(hi), std::log(lo), n);
      for (std::size_t i = 0; i < n; ++i) sig[i] = std::exp(l[i]);
      break;
    }
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

/// @brief Options of `vp_taus`.
struct vp_grid {
  double eps_stop = 1e-3;  ///< the last τ, 0 < eps_stop < 1/N (the reference's `stopping_eps`)
};

/// @brief The STORK reference's ε-prediction grid (stork-reference.md §2.6): the N values
/// [(N−1)/N, (N−2)/N, …, 1/N, eps_stop], decreasing τ in (0, 1). It starts at (N−1)/N, not at 1.
/// @par Cost: O(N). Throws stork::error for steps outside [2, 10⁶] or eps_stop outside (0, 1/N).
inline std::vector<double> vp_taus(int steps, const vp_grid& g = {}) {
  if (steps < 2) detail::fail("vp_taus", "steps", steps, "needs steps >= 2");
  if (steps > detail::max_schedule_steps) detail::fail("vp_taus", "steps", steps, "at most 1000000 steps");
  const double nd = static_cast<double>(steps);
  if (!(std::isfinite(g.eps_stop) && g.eps_stop > 0.0 && g.eps_stop < 1.0 / nd))
    detail::fail("vp_taus", "eps_stop", g.eps_stop,
                 "needs 0 < eps_stop < 1/steps = " + detail::describe(1.0 / nd));
  std::vector<double> t;
  t.reserve(static_cast<std::size_t>(steps));
  for (int k = steps - 1; k >= 1; --k) t.push_back(static_cast<double>(k) / nd);
  t.push_back(g.eps_stop);
  return t;
}

}  // namespace stork
