// Tests of <stork/schedule/from_name.hpp> (stork::sigmas_from_name) and <stork/detail/key_value.hpp>.
//
// Each schedule is compared with a transcription of its defining function, written here in plain loops
// from the rule: stable-diffusion.cpp's schedulers (src/runtime/denoiser.hpp, commit 97d2990: the
// SigmaScheduler subclasses, CompVisDenoiser / DiscreteFlowDenoiser::t_to_sigma) in float, as that code
// computes them (BetaScheduler's quantile in double, as there), and ComfyUI's (comfy/samplers.py:
// ddim_scheduler, linear_quadratic_schedule, normal_scheduler, simple_scheduler, beta_scheduler) in double
// with float32 σ tables, as torch holds them.
//
// Tolerance: stork computes in double, the transcriptions in float, so they agree to float round-off,
// stated per schedule as a relative bound on every value (the final 0 must be exactly 0 in both, and the
// lists must have the same length, so a different integer timestep — adjacent timesteps differ by
// ≥ 1e-3 relative — fails). The float transcriptions read the model's σ table as float values of
// stork's double table (log σ taken in float, as stable-diffusion.cpp does), so the bounds measure the
// schedules' arithmetic; stable-diffusion.cpp's own float table (calculate_alphas_cumprod in float) is
// itself off by ~1e-5 relative (1.3e-5 measured for SD 1.x), which the "float table" test measures
// separately.
#include <stork/schedule.hpp>
#include <stork/stork.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using vecd = std::vector<double>;
using vecf = std::vector<float>;

/// Worst relative difference seen per schedule (printed by the "[schedule_name_report]" test case).
std::map<std::string, double>& worst() {
  static std::map<std::string, double> w;
  return w;
}

/// Requires got and want to have the same length, the last value exactly 0 in both, and
/// |got[i] − want[i]| <= rel·|want[i]| elsewhere; records the worst relative difference under `key`.
template <class T>
void require_rel(const std::string& key, const std::string& label, const vecd& got,
                 const std::vector<T>& want, double rel) {
  INFO(label);
  REQUIRE(got.size() == want.size());
  REQUIRE(got.back() == 0.0);
  REQUIRE(want.back() == T(0));
  double w = 0.0;
  for (std::size_t i = 0; i + 1 < got.size(); ++i) {
    const double ref = static_cast<double>(want[i]);
    INFO("i = " << i << ": got " << got[i] << ", want " << ref);
    REQUIRE(std::isfinite(got[i]));
    const double d = std::fabs(got[i] - ref) / std::fabs(ref);
    REQUIRE(d <= rel);
    w = std::max(w, d);
  }
  double& slot = worst()[key];
  slot = std::max(slot, w);
}

// ---- stable-diffusion.cpp's Denoiser, in float (as it computes) or double --------------------------------
//
// The transcriptions are templates on the floating type R: R = float is stable-diffusion.cpp's own
// arithmetic; R = double is the same rule in double, which stork must match to ~1e-13. Where that code
// picks an integer from float arithmetic (simple, smoothstep, bong_tangent's stage lengths), the integer is
// computed in float in both instantiations, as the rule is written.

/// CompVisDenoiser (σ table, log σ interpolated) or DiscreteFlowDenoiser (time_snr_shift of (t + 1)/1000).
template <class R>
struct sd_model {
  bool flow = false;
  R shift = 0;
  std::vector<R> sigmas, log_sigmas;
  int timesteps = 1000;

  R t_to_sigma(R t) const {
    if (flow) {
      const R u = (t + R(1)) / R(1000);
      return shift == R(1) ? u : shift * u / (R(1) + (shift - R(1)) * u);
    }
    // t can come out a few ulp below 0 (t_max − step·i); stable-diffusion.cpp would index
    // log_sigmas[−1] there. Clamped here, as stork clamps.
    t = std::min(std::max(t, R(0)), static_cast<R>(timesteps - 1));
    const int lo = static_cast<int>(std::floor(t)), hi = static_cast<int>(std::ceil(t));
    const R w = t - static_cast<R>(lo);
    return std::exp((R(1) - w) * log_sigmas[std::size_t(lo)] + w * log_sigmas[std::size_t(hi)]);
  }
  R sigma_min() const { return flow ? t_to_sigma(R(0)) : sigmas.front(); }
  R sigma_max() const { return flow ? t_to_sigma(R(timesteps - 1)) : sigmas.back(); }
};

template <class R>
sd_model<R> compvis(const stork::vp_discrete& table) {
  sd_model<R> m;
  m.timesteps = int(table.num_train_timesteps());
  for (std::size_t i = 0; i < table.num_train_timesteps(); ++i) {
    m.sigmas.push_back(static_cast<R>(table.ve_sigma(i)));
    m.log_sigmas.push_back(std::log(m.sigmas.back()));
  }
  return m;
}

template <class R>
sd_model<R> flow_model(double shift) {
  sd_model<R> m;
  m.flow = true;
  m.shift = R(shift);
  return m;
}

// ---- stable-diffusion.cpp's schedulers (src/runtime/denoiser.hpp) ---------------------------------------

template <class R>
using vec_of = std::vector<R>;

template <class R>
vec_of<R> sd_discrete(int n, const sd_model<R>& m) {
  const int t_max = m.timesteps - 1;
  if (n == 1) return {m.t_to_sigma(R(t_max)), R(0)};
  vec_of<R> r;
  const R step = R(t_max) / R(n - 1);
  for (int i = 0; i < n; ++i) r.push_back(m.t_to_sigma(R(t_max) - step * R(i)));
  r.push_back(R(0));
  return r;
}

template <class R>
vec_of<R> sd_karras(int n, const sd_model<R>& m, R rho = R(7)) {
  R sigma_min = m.sigma_min();
  if (sigma_min <= R(1e-6)) sigma_min = R(1e-6);
  vec_of<R> r(std::size_t(n) + 1);
  const R min_inv = std::pow(sigma_min, R(1) / rho), max_inv = std::pow(m.sigma_max(), R(1) / rho);
  for (int i = 0; i < n; ++i)
    r[std::size_t(i)] = std::pow(max_inv + R(i) / (R(n) - R(1)) * (min_inv - max_inv), rho);
  r[std::size_t(n)] = R(0);
  return r;
}

template <class R>
vec_of<R> sd_exponential(int n, const sd_model<R>& m) {
  vec_of<R> r;
  const R lmin = std::log(m.sigma_min()), lmax = std::log(m.sigma_max());
  const R step = (lmax - lmin) / R(n - 1);
  for (int i = 0; i < n; ++i) r.push_back(std::exp(lmax - step * R(i)));
  r.push_back(R(0));
  return r;
}

/// linear_space: start, then repeated additions of (end − start)/(n − 1).
template <class R>
vec_of<R> sd_linear_space(R start, R end, std::size_t n) {
  vec_of<R> r(n);
  const R inc = (end - start) / R(n - 1);
  if (n > 0) {
    r[0] = start;
    for (std::size_t i = 1; i < n; ++i) r[i] = r[i - 1] + inc;
  }
  return r;
}

