// Helpers shared by the tests of the multistep baselines (dpmpp, unipc, ipndm): the cosine grid whose
// first and last steps shrink like 1/n², observed orders on single-Gaussian flow and VP ε problems with
// exact solutions, and the engine-owned loop written out by hand.
#pragma once

#include <stork/stork.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

namespace stork_test {

/// The single Gaussian of the order tests: data N(2, 0.5²), started from x = 1.5 (the quickstart's).
constexpr double order_mu = 2.0, order_s = 0.5, order_x0 = 1.5;

/// |x_N − x(0)| after integrating the exact rectified-flow field of N(μ, s²) from σ = 1 to 0 on `grid`.
template <class Method>
double flow_gaussian_error(const Method& m, const std::vector<double>& grid) {
  const gaussian_mixture g = single_gaussian(order_mu, order_s);
  std::vector<double> x{order_x0};
  stork::integrate(
      m, [&g](const std::vector<double>& y, double s, std::vector<double>& v) { g.flow_velocity(y, s, v); },
      x, grid);
  return std::abs(x[0] - gaussian_flow_map(order_mu, order_s, order_x0, grid.front(), grid.back()));
}

/// |x_N − x(τ_N)| after integrating the exact VP ε̂ of N(μ, s²) (through `vp_epsilon`) on `grid`.
template <class Method>
double vp_gaussian_error(const Method& m, const std::vector<double>& grid) {
  const stork::vp_linear vp{};
  const gaussian_mixture g = single_gaussian(order_mu, order_s);
  auto f = stork::vp_epsilon(
      [&](const std::vector<double>& y, double t, std::vector<double>& e) { g.epsilon(vp, y, t, e); }, vp);
  std::vector<double> x{order_x0};
  stork::integrate(m, f, x, grid);
  return std::abs(x[0] - gaussian_vp_map(vp, order_mu, order_s, order_x0, grid.front(), grid.back()));
}

/// VP grids of the order tests run from τ = 1 to τ = 1e-3.
constexpr double vp_start = 1.0, vp_stop = 1e-3;

/// Observed order (log–log slope) on the cosine grid (`cosine = false`: the uniform grid).
template <class Method>
double flow_order(const Method& m, const std::vector<std::size_t>& steps, bool cosine = true) {
  std::vector<double> ns, errs;
  for (std::size_t n : steps) {
    ns.push_back(static_cast<double>(n));
    errs.push_back(flow_gaussian_error(m, cosine ? cosine_grid(n) : uniform_grid(1.0, 0.0, n)));
  }
  return fitted_slope(ns, errs);
}
template <class Method>
double vp_order(const Method& m, const std::vector<std::size_t>& steps, bool cosine = true) {
  std::vector<double> ns, errs;
  for (std::size_t n : steps) {
    ns.push_back(static_cast<double>(n));
    errs.push_back(vp_gaussian_error(
        m, cosine ? cosine_grid(n, vp_start, vp_stop) : uniform_grid(vp_start, vp_stop, n)));
  }
  return fitted_slope(ns, errs);
}

/// The engine-owned loop written out: model(x, t, out) then step(out, x), recording x after every step.
template <class Method, class Model, class P = stork::flow_velocity>
std::vector<std::vector<double>> scheduler_trace(const Method& m, Model&& model, std::vector<double>& x,
                                                 const std::vector<double>& grid, const P& param = {}) {
  auto sch = stork::make_scheduler(m, grid, x, param);
  std::vector<double> out(x.size());
  std::vector<std::vector<double>> trace;
  while (!sch.done()) {
    model(x, sch.time(), out);
    sch.step(out, x);
    trace.push_back(x);
  }
  return trace;
}

/// One model call per interval (11 on flow_sigmas(11), 9 on a 9-interval VP grid) and integrate equal, bit
/// for bit, to the scheduler loop, on the three-blob mixture for a flow field and for a vp_epsilon field.
template <class Method>
void require_one_call_per_interval_and_loop_equality(const Method& m) {
  const gaussian_mixture g = three_blobs();
  auto f = [&g](const std::vector<double>& y, double s, std::vector<double>& v) { g.flow_velocity(y, s, v); };
  const stork::vp_linear vp{};
  auto eps = [&](const std::vector<double>& y, double t, std::vector<double>& e) { g.epsilon(vp, y, t, e); };
  std::vector<double> a = fixed_noise(6), b = a;
  REQUIRE(stork::integrate(m, f, a, stork::flow_sigmas(11)).nfe == 11);
  scheduler_trace(m, f, b, stork::flow_sigmas(11));
  REQUIRE(a == b);
  std::vector<double> c = fixed_noise(6, 2), d = c;
  REQUIRE(stork::integrate(m, stork::vp_epsilon(eps, vp), c, cosine_grid(9, 1.0, 1e-3)).nfe == 9);
  scheduler_trace(m, eps, d, cosine_grid(9, 1.0, 1e-3), vp);
  REQUIRE(c == d);
}

}  // namespace stork_test
