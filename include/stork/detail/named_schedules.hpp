/// @file
/// @brief Internal: the σ schedules that `stork::sigmas_from_name` offers, one function each, written from
/// stable-diffusion.cpp's schedulers (src/runtime/denoiser.hpp, commit 97d2990) and, for ddim_uniform and
/// linear_quadratic, ComfyUI's (comfy/samplers.py). Each returns the whole list, final 0 included; the
/// caller validates the arguments and the result.
///
/// Precision: stable-diffusion.cpp computes in float, stork in double. Where float arithmetic picks an
/// integer (a training timestep, a stage length), the same float operations are done here, so that the
/// same integers are picked; every σ is then computed in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "stork/detail/noise_level_tables.hpp"
#include "stork/detail/schedule_math.hpp"
#include "stork/model/vp_discrete.hpp"
#include "stork/schedule/exponential_sigmas.hpp"
#include "stork/schedule/karras_sigmas.hpp"

namespace stork::detail {

/// Training timesteps of stable-diffusion.cpp's discrete flow models (its TIMESTEPS).
inline constexpr std::size_t flow_train_timesteps = 1000;

/// @brief σ of a fractional training timestep t ∈ [0, T − 1] of the model a schedule_context describes:
/// stable-diffusion.cpp's `Denoiser::t_to_sigma`, with `sigma_min()` = σ(0), `sigma_max()` = σ(T − 1).
///
/// - a discrete ε/v model's table (`CompVisDenoiser`): log σ interpolated linearly between the table's
///   integer timesteps (vp_discrete::sigma_of_timestep), T = the table's size;
/// - a discrete flow model with shift s (`DiscreteFlowDenoiser`): σ = s·u/(1 + (s − 1)·u) with
///   u = (t + 1)/1000 (`time_snr_shift`), T = 1000.
///
/// t is clamped to [0, T − 1] (the round-off of the callers' t = t_max − step·i can leave it a few ulp
/// outside; stable-diffusion.cpp would read outside its table there).
struct timestep_sigma {
  const vp_discrete* table = nullptr;
  double shift = 0.0;