/// log_linear_interpolation with linear_interp (NumCpp's interp; the interpolation itself in double).
template <class R>
vec_of<R> sd_log_linear_interpolation(const vec_of<R>& in, std::size_t new_len) {
  const std::size_t len = in.size();
  const vec_of<R> xs = sd_linear_space(R(0), R(1), len);
  vec_of<R> ys(len);
  for (std::size_t i = 0; i < len; ++i) ys[i] = std::log(in[len - i - 1]);
  vec_of<R> nx = sd_linear_space(R(0), R(1), new_len);
  if (nx[0] < xs[0]) nx[0] = xs[0];
  if (nx.back() > xs.back()) nx.back() = xs.back();
  vecd ny(new_len);
  std::size_t i = 0, j = 0;
  while (i < new_len) {
    REQUIRE(j + 1 < len);
    if (xs[j] > nx[i] || nx[i] > xs[j + 1]) {
      ++j;
      continue;
    }
    const double perc = double(nx[i] - xs[j]) / double(xs[j + 1] - xs[j]);
    ny[i] = double(ys[j]) * (1.0 - perc) + double(ys[j + 1]) * perc;
    ++i;
  }
  vec_of<R> out(new_len);
  for (std::size_t k = 0; k < new_len; ++k) out[k] = R(std::exp(ny[new_len - k - 1]));
  return out;
}

/// The AYS levels (NVIDIA's how-to page, arXiv:2404.14507), as stable-diffusion.cpp's AYSScheduler holds
/// them.
const vecd ays_sd15 = {14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092,
                       0.9642583904,  0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582};
const vecd ays_sdxl = {14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141,
                       0.5550693289,  0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582};
const vecd ays_svd = {700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002};

template <class R>
vec_of<R> as(const vecd& v) {
  return vec_of<R>(v.begin(), v.end());
}

template <class R>
vec_of<R> sd_ays(int n, const vecd& levels_d) {
  const vec_of<R> levels = as<R>(levels_d);
  vec_of<R> r =
      std::size_t(n) + 1 != levels.size() ? sd_log_linear_interpolation(levels, std::size_t(n) + 1) : levels;
  r[std::size_t(n)] = R(0);
  return r;
}

/// GITS rows of coefficient 1.20 (the one stable-diffusion.cpp uses) for 5, 10 and 20 steps, from
/// src/runtime/gits_noise.h (= ComfyUI's comfy_extras/nodes_gits.py; arXiv:2405.11326).
const vecd gits120_5 = {14.61464119, 2.84484982, 1.24153244, 0.59516323, 0.25053367, 0.02916753};
const vecd gits120_10 = {14.61464119, 5.85520077, 2.84484982, 1.67050016, 1.08895338, 0.74807048,
                         0.50118381,  0.32104823, 0.19894916, 0.09824532, 0.02916753};
const vecd gits120_20 = {14.61464119, 7.49001646, 4.65472794, 3.07277966, 2.19988537, 1.61558151, 1.24153244,
                         0.95350921,  0.74807048, 0.59516323, 0.50118381, 0.41087446, 0.34370604, 0.29807833,
                         0.25053367,  0.22545385, 0.19894916, 0.17026083, 0.13792117, 0.09824532, 0.02916753};

template <class R>
vec_of<R> sd_gits(int n,
                  const vecd& row) {  // the row itself for n <= 20, the 20-step row interpolated beyond
  vec_of<R> r = n <= 20 ? as<R>(row) : sd_log_linear_interpolation(as<R>(gits120_20), std::size_t(n) + 1);
  r[std::size_t(n)] = R(0);
  return r;
}

template <class R>
vec_of<R> sd_sgm_uniform(int n, const sd_model<R>& m) {
  const vec_of<R> ts = sd_linear_space(R(m.timesteps - 1), R(0), std::size_t(n) + 1);
  vec_of<R> r;
  for (int i = 0; i < n; ++i) r.push_back(m.t_to_sigma(ts[std::size_t(i)]));
  r.push_back(R(0));
  return r;
}

template <class R>
vec_of<R> sd_simple(int n, const sd_model<R>& m) {
  vec_of<R> r;
  const float step_factor = float(m.timesteps) / float(n);  // float in the rule
  for (int i = 0; i < n; ++i) {
    int t = m.timesteps - 1 - int(float(i) * step_factor);
    if (t < 0) t = 0;
    r.push_back(m.t_to_sigma(R(t)));
  }
  r.push_back(R(0));
  return r;
}

template <class R>
vec_of<R> sd_smoothstep(int n, const sd_model<R>& m) {
  const int t_max = m.timesteps - 1;
  if (n == 1) return {m.t_to_sigma(R(t_max)), R(0)};
  vec_of<R> r;
  for (int i = 0; i < n; ++i) {
    const float u = 1.0f - float(i) / float(n);  // float in the rule
    r.push_back(m.t_to_sigma(R(std::round(u * u * (3.0f - 2.0f * u) * float(t_max)))));
  }
  r.push_back(R(0));
  return r;
}

template <class R>
vec_of<R> sd_kl_optimal(int n, const sd_model<R>& m) {
  if (n == 1) return {m.sigma_max(), R(0)};
  R sigma_min = m.sigma_min();
  if (sigma_min <= R(1e-6)) sigma_min = R(1e-6);
  const R a_min = std::atan(sigma_min), a_max = std::atan(m.sigma_max());
  vec_of<R> r;
  for (int i = 0; i < n; ++i) {
    const R t = R(i) / R(n - 1);
    r.push_back(std::tan(t * a_min + (R(1) - t) * a_max));
  }
  r.push_back(R(0));
  return r;
}

template <class R>
vec_of<R> sd_lcm(int n, const sd_model<R>& m) {
  const int original = 50, k = m.timesteps / original;
  vec_of<R> r;
  for (int i = 0; i < n; ++i) {
    const int index = (i * original) / n;
    r.push_back(m.t_to_sigma(R((original - index) * k - 1)));
  }
  r.push_back(R(0));
  return r;
}

template <class R>
vec_of<R> sd_bong_stage(int steps, R slope, R pivot, R start, R end) {
  const R pi = R(3.14159265358979323846);
  vec_of<R> s;
  if (steps <= 0) return s;
  const R smax = ((R(2) / pi) * std::atan(-slope * (R(0) - pivot)) + R(1)) * R(0.5);
  const R smin = ((R(2) / pi) * std::atan(-slope * (R(steps - 1) - pivot)) + R(1)) * R(0.5);
  const R srange = smax - smin, sscale = start - end;
  if (std::fabs(srange) < R(1e-8)) {
    if (steps == 1) return {start};
    for (int i = 0; i < steps; ++i) s.push_back(start + (end - start) * (R(i) / R(steps - 1)));
    return s;
  }
  const R inv = R(1) / srange;
  for (int x = 0; x < steps; ++x) {
    const R v = ((R(2) / pi) * std::atan(-slope * (R(x) - pivot)) + R(1)) * R(0.5);
    s.push_back(((v - smin) * inv) * sscale + end);
  }
  return s;
}

template <class R>
vec_of<R> sd_bong_tangent(int n, const sd_model<R>& m) {
  const R start = m.sigma_max(), end = m.sigma_min(), middle = end + (start - end) * R(0.5);
  const float pivot_1 = 0.6f, pivot_2 = 0.6f;  // the integer parts in float, as in the rule
  const int steps = n + 2;
  const int midpoint = int((float(steps) * pivot_1 + float(steps) * pivot_2) * 0.5f);
  const int pivot_1_i = int(float(steps) * pivot_1), pivot_2_i = int(float(steps) * pivot_2);
  const R slope_scale = R(steps) / R(40);
  const R slope_1 = R(0.2) / slope_scale, slope_2 = R(0.2) / slope_scale;
  const int stage_2_len = steps - midpoint, stage_1_len = steps - stage_2_len;
  vec_of<R> s1 = sd_bong_stage(stage_1_len, slope_1, R(pivot_1_i), start, middle);
  const vec_of<R> s2 = sd_bong_stage(stage_2_len, slope_2, R(pivot_2_i - stage_1_len), middle, end);
  if (!s1.empty()) s1.pop_back();
  vec_of<R> r = s1;
  r.insert(r.end(), s2.begin(), s2.end());
  while (r.size() < std::size_t(n) + 1) r.push_back(end);
  r.resize(std::size_t(n) + 1);
  r[std::size_t(n)] = R(0);
  return r;
}

