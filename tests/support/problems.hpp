// Problems with known solutions (docs/test-problems.md) and the observed-order measurement used by the tests.
#pragma once

#include <stork/stork.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

namespace stork_test {

/// A scalar non-autonomous ODE y' = f(t, y) with exact solution y(t).
struct scalar_problem {
  std::string name;
  std::function<double(double, double)> rhs;
  std::function<double(double)> exact;
  double t0, t1;
};

/// Prothero–Robinson: y' = λ(y − φ(t)) + φ'(t), φ = sin, y(0) = φ(0) + 1, so y = φ(t) + e^{λt}.
inline scalar_problem prothero_robinson(double lambda) {
  return {"prothero-robinson(" + std::to_string(lambda) + ")",
          [lambda](double t, double y) { return lambda * (y - std::sin(t)) + std::cos(t); },
          [lambda](double t) { return std::sin(t) + std::exp(lambda * t); }, 0.0, 2.0};
}

/// y' = λy + 1/(1+t²) − λ·atan t, y(0) = 1, so y = atan t + e^{λt}.
inline scalar_problem atan_problem(double lambda) {
  return {"atan(" + std::to_string(lambda) + ")",
          [lambda](double t, double y) { return lambda * y + 1.0 / (1.0 + t * t) - lambda * std::atan(t); },
          [lambda](double t) { return std::atan(t) + std::exp(lambda * t); }, 0.0, 2.0};
}

/// y' = cos(t)·y, y(0) = 1, so y = exp(sin t): non-autonomous and state dependent.
inline scalar_problem exp_sin_problem() {
  return {"exp-sin", [](double t, double y) { return std::cos(t) * y; },
          [](double t) { return std::exp(std::sin(t)); }, 0.0, 3.0};
}

inline std::vector<double> uniform_grid(double t0, double t1, std::size_t n) {
  std::vector<double> g(n + 1);
  for (std::size_t i = 0; i <= n; ++i)
    g[i] = t0 + (t1 - t0) * static_cast<double>(i) / static_cast<double>(n);
  g[n] = t1;
  return g;
}

/// t_i = b + (a − b)·(1 + cos(πi/n))/2, i = 0..n: from a to b, end steps O(1/n²) (σ_i = (1 + cos(πi/n))/2
/// for a = 1, b = 0). A multistep method's first-order start and final steps cost O(1/n⁴) on it.
inline std::vector<double> cosine_grid(std::size_t n, double a = 1.0, double b = 0.0) {
  std::vector<double> g(n + 1);
  for (std::size_t i = 0; i <= n; ++i)
    g[i] = b + (a - b) * 0.5 *
                   (1.0 + std::cos(std::numbers::pi * static_cast<double>(i) / static_cast<double>(n)));
  g.front() = a, g.back() = b;
  return g;
}

/// |y_n − y(t1)| after integrating with `n` uniform steps.
template <class Method>
double end_error(const Method& m, const scalar_problem& p, std::size_t n) {
  std::vector<double> y{p.exact(p.t0)};
  auto f = [&p](const std::vector<double>& x, double t, std::vector<double>& v) { v[0] = p.rhs(t, x[0]); };
  stork::integrate(m, f, y, uniform_grid(p.t0, p.t1, n));
  return std::abs(y[0] - p.exact(p.t1));
}

/// Least-squares slope of log(error) against log(1/n): the observed order of convergence.
inline double fitted_slope(const std::vector<double>& ns, const std::vector<double>& errs) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double k = static_cast<double>(ns.size());
  for (std::size_t i = 0; i < ns.size(); ++i) {
    const double x = std::log(ns[i]), y = -std::log(errs[i]);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (k * sxy - sx * sy) / (k * sxx - sx * sx);
}

template <class Method>
double observed_order(const Method& m, const scalar_problem& p, const std::vector<std::size_t>& steps) {
  std::vector<double> ns, errs;
  for (std::size_t n : steps) {
    ns.push_back(static_cast<double>(n));
    errs.push_back(end_error(m, p, n));
  }
  return fitted_slope(ns, errs);
}

/// 1-D heat equation u_t = u_xx on (0, 1), Dirichlet, n interior points: the standard 3-point
/// Laplacian, whose spectrum is −(4/dx²)·sin²(kπdx/2), k = 1..n, spectral radius < 4/dx².
struct heat_equation {
  std::size_t n;
  double dx() const { return 1.0 / static_cast<double>(n + 1); }
  /// Largest eigenvalue magnitude (exact).
  double spectral_radius() const {
    const double s = std::sin(static_cast<double>(n) * std::numbers::pi * dx() / 2.0);
    return 4.0 / (dx() * dx()) * s * s;
  }
  void operator()(const std::vector<double>& u, double, std::vector<double>& v) const {
    const double c = 1.0 / (dx() * dx());
    for (std::size_t i = 0; i < n; ++i) {
      const double l = i > 0 ? u[i - 1] : 0.0, r = i + 1 < n ? u[i + 1] : 0.0;
      v[i] = c * (l - 2.0 * u[i] + r);
    }
  }
  /// Initial data with every mode present (the highest one included).
  std::vector<double> rough_initial() const {
    std::vector<double> u(n);
    for (std::size_t i = 0; i < n; ++i) u[i] = (i % 2 == 0 ? 1.0 : -1.0) + 0.5;
    return u;
  }
};

/// max_i |a_i − b_i| / max(1, |b_i|).
inline double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(a[i] - b[i]) / std::max(1.0, std::abs(b[i])));
  return m;
}