  std::size_t timesteps() const noexcept {
    return table != nullptr ? table->num_train_timesteps() : flow_train_timesteps;
  }
  double t_max() const noexcept { return static_cast<double>(timesteps() - 1); }
  double operator()(double t) const {
    const double hi = t_max();
    if (!(t > 0.0)) t = 0.0;
    if (t > hi) t = hi;
    if (table != nullptr) return table->sigma_of_timestep(t);
    const double u = (t + 1.0) / static_cast<double>(flow_train_timesteps);
    return shift == 1.0 ? u : shift * u / (1.0 + (shift - 1.0) * u);
  }
  double sigma_min() const { return (*this)(0.0); }
  double sigma_max() const { return (*this)(t_max()); }
};

/// stable-diffusion.cpp `DiscreteScheduler`: n σ at t = t_max − i·t_max/(n − 1) (t_max alone for n = 1), then
/// 0.
inline std::vector<double> discrete_schedule(int n, const timestep_sigma& m) {
  const std::size_t count = static_cast<std::size_t>(n);
  std::vector<double> sig;
  sig.reserve(count + 1);
  const double t_max = m.t_max();
  if (n == 1) {
    sig.push_back(m(t_max));
  } else {
    const double step = t_max / static_cast<double>(n - 1);
    for (std::size_t i = 0; i < count; ++i) sig.push_back(m(t_max - step * static_cast<double>(i)));
  }
  sig.push_back(0.0);
  return sig;
}

/// stable-diffusion.cpp `KarrasScheduler` (= k-diffusion get_sigmas_karras): the ρ-ramp from σ_max to
/// σ_min (σ_min raised to 1e-6 if below), then 0. For n = 1 k-diffusion's {σ_max, 0}: stable-diffusion.cpp
/// divides 0 by 0 there and returns NaN.
inline std::vector<double> karras_schedule_of(int n, const timestep_sigma& m, double rho) {
  const double lo = std::max(m.sigma_min(), 1e-6);
  return karras_sigmas(n, karras_schedule{lo, m.sigma_max(), rho});
}

/// stable-diffusion.cpp `ExponentialScheduler` (= k-diffusion get_sigmas_exponential): uniform in log σ
/// from σ_max to σ_min, then 0. For n = 1 k-diffusion's {σ_max, 0}: stable-diffusion.cpp returns NaN.
inline std::vector<double> exponential_schedule_of(int n, const timestep_sigma& m) {
  return exponential_sigmas(n, exponential_schedule{m.sigma_min(), m.sigma_max()});
}

/// Log-linear interpolation of a decreasing list to `count` values (ComfyUI's `loglinear_interp`,
/// stable-diffusion.cpp's `log_linear_interpolation`): log σ of the reversed list against
/// linspace(0, 1, len), read at linspace(0, 1, count), exponentiated and reversed back.
inline std::vector<double> log_linear_interpolation(const double* sig, std::size_t len, std::size_t count) {
  const std::vector<double> xs = linspace(0.0, 1.0, len), nx = linspace(0.0, 1.0, count);
  std::vector<double> ys(len), out(count);
  for (std::size_t k = 0; k < len; ++k) ys[k] = std::log(sig[len - 1 - k]);
  std::size_t k = 0;
  for (std::size_t j = 0; j < count; ++j) {
    const double x = nx[j];
    while (k + 2 < len && x > xs[k + 1]) ++k;
    const double w = (x - xs[k]) / (xs[k + 1] - xs[k]);
    out[count - 1 - j] = std::exp(ys[k] * (1.0 - w) + ys[k + 1] * w);
  }
  return out;
}

/// stable-diffusion.cpp `AYSScheduler`: the 11 published levels of `family` (0 SD 1.5, 1 SDXL, 2 SVD) for
/// n = 10, else log-linearly interpolated to n + 1 values; the last value replaced by 0.
inline std::vector<double> ays_schedule(int n, std::size_t family) {
  const std::size_t count = static_cast<std::size_t>(n) + 1;
  const double* levels = ays_noise_levels[family];
  std::vector<double> sig =
      count == 11 ? std::vector<double>(levels, levels + 11) : log_linear_interpolation(levels, 11, count);
  sig.back() = 0.0;
  return sig;
}

/// stable-diffusion.cpp `GITSScheduler` (ComfyUI's `GITSScheduler` node for other coefficients): the
/// published n-step row of coefficient table `c` for 2 <= n <= 20, else the 20-step row log-linearly
/// interpolated to n + 1 values; the last value replaced by 0.
inline std::vector<double> gits_schedule(int n, std::size_t c) {
  const std::size_t steps = static_cast<std::size_t>(n);
  const double* table = gits_noise_levels[c];
  std::vector<double> sig;
  if (steps <= 20) {
    const double* row = table + gits_row_offset(steps);
    sig.assign(row, row + steps + 1);
  } else {
    sig = log_linear_interpolation(table + gits_row_offset(20), 21, steps + 1);
  }
  sig.back() = 0.0;
  return sig;
}

/// stable-diffusion.cpp `SGMUniformScheduler` (= ComfyUI's sgm_uniform for ε tables): the first n of
/// n + 1 timesteps evenly spaced from t_max to 0, then 0.
inline std::vector<double> sgm_uniform_schedule(int n, const timestep_sigma& m) {
  const std::size_t count = static_cast<std::size_t>(n);
  const std::vector<double> ts = linspace(m.t_max(), 0.0, count + 1);
  std::vector<double> sig;
  sig.reserve(count + 1);
  for (std::size_t i = 0; i < count; ++i) sig.push_back(m(ts[i]));
  sig.push_back(0.0);
  return sig;
}

/// stable-diffusion.cpp `SimpleScheduler` (= ComfyUI's simple_scheduler): σ at the integer timestep
/// T − 1 − ⌊i·T/n⌋, the product i·(T/n) taken in float as stable-diffusion.cpp does, then 0.
inline std::vector<double> simple_schedule(int n, const timestep_sigma& m) {
  const std::size_t count = static_cast<std::size_t>(n), timesteps = m.timesteps();
  const float step_factor = static_cast<float>(timesteps) / static_cast<float>(n);
  std::vector<double> sig;
  sig.reserve(count + 1);
  for (std::size_t i = 0; i < count; ++i) {
    const auto offset = static_cast<long long>(static_cast<float>(i) * step_factor);
    long long t = static_cast<long long>(timesteps) - 1 - offset;
    if (t < 0) t = 0;
    sig.push_back(m(static_cast<double>(t)));
  }
  sig.push_back(0.0);
  return sig;
}

/// stable-diffusion.cpp `SmoothStepScheduler`: σ at the integer timestep round(s(u)·t_max) with
/// u = 1 − i/n and s(u) = u²(3 − 2u), computed in float as stable-diffusion.cpp does, then 0
/// ({σ(t_max), 0} for n = 1).
inline std::vector<double> smoothstep_schedule(int n, const timestep_sigma& m) {
  const std::size_t count = static_cast<std::size_t>(n);
  std::vector<double> sig;
  sig.reserve(count + 1);
  if (n == 1) {
    sig.push_back(m(m.t_max()));
  } else {
    const auto t_max = static_cast<float>(m.timesteps() - 1);
    for (std::size_t i = 0; i < count; ++i) {
      const float u = 1.0f - static_cast<float>(i) / static_cast<float>(n);
      const float s = u * u * (3.0f - 2.0f * u);
      sig.push_back(m(static_cast<double>(std::round(s * t_max))));
    }
  }
  sig.push_back(0.0);
  return sig;
}

/// stable-diffusion.cpp `KLOptimalScheduler` (= ComfyUI's kl_optimal_scheduler): tan of the angles evenly
/// spaced from atan σ_max to atan σ_min (σ_min raised to 1e-6 if below), then 0; {σ_max, 0} for n = 1.
inline std::vector<double> kl_optimal_schedule(int n, const timestep_sigma& m) {
  const std::size_t count = static_cast<std::size_t>(n);
  std::vector<double> sig;
  sig.reserve(count + 1);
  if (n == 1) {
    sig.push_back(m.sigma_max());
  } else {
    const double a_min = std::atan(std::max(m.sigma_min(), 1e-6)), a_max = std::atan(m.sigma_max());
    for (std::size_t i = 0; i < count; ++i) {
      const double t = static_cast<double>(i) / static_cast<double>(n - 1);
      sig.push_back(std::tan(t * a_min + (1.0 - t) * a_max));
    }
  }
  sig.push_back(0.0);
  return sig;
}

/// LCM's 50 original timesteps (stable-diffusion.cpp's `LCMScheduler`, diffusers' LCMScheduler).
inline constexpr int lcm_original_steps = 50;

/// stable-diffusion.cpp `LCMScheduler`: σ at the timestep (50 − ⌊50·i/n⌋)·⌊T/50⌋ − 1 (LCM's skipping
/// schedule: 999, 979, …), then 0. Needs n <= 50 and T >= 50 (checked by the caller).
inline std::vector<double> lcm_schedule(int n, const timestep_sigma& m) {
  const std::size_t count = static_cast<std::size_t>(n);
  const std::size_t k = m.timesteps() / static_cast<std::size_t>(lcm_original_steps);
  std::vector<double> sig;
  sig.reserve(count + 1);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t index = (i * static_cast<std::size_t>(lcm_original_steps)) / count;
    const std::size_t t = (static_cast<std::size_t>(lcm_original_steps) - index) * k - 1;
    sig.push_back(m(static_cast<double>(t)));
  }
  sig.push_back(0.0);
  return sig;
}