/// BetaScheduler's incbeta / beta_cdf / beta_ppf (double, std::lgamma, in the rule), then t_to_sigma.
double sd_incbeta(double x, double a, double b) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (std::abs(d) < 1e-30) d = 1e-30;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 200; m++) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::abs(d) < 1e-30) d = 1e-30;
    c = 1.0 + aa / c;
    if (std::abs(c) < 1e-30) c = 1e-30;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::abs(d) < 1e-30) d = 1e-30;
    c = 1.0 + aa / c;
    if (std::abs(c) < 1e-30) c = 1e-30;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1.0) < 3.0e-7) break;
  }
  const double lb = std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
  return std::exp(a * std::log(x) + b * std::log(1.0 - x) - lb) / a * h;
}
double sd_beta_cdf(double x, double a, double b) {
  if (x == 0.0) return 0.0;
  if (x == 1.0) return 1.0;
  if (x < (a + 1.0) / (a + b + 2.0)) return sd_incbeta(x, a, b);
  return 1.0 - sd_incbeta(1.0 - x, b, a);
}
double sd_beta_ppf(double u, double a, double b) {
  double x = 0.5;
  const double lb = std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
  for (int i = 0; i < 30; i++) {
    const double f = sd_beta_cdf(x, a, b) - u;
    if (std::abs(f) < 1e-10) break;
    x -= f / std::exp((a - 1.0) * std::log(x) + (b - 1.0) * std::log(1.0 - x) - lb);
    if (x <= 0.0) x = 1e-10;
    if (x >= 1.0) x = 1.0 - 1e-10;
  }
  return x;
}
template <class R>
vec_of<R> sd_beta(int n, const sd_model<R>& m, double alpha, double beta) {
  const int t_max = m.timesteps - 1;
  if (n == 1) return {m.t_to_sigma(R(t_max)), R(0)};
  vec_of<R> r;
  long last = -1;
  for (int i = 0; i < n; i++) {
    const double u = 1.0 - double(i) / double(n);
    const long t = std::lround(sd_beta_ppf(u, alpha, beta) * t_max);
    if (t != last) {
      r.push_back(m.t_to_sigma(R(t)));
      last = t;
    }
  }
  r.push_back(R(0));
  return r;
}

template <class R>
vec_of<R> sd_ltx2(int n, int tokens, R max_shift = R(2.05), R base_shift = R(0.95), bool stretch = true,
                  R terminal = R(0.1)) {
  const R m = (max_shift - base_shift) / (R(4096) - R(1024)), b = base_shift - m * R(1024);
  const R exp_shift = std::exp(R(tokens) * m + b);
  const R target = std::clamp(terminal, R(0), R(0.99));
  vec_of<R> s;
  for (int i = 0; i <= n; ++i) {
    R sigma = R(1) - R(i) / R(n);
    if (sigma != R(0)) sigma = exp_shift / (exp_shift + (R(1) / sigma - R(1)));
    s.push_back(sigma);
  }
  if (stretch && s.size() > 2) {
    const R scale = (R(1) - s[std::size_t(n) - 1]) / (R(1) - target);
    if (scale > R(1e-8))
      for (int i = 0; i < n; ++i) s[std::size_t(i)] = R(1) - (R(1) - s[std::size_t(i)]) / scale;
  }
  s[std::size_t(n)] = R(0);
  return s;
}

template <class R>
R sd_flux_time_shift(R mu, R t) {
  return std::exp(mu) / (std::exp(mu) + std::pow(R(1) / t - R(1), R(1)));
}

template <class R>
vec_of<R> sd_flux(int n, int image_seq_len, R base_shift = R(0.5), R max_shift = R(1.15)) {
  const R m = (max_shift - base_shift) / (R(4096) - R(256)), b = base_shift - m * R(256);
  const R mu = R(image_seq_len) * m + b;
  vec_of<R> s;
  for (int i = 0; i <= n; ++i) {
    const R t = R(1) - R(i) / R(n);
    s.push_back(t <= R(0) ? R(0) : sd_flux_time_shift(mu, t));
  }
  s[std::size_t(n)] = R(0);
  return s;
}

template <class R>
vec_of<R> sd_flux2(int n, int image_seq_len) {
  const R a1 = R(8.73809524e-05), b1 = R(1.89833333), a2 = R(0.00016927), b2 = R(0.45666666);
  R mu;
  if (image_seq_len > 4300) {
    mu = a2 * R(image_seq_len) + b2;
  } else {
    const R m_200 = a2 * R(image_seq_len) + b2, m_10 = a1 * R(image_seq_len) + b1;
    const R a = (m_200 - m_10) / R(190), b = m_200 - R(200) * a;
    mu = a * R(n) + b;
  }
  vec_of<R> s;
  for (int i = 0; i <= n; ++i) {
    const R t = R(1) - R(i) / R(n);
    s.push_back(t <= R(0) ? R(0) : t >= R(1) ? R(1) : sd_flux_time_shift(mu, t));
  }
  s[std::size_t(n)] = R(0);
  return s;
}

/// Acklam's normal quantile as LogitNormalScheduler::ndtri writes it (double in the rule).
double sd_ndtri(double p) {
  if (p <= 0.0) return -INFINITY;
  if (p >= 1.0) return INFINITY;
  const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                       -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  const double d[5] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                       3.754408661907416e+00, 1.0};
  const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                       1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  const double b[6] = {-5.447609879822406e+01, 1.615858368580409e+02,  -1.556989798598866e+02,
                       6.680131188771972e+01,  -1.328068155288572e+01, 1.0};
  auto tail = [&](double q) {
    double num = c[0], den = d[0];
    for (int i = 1; i < 6; ++i) num = num * q + c[i];
    for (int i = 1; i < 5; ++i) den = den * q + d[i];
    return num / den;
  };
  if (p < 0.02425) return tail(std::sqrt(-2.0 * std::log(p)));
  if (p > 1.0 - 0.02425) return -tail(std::sqrt(-2.0 * std::log(1.0 - p)));
  const double q = p - 0.5, r = q * q;
  double num = a[0], den = b[0];
  for (int i = 1; i < 6; ++i) num = num * r + a[i];
  for (int i = 1; i < 6; ++i) den = den * r + b[i];
  return num * q / den;
}

template <class R>
vec_of<R> sd_logit_normal(int n, int image_seq_len, R mean = R(0), R std_dev = R(1.75), R logsnr_min = R(-15),
                          R logsnr_max = R(18), bool resolution_aware = true) {
  if (image_seq_len > 0 && resolution_aware) mean += R(0.5) * std::log(R(image_seq_len) / R(1024));
  auto sigmoid = [](R x) { return R(1) / (R(1) + std::exp(-x)); };
  const R hi = sigmoid(R(0.5) * logsnr_max), lo = sigmoid(R(0.5) * logsnr_min);
  vec_of<R> s;
  for (int i = 0; i <= n; ++i) {
    const R t = R(i) / R(n);
    const R z = R(-sd_ndtri(double(t)));
    R ts = sigmoid(mean + std_dev * z);
    if (ts > hi) ts = hi;
    if (ts < lo) ts = lo;
    s.push_back(ts);
  }
  s[std::size_t(n)] = R(0);
  return s;
}

// ---- ComfyUI's schedulers (comfy/samplers.py), Python doubles over float32 σ tables --------------------