/// Same size and the same bits (NaN payloads and signed zeros included).
inline bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

inline double max_abs(const std::vector<double>& u) {
  double m = 0;
  for (double x : u) m = std::max(m, std::abs(x));
  return m;
}

/// Integrates the heat equation over `steps` steps of size `h` and returns max|u_end| / max|u_0|.
template <class Method>
double heat_growth(const Method& m, const heat_equation& heat, double h, std::size_t steps) {
  std::vector<double> u = heat.rough_initial();
  const double u0 = max_abs(u);
  stork::integrate(m, heat, u, uniform_grid(0.0, h * static_cast<double>(steps), steps));
  return max_abs(u) / u0;
}

/// One step of y' = t^k from 0 to h: the error against h^{k+1}/(k+1).
template <class Method>
double quadrature_error(const Method& m, int k, double h = 0.7) {
  std::vector<double> y{0.0};
  auto f = [k](const std::vector<double>&, double t, std::vector<double>& v) { v[0] = std::pow(t, k); };
  stork::integrate(m, f, y, std::vector<double>{0.0, h});
  return std::abs(y[0] - std::pow(h, k + 1) / (k + 1));
}

}  // namespace stork_test

namespace stork_test {

/// σ_i = S·u_i/(1 + (S−1)·u_i) with u uniform from 1 to 0: a smooth shifted flow grid (n intervals).
inline std::vector<double> shifted_grid(std::size_t n, double shift) {
  std::vector<double> g(n + 1);
  for (std::size_t i = 0; i <= n; ++i) {
    const double u = 1.0 - static_cast<double>(i) / static_cast<double>(n);
    g[i] = shift * u / (1.0 + (shift - 1.0) * u);
  }
  return g;
}

/// The flow toy of docs/reference.md §2.7, v(x, σ) = −x + σ², started from x(1) = 2 so that the exact
/// solution x(σ) = σ² − 2σ + 2 + e^{1−σ} is not a polynomial.
inline void flow_toy(const std::vector<double>& x, double sigma, std::vector<double>& v) {
  for (std::size_t i = 0; i < x.size(); ++i) v[i] = -x[i] + sigma * sigma;
}
inline double flow_toy_exact(double sigma) {
  return sigma * sigma - 2.0 * sigma + 2.0 + std::exp(1.0 - sigma);
}

}  // namespace stork_test