/// One arctangent stage of stable-diffusion.cpp's `BongTangentScheduler::get_bong_tangent_sigmas`
/// (RES4LYF's bong_tangent): `len` values from `start` to `end` shaped by ((2/π)·atan(−slope·(x − pivot)) +
/// 1)/2.
inline std::vector<double> bong_tangent_stage(int len, double slope, double pivot, double start, double end) {
  constexpr double two_over_pi = 2.0 / 3.14159265358979323846;
  std::vector<double> sig;
  if (len <= 0) return sig;
  auto shape = [&](double x) { return (two_over_pi * std::atan(-slope * (x - pivot)) + 1.0) * 0.5; };
  const double s_max = shape(0.0), s_min = shape(static_cast<double>(len - 1));
  const double range = s_max - s_min, scale = start - end;
  sig.reserve(static_cast<std::size_t>(len));
  if (std::fabs(range) < 1e-8) {
    if (len == 1) return {start};
    for (int i = 0; i < len; ++i)
      sig.push_back(start + (end - start) * (static_cast<double>(i) / static_cast<double>(len - 1)));
    return sig;
  }
  for (int x = 0; x < len; ++x) sig.push_back((shape(static_cast<double>(x)) - s_min) / range * scale + end);
  return sig;
}

/// stable-diffusion.cpp `BongTangentScheduler`: two arctangent stages, σ_max → (σ_max + σ_min)/2 and
/// (σ_max + σ_min)/2 → σ_min over n + 2 points with pivots at 60 %, the first stage's last value dropped,
/// then the last value replaced by 0. Interpolates σ itself (no timesteps). For n = 1 the first stage is
/// empty and the list is {(σ_max + σ_min)/2, 0}, as in stable-diffusion.cpp.
inline std::vector<double> bong_tangent_schedule(int n, const timestep_sigma& m) {
  const double start = m.sigma_max(), end = m.sigma_min(), middle = end + (start - end) * 0.5;
  const int steps = n + 2;
  const float steps_f = static_cast<float>(steps), pivot = 0.6f;  // the integer parts in float, as sd.cpp
  const int midpoint = static_cast<int>((steps_f * pivot + steps_f * pivot) * 0.5f);
  const int pivot_i = static_cast<int>(steps_f * pivot);
  const double slope = 0.2 / (static_cast<double>(steps) / 40.0);
  const int stage_2_len = steps - midpoint, stage_1_len = steps - stage_2_len;
  std::vector<double> sig =
      bong_tangent_stage(stage_1_len, slope, static_cast<double>(pivot_i), start, middle);
  if (!sig.empty()) sig.pop_back();
  const std::vector<double> second =
      bong_tangent_stage(stage_2_len, slope, static_cast<double>(pivot_i - stage_1_len), middle, end);
  sig.insert(sig.end(), second.begin(), second.end());
  sig.resize(static_cast<std::size_t>(n) + 1, end);
  sig.back() = 0.0;
  return sig;
}