/// ModelSamplingDiscrete / ModelSamplingDiscreteFlow as ComfyUI holds them: `sigmas` (float32) of the
/// integer timesteps, sigma(t) by log interpolation (table) or time_snr_shift(t/1000) (flow), and
/// timestep(σ): the nearest table index (table) or σ·1000 (flow).
struct comfy_model {
  bool flow = false;
  double shift = 1.0;
  vecf sigmas;  // s.sigmas
  double sigma(double t) const {
    if (flow) {
      const double u = t / 1000.0;
      return shift == 1.0 ? u : shift * u / (1.0 + (shift - 1.0) * u);
    }
    t = std::min(std::max(t, 0.0), double(sigmas.size() - 1));
    const double lo = std::floor(t), hi = std::ceil(t), w = t - lo;
    const double ls =
        (1.0 - w) * std::log(double(sigmas[std::size_t(lo)])) + w * std::log(double(sigmas[std::size_t(hi)]));
    return double(float(std::exp(ls)));
  }
  double sigma_min() const { return sigmas.front(); }
  double sigma_max() const { return sigmas.back(); }
  double timestep(double s) const {
    if (flow) return s * 1000.0;
    std::size_t best = 0;
    for (std::size_t i = 1; i < sigmas.size(); ++i)
      if (std::fabs(std::log(s) - std::log(double(sigmas[i]))) <
          std::fabs(std::log(s) - std::log(double(sigmas[best]))))
        best = i;
    return double(best);
  }
};

comfy_model comfy_table(const stork::vp_discrete& table) {
  comfy_model m;
  for (std::size_t i = 0; i < table.num_train_timesteps(); ++i) m.sigmas.push_back(float(table.ve_sigma(i)));
  return m;
}

comfy_model comfy_flow(double shift) {
  comfy_model m;
  m.flow = true;
  m.shift = shift;
  for (int t = 1; t <= 1000; ++t) m.sigmas.push_back(float(m.sigma(double(t))));
  return m;
}

vecd comfy_ddim_uniform(int steps, const comfy_model& s) {
  vecd sigs;
  std::size_t x = 1;
  if (std::fabs(double(s.sigmas[x])) <= 0.00001) {
    steps += 1;
  } else {
    sigs = {0.0};
  }
  const std::size_t ss = std::max<std::size_t>(s.sigmas.size() / std::size_t(steps), 1);
  while (x < s.sigmas.size()) {
    sigs.push_back(double(s.sigmas[x]));
    x += ss;
  }
  std::reverse(sigs.begin(), sigs.end());
  return sigs;
}

vecf comfy_linear_quadratic(int steps, const comfy_model& s, double threshold_noise = 0.025,
                            int linear_steps = -1) {
  vecd sched;
  if (steps == 1) {
    sched = {1.0, 0.0};
  } else {
    if (linear_steps < 0) linear_steps = steps / 2;
    for (int i = 0; i < linear_steps; ++i) sched.push_back(i * threshold_noise / linear_steps);
    const double diff = linear_steps - threshold_noise * steps;
    const int quadratic_steps = steps - linear_steps;
    const double quadratic_coef = diff / (linear_steps * double(quadratic_steps * quadratic_steps));
    const double linear_coef =
        threshold_noise / linear_steps - 2 * diff / double(quadratic_steps * quadratic_steps);
    const double c = quadratic_coef * double(linear_steps * linear_steps);
    for (int i = linear_steps; i < steps; ++i)
      sched.push_back(quadratic_coef * double(i * i) + linear_coef * i + c);
    sched.push_back(1.0);
    for (double& v : sched) v = 1.0 - v;
  }
  vecf out;
  for (double v : sched) out.push_back(float(v) * float(s.sigma_max()));  // FloatTensor(...) * sigma_max
  return out;
}

/// normal_scheduler (sgm = false): σ at linspace(timestep(σ_max), timestep(σ_min), steps), then 0.
vecd comfy_normal(int steps, const comfy_model& s) {
  const double start = s.timestep(s.sigma_max()), end = s.timestep(s.sigma_min());
  vecd sigs;
  for (int i = 0; i < steps; ++i) {
    const double t = steps == 1 ? start : start + (end - start) * double(i) / double(steps - 1);
    sigs.push_back(s.sigma(double(float(t))));
  }
  sigs.push_back(0.0);
  return sigs;
}

/// simple_scheduler: sigmas[−(1 + int(x·len/steps))] with the product in double.
vecd comfy_simple(int steps, const comfy_model& s) {
  vecd sigs;
  const double ss = double(s.sigmas.size()) / steps;
  for (int x = 0; x < steps; ++x) sigs.push_back(s.sigmas[s.sigmas.size() - 1 - std::size_t(x * ss)]);
  sigs.push_back(0.0);
  return sigs;
}

/// beta_scheduler: scipy's exact quantile (stork's incomplete_beta_inverse), numpy.rint (half to even).
vecd comfy_beta(int steps, const comfy_model& s, double alpha = 0.6, double beta = 0.6) {
  const double total = double(s.sigmas.size() - 1);
  vecd sigs;
  double last = -1.0;
  for (int i = 0; i < steps; ++i) {
    const double u = 1.0 - double(i) / double(steps);
    // scipy returns the symmetric median 0.5 exactly; the bisection lands within 1e-17 of it.
    const double q = alpha == beta && u == 0.5 ? 0.5 : stork::detail::incomplete_beta_inverse(alpha, beta, u);
    const double t = std::nearbyint(q * total);
    if (t != last) sigs.push_back(s.sigmas[std::size_t(t)]);
    last = t;
  }
  sigs.push_back(0.0);
  return sigs;
}

// ---- the contexts and step counts ---------------------------------------------------------------------

const stork::vp_discrete& sd_table() {
  static const stork::vp_discrete t = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  return t;
}
/// A second σ range (0.01 to 157): DDPM's linear β. SD 2.x (ε and v) uses SD 1.x's table: v-prediction
/// changes the model's output, not its σ, so it needs no case of its own.
const stork::vp_discrete& ddpm_table() {
  static const stork::vp_discrete t = stork::vp_discrete::linear(1000, 1e-4, 0.02);
  return t;
}

struct model_case {
  std::string label;
  stork::schedule_context ctx;
  sd_model<float> sdf;
  sd_model<double> sdd;
  comfy_model comfy;

  template <class R>
  const sd_model<R>& sd() const {
    if constexpr (std::is_same_v<R, float>)
      return sdf;
    else
      return sdd;
  }
};

std::vector<model_case> model_cases() {
  std::vector<model_case> v;
  v.push_back({"SD1.x table",
               {.table = &sd_table()},
               compvis<float>(sd_table()),
               compvis<double>(sd_table()),
               comfy_table(sd_table())});
  v.push_back({"DDPM linear table",
               {.table = &ddpm_table()},
               compvis<float>(ddpm_table()),
               compvis<double>(ddpm_table()),
               comfy_table(ddpm_table())});
  v.push_back({"flow shift 3",
               {.flow_shift = 3.0},
               flow_model<float>(3.0),
               flow_model<double>(3.0),
               comfy_flow(3.0)});
  v.push_back({"flow shift 1",
               {.flow_shift = 1.0},
               flow_model<float>(1.0),
               flow_model<double>(1.0),
               comfy_flow(1.0)});
  return v;
}

const int step_counts[] = {1, 2, 4, 10, 20, 30, 50};

