/// @file
/// @brief Internal: the arithmetic behind the time grids. numpy's linspace; the Karras ρ-ramp and the
/// log-uniform ramp shared by flow_sigmas' spacings, karras_sigmas and exponential_sigmas; the
/// regularised incomplete beta function and its inverse (flow_sigmas' beta spacing).
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "stork/error.hpp"

namespace stork::detail {

/// numpy.linspace(a, b, n): a + i·(b − a)/(n − 1), the last value exactly b; [a] when n = 1.
inline std::vector<double> linspace(double a, double b, std::size_t n) {
  std::vector<double> y(n, a);
  if (n < 2) return y;
  const double step = (b - a) / static_cast<double>(n - 1);
  for (std::size_t i = 0; i < n; ++i) y[i] = a + static_cast<double>(i) * step;
  y[n - 1] = b;
  return y;
}

/// The Karras ρ-ramp from `hi` down to `lo` in n values: (hi^{1/ρ} + r_i·(lo^{1/ρ} − hi^{1/ρ}))^ρ with
/// r = linspace(0, 1, n), in this operation order (k-diffusion's get_sigmas_karras, without its final 0).
/// Uniform in σ^{1/ρ}; ρ = 1 is linear in σ. Not exactly hi and lo at the ends (pow round-trips).
inline std::vector<double> karras_ramp(double hi, double lo, double rho, std::size_t n) {
  const double hi_r = std::pow(hi, 1.0 / rho), lo_r = std::pow(lo, 1.0 / rho);
  const std::vector<double> r = linspace(0.0, 1.0, n);
  std::vector<double> sig(n);
  for (std::size_t i = 0; i < n; ++i) sig[i] = std::pow(hi_r + r[i] * (lo_r - hi_r), rho);
  return sig;
}

/// n values uniform in log σ from `hi` down to `lo`: exp(linspace(ln hi, ln lo, n)) (k-diffusion's
/// get_sigmas_exponential, without its final 0). Not exactly hi and lo at the ends (exp∘log round-trips).
inline std::vector<double> log_uniform_ramp(double hi, double lo, std::size_t n) {
  std::vector<double> sig = linspace(std::log(hi), std::log(lo), n);
  for (double& v : sig) v = std::exp(v);
  return sig;
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
/// (≈ 1e-12 at 1e6, where ln B(a, b) cancels). Throws stork::error (naming flow_sigmas' beta_alpha,
/// its only caller) if the continued fraction does not converge.
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

}  // namespace stork::detail