/// ln B(a, b).
inline double log_beta_function(double a, double b) { return log_gamma(a) + log_gamma(b) - log_gamma(a + b); }

/// stable-diffusion.cpp `BetaScheduler::incbeta`: the continued fraction of the regularised incomplete
/// beta function (modified Lentz, Numerical Recipes' betacf) with its tolerances, |δ − 1| < 3e-7 and at most
/// 200 iterations, times the front factor x^a(1 − x)^b / (a·B(a, b)).
inline double sdcpp_incomplete_beta(double x, double a, double b) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  constexpr double tiny = 1e-30, eps = 3.0e-7;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 200; ++m) {
    const double md = m, m2 = 2.0 * md;
    double aa = md * (b - md) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + md) * (qab + md) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < eps) break;
  }
  return std::exp(a * std::log(x) + b * std::log(1.0 - x) - log_beta_function(a, b)) / a * h;
}

/// stable-diffusion.cpp `BetaScheduler::beta_ppf`: the Beta(a, b) quantile by at most 30 Newton steps from
/// x = 0.5 on its continued-fraction CDF, stopping at |CDF − u| < 1e-10, x kept in [1e-10, 1 − 1e-10].
/// Accurate to about 1e-7 (the CDF's tolerance), unlike detail::incomplete_beta_inverse; it is kept so
/// that the rounded timesteps are stable-diffusion.cpp's.
inline double sdcpp_beta_ppf(double u, double a, double b) {
  auto cdf = [&](double x) {
    if (x == 0.0) return 0.0;
    if (x == 1.0) return 1.0;
    return x < (a + 1.0) / (a + b + 2.0) ? sdcpp_incomplete_beta(x, a, b)
                                         : 1.0 - sdcpp_incomplete_beta(1.0 - x, b, a);
  };
  const double lb = log_beta_function(a, b);
  double x = 0.5;
  for (int i = 0; i < 30; ++i) {
    const double f = cdf(x) - u;
    if (std::fabs(f) < 1e-10) break;
    x -= f / std::exp((a - 1.0) * std::log(x) + (b - 1.0) * std::log(1.0 - x) - lb);
    if (x <= 0.0) x = 1e-10;
    if (x >= 1.0) x = 1.0 - 1e-10;
  }
  return x;
}