/// Compares stork's list with the rule transcribed in float (stable-diffusion.cpp's own arithmetic; the
/// bound `float_tol` is float round-off) and in double (bound `double_tol`). `transcribe` is called with
/// a float and with a double tag.
template <class F>
void check(const std::string& name, const std::string& where, const vecd& got, F&& transcribe,
           double float_tol, double double_tol = 1e-12) {
  require_rel(name + " float", name + " (" + where + ", float)", got, transcribe(float{}), float_tol);
  require_rel(name + " double", name + " (" + where + ", double)", got, transcribe(double{}), double_tol);
}

std::string at(const model_case& mc, int n) { return mc.label + ", " + std::to_string(n) + " steps"; }

// Float bounds (relative, every value), and why each is what it is:
constexpr double tol_t_float = 1e-4;  // discrete, sgm_uniform: t = t_max − step·i in float is off by up to
                                      // ulp(999) ≈ 6e-5 timesteps, i.e. 6e-5 relative where σ ∝ t + 1
                                      // (flow, shift 1, near t = 0); neighbouring timesteps differ by ≥ 1e-3
constexpr double tol_ays_float = 3e-5;     // the float x-grid of log_linear_interpolation (repeated
                                           // additions) over log σ ranges up to 13 (SVD)
constexpr double tol_cancel_float = 1e-5;  // bong_tangent (v − s_min), ltx2 (1 − (1 − σ)/k): cancellation
constexpr double tol_tan_float = 4e-6;     // kl_optimal: tan near π/2 amplifies the angle's round-off ~15×
constexpr double tol_float = 2e-6;         // the rest: a few float operations (pow with ρ = 7: ~7 ulp)

}  // namespace

TEST_CASE("schedule_name: the menu lists every stable-diffusion.cpp and ComfyUI schedule",
          "[schedule_name]") {
  const std::vector<std::string_view> want = {
      "discrete",     "karras",     "exponential", "ays",  "gits",         "sgm_uniform",
      "simple",       "smoothstep", "kl_optimal",  "lcm",  "bong_tangent", "ltx2",
      "logit_normal", "flux2",      "flux",        "beta", "ddim_uniform", "linear_quadratic"};
  REQUIRE(stork::schedule_names() == want);
  // ComfyUI's KSampler names (SCHEDULER_HANDLERS) are all accepted.
  for (const char* comfy : {"simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta",
                            "normal", "linear_quadratic", "kl_optimal"})
    CHECK_NOTHROW(stork::canonical_schedule_name(comfy));
  REQUIRE(stork::canonical_schedule_name("normal") == "discrete");
  REQUIRE(stork::schedule_option_keys("beta") == std::vector<std::string_view>{"alpha", "beta"});
  REQUIRE(stork::schedule_option_keys("normal").empty());
  REQUIRE(stork::sigmas_from_name("normal", 20, {.table = &sd_table()}) ==
          stork::sigmas_from_name("discrete", 20, {.table = &sd_table()}));
}

TEST_CASE("schedule_name: the schedules on the model's timesteps equal stable-diffusion.cpp's",
          "[schedule_name]") {
  for (const model_case& mc : model_cases()) {
    for (int n : step_counts) {
      const std::string w = at(mc, n);
      auto run = [&](const char* name) { return stork::sigmas_from_name(name, n, mc.ctx); };
      check(
          "discrete", w, run("discrete"), [&](auto r) { return sd_discrete(n, mc.sd<decltype(r)>()); },
          tol_t_float);
      check(
          "sgm_uniform", w, run("sgm_uniform"),
          [&](auto r) { return sd_sgm_uniform(n, mc.sd<decltype(r)>()); }, tol_t_float);
      check(
          "simple", w, run("simple"), [&](auto r) { return sd_simple(n, mc.sd<decltype(r)>()); }, tol_float);
      check(
          "smoothstep", w, run("smoothstep"), [&](auto r) { return sd_smoothstep(n, mc.sd<decltype(r)>()); },
          tol_float);
      check(
          "kl_optimal", w, run("kl_optimal"), [&](auto r) { return sd_kl_optimal(n, mc.sd<decltype(r)>()); },
          tol_tan_float);
      check(
          "lcm", w, run("lcm"), [&](auto r) { return sd_lcm(n, mc.sd<decltype(r)>()); }, tol_float);
      check(
          "bong_tangent", w, run("bong_tangent"),
          [&](auto r) { return sd_bong_tangent(n, mc.sd<decltype(r)>()); }, tol_cancel_float);
      check(
          "beta", w, run("beta"), [&](auto r) { return sd_beta(n, mc.sd<decltype(r)>(), 0.6, 0.6); },
          tol_float);
      if (n >= 2) {  // stable-diffusion.cpp's karras and exponential are 0/0 = NaN at 1 step
        check(
            "karras", w, run("karras"), [&](auto r) { return sd_karras(n, mc.sd<decltype(r)>()); },
            tol_float);
        check(
            "exponential", w, run("exponential"),
            [&](auto r) { return sd_exponential(n, mc.sd<decltype(r)>()); }, tol_float);
      } else {
        REQUIRE(std::isnan(sd_karras(1, mc.sdf)[0]));
        REQUIRE(std::isnan(sd_exponential(1, mc.sdf)[0]));
        const vecd k = run("karras"), e = run("exponential");
        REQUIRE(k.size() == 2);
        REQUIRE(e.size() == 2);
        REQUIRE(k[1] == 0.0);
        REQUIRE(e[1] == 0.0);
        REQUIRE(k[0] == Approx(mc.sdd.sigma_max()).epsilon(1e-12));  // k-diffusion's {σ_max, 0}
        REQUIRE(e[0] == Approx(mc.sdd.sigma_max()).epsilon(1e-12));
      }
    }
    // Options: karras' ρ and beta's α, β reach the rule.
    stork::schedule_context c = mc.ctx;
    c.options = "rho=3";
    check(
        "karras", at(mc, 12), stork::sigmas_from_name("karras", 12, c),
        [&](auto r) { return sd_karras(12, mc.sd<decltype(r)>(), decltype(r)(3)); }, tol_float);
    c.options = " alpha = 0.5 ; beta=0.7 ";
    for (const int n : {9, 25})
      check(
          "beta", at(mc, n), stork::sigmas_from_name("beta", n, c),
          [&](auto r) { return sd_beta(n, mc.sd<decltype(r)>(), 0.5, 0.7); }, tol_float);
  }
}

TEST_CASE(
    "schedule_name: stable-diffusion.cpp's own float table differs from the exact one by float round-off",
    "[schedule_name]") {
  // calculate_alphas_cumprod builds ᾱ in float; its σ = √((1 − ᾱ)/ᾱ) then differ from the exact table's by
  // float round-off of ᾱ amplified by 1/(1 − ᾱ) near t = 0. Measured here, not a property of stork: the
  // transcriptions above read stork's table instead, so that they test the schedules.
  float product = 1.0f;
  const float ls = std::sqrt(0.00085f), le = std::sqrt(0.0120f);
  double w = 0.0;
  for (int i = 0; i < 1000; ++i) {
    const float beta = ls + (le - ls) * (float(i) / 999.0f);
    product *= 1.0f - std::pow(beta, 2.0f);
    const float sigma = std::sqrt((1.0f - product) / product);
    const double exact = sd_table().ve_sigma(std::size_t(i));
    w = std::max(w, std::fabs(double(sigma) - exact) / exact);
  }
  worst()["(sd.cpp float table vs exact)"] = w;
  REQUIRE(w < 1e-3);
  REQUIRE(w > 1e-6);
}

TEST_CASE("schedule_name: ays and gits equal stable-diffusion.cpp's published tables and interpolation",
          "[schedule_name]") {
  for (int n : {1, 2, 4, 7, 10, 11, 20, 30, 50}) {
    const std::string w = std::to_string(n) + " steps";
    check(
        "ays", "sd1, " + w, stork::sigmas_from_name("ays", n, {.table = &sd_table()}),
        [&](auto r) { return sd_ays<decltype(r)>(n, ays_sd15); }, tol_ays_float);
    check(
        "ays", "sdxl, " + w, stork::sigmas_from_name("ays", n, {.options = "model_type=sdxl"}),
        [&](auto r) { return sd_ays<decltype(r)>(n, ays_sdxl); }, tol_ays_float);
    check(
        "ays", "svd, " + w, stork::sigmas_from_name("ays", n, {.options = "model_type=SVD"}),
        [&](auto r) { return sd_ays<decltype(r)>(n, ays_svd); }, tol_ays_float);
  }
  // 10 steps: the published levels themselves, the last (σ_min) replaced by 0.
  const vecd a10 = stork::sigmas_from_name("ays", 10);
  REQUIRE(a10[1] == 6.4745760956);
  REQUIRE(a10[9] == 0.1515232662);
  REQUIRE(a10[10] == 0.0);

  // GITS, coefficient 1.20: the published rows for n <= 20 (exactly the decimals), the 20-step row
  // log-linearly interpolated beyond.
  check(
      "gits", "5 steps", stork::sigmas_from_name("gits", 5),
      [&](auto r) { return sd_gits<decltype(r)>(5, gits120_5); }, 1e-7, 0.0);
  check(
      "gits", "10 steps", stork::sigmas_from_name("gits", 10, {.table = &sd_table()}),
      [&](auto r) { return sd_gits<decltype(r)>(10, gits120_10); }, 1e-7, 0.0);
  check(
      "gits", "20 steps", stork::sigmas_from_name("gits", 20, {.options = "coeff=1.2"}),
      [&](auto r) { return sd_gits<decltype(r)>(20, gits120_20); }, 1e-7, 0.0);
  for (int n : {21, 30, 50})
    check(
        "gits", std::to_string(n) + " steps", stork::sigmas_from_name("gits", n),
        [&](auto r) { return sd_gits<decltype(r)>(n, gits120_20); }, tol_ays_float);
  // Every published row, every coefficient: n + 1 values from 14.61464119 down to 0.02916753 (the rows
  // stable-diffusion.cpp's copy lacks were restored from ComfyUI's).
  for (int c = 0; c < 15; ++c) {
    char coeff[32];
    std::snprintf(coeff, sizeof coeff, "coeff=%.2f", 0.80 + 0.05 * c);
    for (int n = 2; n <= 20; ++n) {
      INFO(coeff << ", " << n << " steps");
      const double* r = stork::detail::gits_noise_levels[c] + stork::detail::gits_row_offset(std::size_t(n));
      REQUIRE(r[0] == 14.61464119);
      REQUIRE(r[n] == 0.02916753);
      for (int i = 0; i < n; ++i) REQUIRE(r[i] > r[i + 1]);
      const vecd s = stork::sigmas_from_name("gits", n, {.options = coeff});
      REQUIRE(s.size() == std::size_t(n) + 1);
      REQUIRE(s[std::size_t(n) - 1] == r[n - 1]);
    }
  }
  // Two rows that only ComfyUI's copy has (0.80 at 16 steps, 1.15 at 19 steps), spot-checked.
  REQUIRE(stork::sigmas_from_name("gits", 16, {.options = "coeff=0.8"})[13] == 3.1956799);
  REQUIRE(stork::sigmas_from_name("gits", 19, {.options = "coeff=1.15"})[14] == 0.27464288);
}

TEST_CASE("schedule_name: the flow schedules equal stable-diffusion.cpp's", "[schedule_name]") {
  for (int len : {256, 1024, 4096, 6000, 16384}) {
    for (int n : step_counts) {
      const std::string w = std::to_string(len) + " tokens, " + std::to_string(n) + " steps";
      check(
          "flux", w, stork::sigmas_from_name("flux", n, {.image_seq_len = len}),
          [&](auto r) { return sd_flux<decltype(r)>(n, len); }, tol_float);
      check(
          "flux2", w, stork::sigmas_from_name("flux2", n, {.flow_shift = 1.0, .image_seq_len = len}),
          [&](auto r) { return sd_flux2<decltype(r)>(n, len); }, tol_float);
      check(
          "ltx2", w, stork::sigmas_from_name("ltx2", n, {.image_seq_len = len}),
          [&](auto r) { return sd_ltx2<decltype(r)>(n, len); }, tol_cancel_float);
      check(
          "logit_normal", w, stork::sigmas_from_name("logit_normal", n, {.image_seq_len = len}),
          [&](auto r) { return sd_logit_normal<decltype(r)>(n, len); }, tol_float);
    }
  }
  // Options reach the rules.
  check(
      "flux", "options",
      stork::sigmas_from_name("flux", 20, {.image_seq_len = 4096, .options = "base_shift=0.3,max_shift=1.5"}),
      [&](auto r) {
        using R = decltype(r);
        return sd_flux<R>(20, 4096, R(0.3), R(1.5));
      },
      tol_float);
  check(
      "ltx2", "options",
      stork::sigmas_from_name(
          "ltx2", 20, {.image_seq_len = 2048, .options = "max_shift=1.5,base_shift=0.5,terminal=0.2"}),
      [&](auto r) {
        using R = decltype(r);
        return sd_ltx2<R>(20, 2048, R(1.5), R(0.5), true, R(0.2));
      },
      tol_cancel_float);
  check(
      "ltx2", "stretch off",
      stork::sigmas_from_name("ltx2", 20, {.image_seq_len = 2048, .options = "stretch=off"}),
      [&](auto r) {
        using R = decltype(r);
        return sd_ltx2<R>(20, 2048, R(2.05), R(0.95), false);
      },
      tol_cancel_float);
  check(
      "logit_normal", "options",
      stork::sigmas_from_name(
          "logit_normal", 30,
          {.image_seq_len = 4096, .options = "mu=0.3,std=1.2,logsnr_min=-10,logsnr_max=12"}),
      [&](auto r) {
        using R = decltype(r);
        return sd_logit_normal<R>(30, 4096, R(0.3), R(1.2), R(-10), R(12));
      },
      tol_float);
  check(
      "logit_normal", "not resolution-aware",
      stork::sigmas_from_name("logit_normal", 30, {.options = "resolution_aware=false"}),
      [&](auto r) { return sd_logit_normal<decltype(r)>(30, 0); }, tol_float);
  // ltx2 with stretch: the last nonzero σ is `terminal`.
  REQUIRE(stork::sigmas_from_name("ltx2", 8, {.image_seq_len = 4096})[7] == Approx(0.1).epsilon(1e-12));
}