/// stable-diffusion.cpp `BetaScheduler` (arXiv:2407.12173; ComfyUI's beta_scheduler): σ at the integer
/// timesteps lround(ppf(1 − i/n)·t_max), a timestep equal to the one before skipped, then 0 ({σ(t_max), 0}
/// for n = 1). The list can be shorter than n + 1.
inline std::vector<double> beta_schedule(int n, const timestep_sigma& m, double alpha, double beta) {
  std::vector<double> sig;
  const double t_max = m.t_max();
  if (n == 1) {
    sig.push_back(m(t_max));
  } else {
    long last = -1;
    for (int i = 0; i < n; ++i) {
      const double u = 1.0 - static_cast<double>(i) / static_cast<double>(n);
      const long t = std::lround(sdcpp_beta_ppf(u, alpha, beta) * t_max);
      if (t != last) sig.push_back(m(static_cast<double>(t)));
      last = t;
    }
  }
  sig.push_back(0.0);
  return sig;
}

/// Options of the ltx2 schedule (stable-diffusion.cpp `LTX2Scheduler`'s members and defaults).
struct ltx2_options {
  double max_shift = 2.05, base_shift = 0.95;
  bool stretch = true;
  double terminal = 0.1;
};

/// stable-diffusion.cpp `LTX2Scheduler`: σ = e^s/(e^s + 1/u − 1) at u = 1 − i/n with the shift s linear in
/// the token count (base_shift at 1024 tokens, max_shift at 4096); with `stretch` (and n >= 2) the nonzero
/// values are stretched as 1 − (1 − σ)/k so that the last nonzero one is `terminal`; the last value 0.
inline std::vector<double> ltx2_schedule(int n, int tokens, const ltx2_options& o) {
  const std::size_t count = static_cast<std::size_t>(n);
  const double slope = (o.max_shift - o.base_shift) / (4096.0 - 1024.0);
  const double shift = static_cast<double>(tokens) * slope + (o.base_shift - slope * 1024.0);
  const double e = std::exp(shift);
  std::vector<double> sig(count + 1);
  for (std::size_t i = 0; i <= count; ++i) {
    const double u = 1.0 - static_cast<double>(i) / static_cast<double>(n);
    sig[i] = u != 0.0 ? e / (e + (1.0 / u - 1.0)) : u;
  }
  if (o.stretch && n >= 2) {
    const double k = (1.0 - sig[count - 1]) / (1.0 - o.terminal);
    if (k > 1e-8)
      for (std::size_t i = 0; i < count; ++i) sig[i] = 1.0 - (1.0 - sig[i]) / k;
  }
  sig[count] = 0.0;
  return sig;
}

/// e^μ/(e^μ + 1/t − 1): Flux's `time_shift(mu, 1, t)` (stable-diffusion.cpp `flux_time_shift`).
inline double flux_time_shift(double exp_mu, double t) { return exp_mu / (exp_mu + (1.0 / t - 1.0)); }