TEST_CASE("schedule_name: ddim_uniform, linear_quadratic and normal equal ComfyUI's", "[schedule_name]") {
  // ComfyUI's rules in double over its float32 σ table: agreement to float32 round-off of the table
  // (ddim_uniform), of FloatTensor(list)·σ_max (linear_quadratic: two roundings), and of torch.linspace
  // and sigma() in float32 (normal).
  for (const model_case& mc : model_cases()) {
    for (int n : step_counts) {
      const std::string w = at(mc, n);
      require_rel("ddim_uniform float", "ddim_uniform (" + w + ")",
                  stork::sigmas_from_name("ddim_uniform", n, mc.ctx), comfy_ddim_uniform(n, mc.comfy), 1e-7);
      require_rel("linear_quadratic float", "linear_quadratic (" + w + ")",
                  stork::sigmas_from_name("linear_quadratic", n, mc.ctx), comfy_linear_quadratic(n, mc.comfy),
                  2e-7);
      // ComfyUI's normal = stable-diffusion.cpp's discrete on a σ table and at flow shift 1 ...
      if (mc.ctx.table != nullptr || mc.ctx.flow_shift == 1.0)
        require_rel("normal (ComfyUI) float", "normal (" + w + ")",
                    stork::sigmas_from_name("normal", n, mc.ctx), comfy_normal(n, mc.comfy), tol_t_float);
    }
    stork::schedule_context c = mc.ctx;
    c.options = "threshold_noise=0.05,linear_steps=3";
    require_rel("linear_quadratic float", "linear_quadratic (options, " + mc.label + ")",
                stork::sigmas_from_name("linear_quadratic", 10, c),
                comfy_linear_quadratic(10, mc.comfy, 0.05, 3), 2e-7);
  }
  // ... but on a flow model with shift 3 ComfyUI spaces the timesteps down to 1000·σ_min (its timestep(σ)
  // is σ·1000, unshifted), so its last nonzero σ is shift(σ_min) where stable-diffusion.cpp's is σ_min.
  const comfy_model c3 = comfy_flow(3.0);
  const vecd comfy = comfy_normal(20, c3), sd = stork::sigmas_from_name("normal", 20, {.flow_shift = 3.0});
  REQUIRE(sd[19] == Approx(c3.sigma_min()).epsilon(1e-6));
  REQUIRE(comfy[19] == Approx(c3.sigma(1000.0 * c3.sigma_min())).epsilon(1e-6));
  REQUIRE(comfy[19] > 2.9 * sd[19]);
  // ddim_uniform at 30 steps: stride 33 gives 31 values before the 0 (ComfyUI's behaviour); 1 step gives
  // the σ of timestep 1 (DDIM's leading spacing).
  REQUIRE(stork::sigmas_from_name("ddim_uniform", 30, {.table = &sd_table()}).size() == 32);
  REQUIRE(stork::sigmas_from_name("ddim_uniform", 1, {.table = &sd_table()}) ==
          vecd{sd_table().ve_sigma(1), 0.0});
}

TEST_CASE("schedule_name: where simple and beta pick other timesteps than ComfyUI's", "[schedule_name]") {
  // simple: stable-diffusion.cpp truncates i·(T/n) computed in float, ComfyUI in double; where i·T/n is an
  // integer and the float product falls just below it, stable-diffusion.cpp (and stork) take the timestep
  // one above ComfyUI's. beta: ComfyUI's exact quantile and rint against stable-diffusion.cpp's Newton
  // quantile and lround: on these grids they agree (at the median tie, 499.5 rounds to 500 both ways).
  int simple_differ = 0;
  for (const model_case& mc : model_cases())
    for (int n : {1, 2, 3, 4, 7, 10, 13, 20, 25, 30, 40, 50, 64, 100}) {
      INFO(at(mc, n));
      const vecd s = stork::sigmas_from_name("simple", n, mc.ctx), cs = comfy_simple(n, mc.comfy);
      REQUIRE(s.size() == cs.size());
      const std::size_t timesteps = mc.comfy.sigmas.size();
      for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        const int float_pick = int(float(i) * (float(timesteps) / float(n)));
        const int double_pick = int(double(i) * (double(timesteps) / double(n)));
        const bool differs = std::fabs(s[i] - cs[i]) > 1e-6 * cs[i];
        REQUIRE(differs == (float_pick != double_pick));
        simple_differ += differs;
      }
      if (n == 30) {  // i = 15 (500 → 499.99998f) and i = 27 (900 → 899.99996f)
        REQUIRE(std::fabs(s[15] - cs[15]) > 1e-4 * cs[15]);
        REQUIRE(std::fabs(s[27] - cs[27]) > 1e-4 * cs[27]);
      }
      const vecd b = stork::sigmas_from_name("beta", n, mc.ctx), cb = comfy_beta(n, mc.comfy);
      require_rel("beta vs ComfyUI", "beta vs ComfyUI (" + at(mc, n) + ")", b, cb, 1e-7);
    }
  worst()["(simple: values on another timestep than ComfyUI's)"] = simple_differ;
  REQUIRE(simple_differ > 0);
}

TEST_CASE("schedule_name: every schedule gives a grid the samplers accept", "[schedule_name]") {
  const stork::vp_discrete& sd = sd_table();
  for (std::string_view name : stork::schedule_names()) {
    INFO(name);
    const bool flow_only = name == "flux" || name == "flux2" || name == "ltx2" || name == "logit_normal";
    const stork::schedule_context c =
        flow_only ? stork::schedule_context{.image_seq_len = 4096} : stork::schedule_context{.table = &sd};
    const vecd s = stork::sigmas_from_name(name, 12, c);
    REQUIRE(s.back() == 0.0);
    std::vector<double> x{s.front() * 0.3}, d(1);
    auto sch = stork::make_scheduler(
        stork::euler{}, s, x,
        stork::model<stork::ve>{.process = {}, .prediction = stork::prediction::sample});
    while (!sch.done()) {
      d[0] = x[0] / (1.0 + sch.time() * sch.time());
      sch.step(d, x);
    }
    REQUIRE(std::isfinite(x[0]));
  }
}

TEST_CASE("schedule_name: bad input throws stork::error naming the parameter and the value",
          "[schedule_name]") {
  using Catch::Contains;
  const stork::vp_discrete& sd = sd_table();
  const stork::schedule_context t{.table = &sd};
  // Unknown name: every accepted name is listed.
  REQUIRE_THROWS_AS(stork::sigmas_from_name("karas", 10, t), stork::error);
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("karas", 10, t),
                      Contains("name = \"karas\"") && Contains("discrete, karras") &&
                          Contains("linear_quadratic") && Contains("normal (= discrete)"));
  REQUIRE_THROWS_WITH(stork::canonical_schedule_name("Karras"), Contains("\"Karras\""));
  REQUIRE_THROWS_WITH(stork::schedule_option_keys(""), Contains("name = \"\""));
  // Steps.
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("karras", 0, t),
                      Contains("steps = 0") && Contains("steps >= 1"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("simple", -3, t), Contains("steps = -3"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("discrete", 1000001, t), Contains("steps = 1000001"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("gits", 1), Contains("steps = 1") && Contains("steps >= 2"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("lcm", 51, t),
                      Contains("steps = 51") && Contains("at most 50"));
  // A list that would repeat a σ (simple beyond the table's 1000 timesteps; smoothstep at many steps).
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("simple", 1001, t),
                      Contains("steps = 1001") && Contains("strictly decreasing"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("smoothstep", 200, t), Contains("steps = 200"));
  // The context.
  REQUIRE_THROWS_WITH(
      stork::sigmas_from_name("karras", 10),
      Contains("table = nullptr with flow_shift = 0") && Contains("scaled_linear(1000, 0.00085, 0.012)"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("karras", 10, {.table = &sd, .flow_shift = 3.0}),
                      Contains("flow_shift = 3") && Contains("both set"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("karras", 10, {.flow_shift = std::nan("")}),
                      Contains("flow_shift = nan"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("simple", 10, {.flow_shift = -1.0}),
                      Contains("flow_shift = -1"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("flux", 10, {.image_seq_len = -4}),
                      Contains("image_seq_len = -4"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("flux", 10),
                      Contains("image_seq_len = 0") && Contains("token count"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("flux2", 10, {.flow_shift = 1.0}),
                      Contains("image_seq_len = 0"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("ltx2", 10), Contains("image_seq_len = 0"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("logit_normal", 10), Contains("image_seq_len = 0"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("flux", 10, {.table = &sd, .image_seq_len = 4096}),
                      Contains("table = (set)") && Contains("flow-matching"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("ays", 10, {.flow_shift = 3.0}), Contains("flow_shift = 3"));
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("gits", 10, {.flow_shift = 1.0}), Contains("flow_shift = 1"));
  const stork::vp_discrete empty;
  REQUIRE_THROWS_WITH(stork::sigmas_from_name("karras", 10, {.table = &empty}),
                      Contains("num_train_timesteps() = 0"));
  // Options: unknown keys, malformed values, NaN, out of range — each names the key and lists the keys.
  auto with = [&](const char* name, const char* options) {
    return stork::sigmas_from_name(name, 10, {.table = &sd, .options = options});
  };
  REQUIRE_THROWS_WITH(with("beta", "gamma=1"),
                      Contains("unknown key \"gamma\"") && Contains("accepted keys: alpha, beta"));
  REQUIRE_THROWS_WITH(with("karras", "eta=0.5"),
                      Contains("unknown key \"eta\"") && Contains("accepted keys: rho"));
  REQUIRE_THROWS_WITH(with("simple", "alpha=1"), Contains("this takes no options"));
  REQUIRE_THROWS_WITH(with("beta", "alpha=abc"),
                      Contains("alpha = \"abc\"") && Contains("accepted keys: alpha, beta"));
  REQUIRE_THROWS_WITH(with("beta", "alpha=nan"), Contains("alpha = \"nan\"") && Contains("finite"));
  REQUIRE_THROWS_WITH(with("beta", "alpha=inf"), Contains("alpha = \"inf\""));
  REQUIRE_THROWS_WITH(with("beta", "alpha=0.5x"), Contains("alpha = \"0.5x\""));
  REQUIRE_THROWS_WITH(with("beta", "alpha="), Contains("alpha = \"\""));
  REQUIRE_THROWS_WITH(with("beta", "alpha=0"), Contains("alpha = \"0\"") && Contains("alpha > 0"));
  REQUIRE_THROWS_WITH(with("beta", "beta=-1"), Contains("beta = \"-1\""));
  REQUIRE_THROWS_WITH(with("beta", "alpha=0.5,alpha=0.6"), Contains("given twice"));
  REQUIRE_THROWS_WITH(with("beta", "alpha"), Contains("has no '='"));
  REQUIRE_THROWS_WITH(with("beta", "=0.5"), Contains("empty key"));
  REQUIRE_THROWS_WITH(with("karras", "rho=0"), Contains("rho = \"0\""));
  REQUIRE_THROWS_WITH(with("karras", "rho=0x10"), Contains("rho = \"0x10\""));
  REQUIRE_THROWS_WITH(with("gits", "coeff=1.23"), Contains("coeff = \"1.23\"") && Contains("0.80, 0.85"));
  REQUIRE_THROWS_WITH(with("gits", "coeff=1.55"), Contains("coeff = \"1.55\""));
  REQUIRE_THROWS_WITH(with("ays", "model_type=sd3"),
                      Contains("model_type = \"sd3\"") && Contains("sd1, sdxl, svd"));
  REQUIRE_THROWS_WITH(with("linear_quadratic", "linear_steps=10"),
                      Contains("linear_steps = \"10\"") && Contains("linear_steps <= steps - 1 = 9"));
  REQUIRE_THROWS_WITH(with("linear_quadratic", "linear_steps=2.5"), Contains("needs an integer"));
  REQUIRE_THROWS_WITH(with("linear_quadratic", "threshold_noise=1"), Contains("threshold_noise = \"1\""));
  auto flow_with = [&](const char* name, const char* options) {
    return stork::sigmas_from_name(name, 10, {.image_seq_len = 4096, .options = options});
  };
  REQUIRE_THROWS_WITH(flow_with("ltx2", "terminal=1.5"), Contains("terminal = \"1.5\"") && Contains("0.99"));
  REQUIRE_THROWS_WITH(flow_with("ltx2", "stretch=maybe"),
                      Contains("stretch = \"maybe\"") && Contains("true/false"));
  REQUIRE_THROWS_WITH(flow_with("logit_normal", "std=0"), Contains("std = \"0\""));
  REQUIRE_THROWS_WITH(flow_with("logit_normal", "logsnr_max=-20"), Contains("logsnr_max = \"-20\""));
  REQUIRE_THROWS_WITH(flow_with("flux2", "max_shift=1"), Contains("this takes no options"));
  REQUIRE_THROWS_WITH(flow_with("flux", "max_shift=nan"), Contains("max_shift = \"nan\""));
}

TEST_CASE("schedule_name: the key=value parser", "[schedule_name]") {
  using stork::detail::key_value_options;
  using stork::detail::parse_decimal;
  using stork::detail::split_key_values;
  const auto kv = split_key_values("t", " a=1 ;b = x y ,, ;c=");
  REQUIRE(kv.size() == 3);
  REQUIRE(kv[0].key == "a");
  REQUIRE(kv[0].value == "1");
  REQUIRE(kv[1].key == "b");
  REQUIRE(kv[1].value == "x y");
  REQUIRE(kv[2].key == "c");
  REQUIRE(kv[2].value.empty());
  REQUIRE(split_key_values("t", "").empty());
  REQUIRE(split_key_values("t", " , ; ").empty());
  REQUIRE(split_key_values("t", "a=b=c")[0].value == "b=c");
  double v = 0.0;
  for (const char* good : {"0.6", "+2", "-1.5e-3", ".5", "5.", "1E2"}) {
    INFO(good);
    REQUIRE(parse_decimal(good, v));
  }
  REQUIRE((parse_decimal("-1.5e-3", v) && v == -1.5e-3));
  for (const char* bad : {"", "+", "-", "abc", "1.5.2", "0x1p3", "1 2", "+-1", "++1", " 1", "1,5", "1e"}) {
    INFO(bad);
    REQUIRE_FALSE(parse_decimal(bad, v));
  }
  const key_value_options o("where", "n=3, flag=Yes, k=x", {"n", "flag", "k", "unused"});
  REQUIRE(o.integer("n", 0) == 3);
  REQUIRE(o.boolean("flag", false));
  REQUIRE(o.choice("k", "y", {"x", "y"}) == "x");
  REQUIRE(o.real("unused", 2.5) == 2.5);
  REQUIRE_FALSE(o.has("unused"));
  REQUIRE_THROWS_WITH(o.real("k", 0.0), Catch::Contains("where: k = \"x\"") &&
                                            Catch::Contains("accepted keys: n, flag, k, unused"));
  REQUIRE_THROWS_WITH(key_value_options("where", "n=99999999999", {"n"}).integer("n", 0),
                      Catch::Contains("n = \"99999999999\""));
}

TEST_CASE("schedule_name: the contract spelling", "[schedule_name]") {
  const stork::vp_discrete sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  const std::vector<double> s = stork::sigmas_from_name(
      "karras", 20,
      stork::schedule_context{.table = &sd, .flow_shift = 0.0, .image_seq_len = 4096, .options = ""});
  REQUIRE(s.size() == 21);
  REQUIRE(s.back() == 0.0);
  REQUIRE(s.front() == Approx(sd.ve_sigma(999)).epsilon(1e-12));
  REQUIRE(s[19] == Approx(sd.ve_sigma(0)).epsilon(1e-12));
}

TEST_CASE("schedule_name: report of the worst differences", "[.schedule_name_report]") {
  for (const auto& [name, w] : worst()) std::printf("%-50s %.3g\n", name.c_str(), w);
}