/// stable-diffusion.cpp `FluxScheduler` (Black Forest Labs flux/sampling.py get_schedule): flux_time_shift
/// at t = 1 − i/n with μ linear in image_seq_len (base_shift at 256, max_shift at 4096), the last value 0.
inline std::vector<double> flux_schedule(int n, int image_seq_len, double base_shift, double max_shift) {
  const std::size_t count = static_cast<std::size_t>(n);
  const double slope = (max_shift - base_shift) / (4096.0 - 256.0);
  const double mu = static_cast<double>(image_seq_len) * slope + (base_shift - slope * 256.0);
  const double e = std::exp(mu);
  std::vector<double> sig(count + 1);
  for (std::size_t i = 0; i <= count; ++i) {
    const double t = 1.0 - static_cast<double>(i) / static_cast<double>(n);
    sig[i] = t <= 0.0 ? 0.0 : flux_time_shift(e, t);
  }
  sig[count] = 0.0;
  return sig;
}

/// stable-diffusion.cpp `Flux2Scheduler::compute_empirical_mu` (Black Forest Labs flux2/sampling.py): μ
/// linear in image_seq_len, and above 4300 tokens independent of the step count.
inline double flux2_empirical_mu(int image_seq_len, int n) {
  const double a1 = 8.73809524e-05, b1 = 1.89833333, a2 = 0.00016927, b2 = 0.45666666;
  const double len = static_cast<double>(image_seq_len);
  if (image_seq_len > 4300) return a2 * len + b2;
  const double m_200 = a2 * len + b2, m_10 = a1 * len + b1;
  const double a = (m_200 - m_10) / 190.0, b = m_200 - 200.0 * a;
  return a * static_cast<double>(n) + b;
}

/// stable-diffusion.cpp `Flux2Scheduler`: flux_time_shift at t = 1 − i/n with flux2_empirical_mu, the last
/// value 0.
inline std::vector<double> flux2_schedule(int n, int image_seq_len) {
  const std::size_t count = static_cast<std::size_t>(n);
  const double e = std::exp(flux2_empirical_mu(image_seq_len, n));
  std::vector<double> sig(count + 1);
  for (std::size_t i = 0; i <= count; ++i) {
    const double t = 1.0 - static_cast<double>(i) / static_cast<double>(n);
    sig[i] = t <= 0.0 ? 0.0 : t >= 1.0 ? 1.0 : flux_time_shift(e, t);
  }
  sig[count] = 0.0;
  return sig;
}

/// Acklam's rational approximation of the standard normal quantile Φ⁻¹(p) (relative error < 1.2e-9;
/// stable-diffusion.cpp `LogitNormalScheduler::ndtri`): ∓∞ at p <= 0 and p >= 1.
inline double acklam_normal_quantile(double p) {
  if (p <= 0.0) return -HUGE_VAL;
  if (p >= 1.0) return HUGE_VAL;
  constexpr double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                           1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  constexpr double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                           6.680131188771972e+01, -1.328068155288572e+01};
  constexpr double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                           -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  constexpr double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                           3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  auto tail = [&](double q) {  // the lower tail at q = √(−2 ln p)
    const double num = ((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5];
    const double den = (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0;
    return num / den;
  };
  if (p < p_low) return tail(std::sqrt(-2.0 * std::log(p)));
  if (p > 1.0 - p_low) return -tail(std::sqrt(-2.0 * std::log(1.0 - p)));
  const double q = p - 0.5, r = q * q;
  const double num = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q;
  const double den = ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0;
  return num / den;
}

/// Options of the logit_normal schedule (stable-diffusion.cpp `LogitNormalScheduler(image_seq_len, args)`
/// defaults: μ 0, std 1.75, logSNR from −15 to 18, resolution-aware).
struct logit_normal_options {
  double mu = 0.0, std = 1.75, logsnr_min = -15.0, logsnr_max = 18.0;
  bool resolution_aware = true;
};

/// stable-diffusion.cpp `LogitNormalScheduler` (Ideogram 4's scheduler.py): σ_i = sigmoid(μ' − std·Φ⁻¹(i/n))
/// clamped to [sigmoid(logsnr_min/2), sigmoid(logsnr_max/2)], where μ' = μ + ½·ln(image_seq_len/1024) when
/// resolution-aware (and image_seq_len > 0), else μ; the last value 0.
inline std::vector<double> logit_normal_schedule(int n, int image_seq_len, const logit_normal_options& o) {
  const std::size_t count = static_cast<std::size_t>(n);
  double mean = o.mu;
  if (image_seq_len > 0 && o.resolution_aware)
    mean += 0.5 * std::log(static_cast<double>(image_seq_len) / 1024.0);  // (512·512)/(16·16) tokens
  auto sigmoid = [](double y) { return 1.0 / (1.0 + std::exp(-y)); };
  const double hi = sigmoid(0.5 * o.logsnr_max), lo = sigmoid(0.5 * o.logsnr_min);
  std::vector<double> sig(count + 1);
  for (std::size_t i = 0; i <= count; ++i) {
    const double t = static_cast<double>(i) / static_cast<double>(n);
    const double s = sigmoid(mean - o.std * acklam_normal_quantile(t));
    sig[i] = std::min(std::max(s, lo), hi);
  }
  sig[count] = 0.0;
  return sig;
}

/// ComfyUI `ddim_scheduler` (ddim_uniform): σ at the timesteps 1, 1 + s, 1 + 2s, … below T with the stride
/// s = max(⌊T/n⌋, 1), in decreasing order, then 0. DDIM's "leading" spacing: the list never holds
/// t_max, and it holds ⌈(T − 1)/s⌉ nonzero values, which is n only when the stride divides evenly (30
/// steps: stride 33, 31 values). When σ at timestep 1 is below 1e-5 ComfyUI takes one more timestep
/// instead of the final 0; here that last value is then set to 0 exactly.
inline std::vector<double> ddim_uniform_schedule(int n, const timestep_sigma& m) {
  const std::size_t timesteps = m.timesteps();
  std::size_t steps = static_cast<std::size_t>(n);
  const bool zero_at_one = std::fabs(m(1.0)) <= 1e-5;
  if (zero_at_one) ++steps;
  const std::size_t stride = std::max<std::size_t>(timesteps / steps, 1);
  std::vector<double> sig;
  for (std::size_t t = 1; t < timesteps; t += stride) sig.push_back(m(static_cast<double>(t)));
  std::reverse(sig.begin(), sig.end());
  if (zero_at_one)
    sig.back() = 0.0;
  else
    sig.push_back(0.0);
  return sig;
}

/// ComfyUI `linear_quadratic_schedule` (Genmo's Mochi): 1 − σ runs linearly from 0 to `threshold_noise`
/// over the first `linear_steps` steps and quadratically to 1 over the rest; the list is multiplied by
/// σ_max. {σ_max, 0} for n = 1.
inline std::vector<double> linear_quadratic_schedule(int n, double sigma_max, double threshold_noise,
                                                     int linear_steps) {
  if (n == 1) return {sigma_max, 0.0};
  const double ls = linear_steps, steps = n, qs = steps - ls;
  std::vector<double> sig;
  sig.reserve(static_cast<std::size_t>(n) + 1);
  for (int i = 0; i < linear_steps; ++i) sig.push_back(static_cast<double>(i) * threshold_noise / ls);
  const double diff = ls - threshold_noise * steps;
  const double quad = diff / (ls * qs * qs);
  const double lin = threshold_noise / ls - 2.0 * diff / (qs * qs);
  const double c = quad * (ls * ls);
  for (int i = linear_steps; i < n; ++i) {
    const double x = i;
    sig.push_back(quad * (x * x) + lin * x + c);
  }
  sig.push_back(1.0);
  for (double& v : sig) v = (1.0 - v) * sigma_max;
  return sig;
}

}  // namespace stork::detail
