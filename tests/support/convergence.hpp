// Observed global order of a sampler on smooth problems with exact answers: the flow toy and a single
// Gaussian on shifted flow grids, a VP Gaussian through vp_epsilon (τ from 0.9 to 0.1), and a VE Gaussian
// through a denoiser (σ from 10 to 0.1).
#pragma once

#include <stork/scheduler.hpp>
#include <stork/stork.hpp>

#include <cmath>
#include <vector>

#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

namespace stork_test {

using vec = std::vector<double>;

/// Order on flow grids with shift `shift` (n = 128..1024): the flow toy from x(1) = 2, or N(1, 2²) from 0.4.
template <class Method>
double flow_order(const Method& m, double shift, bool gaussian) {
  vec ns, errs;
  for (std::size_t n : {128, 256, 512, 1024}) {
    vec x{gaussian ? 0.4 : 2.0};
    const vec grid = shifted_grid(n, shift);
    if (gaussian) {
      const gaussian_mixture g = single_gaussian(1.0, 2.0);
      stork::integrate(
          m, [&g](const vec& y, double s, vec& v) { g.flow_velocity(y, s, v); }, x, grid);
      errs.push_back(std::abs(x[0] - gaussian_flow_map(1.0, 2.0, 0.4, 1.0, 0.0)));
    } else {
      stork::integrate(m, flow_toy, x, grid);
      errs.push_back(std::abs(x[0] - flow_toy_exact(0.0)));
    }
    ns.push_back(double(n));
  }
  return fitted_slope(ns, errs);
}

/// Order on the VP ε path: the flow map of N(1, 2²) to τ = 0.1, then the exact Tweedie denoise there.
template <class Method>
double eps_order(const Method& m) {
  const stork::vp_linear vp{};
  const gaussian_mixture g = single_gaussian(1.0, 2.0);
  auto f = stork::vp_epsilon([&](const vec& y, double t, vec& e) { g.epsilon(vp, y, t, e); }, vp);
  // Exact endpoint: the flow map to τ = 0.1, then the exact Tweedie denoise there.
  const double xe = gaussian_vp_map(vp, 1.0, 2.0, 0.4, 0.9, 0.1);
  const double al = vp.alpha(0.1), sg = vp.sigma(0.1), var = al * al * 4.0 + sg * sg;
  const double x0hat = (xe - sg * (sg / var) * (xe - al * 1.0)) / al;
  vec ns, errs;
  for (std::size_t n : {64, 128, 256, 512}) {
    vec x{0.4};
    stork::integrate(m, f, x, uniform_grid(0.9, 0.1, n));
    ns.push_back(double(n));
    errs.push_back(std::abs(x[0] - x0hat));
  }
  return fitted_slope(ns, errs);
}

/// Order in VE σ space (x = x0 + σε) with a model of prediction `p` (a denoiser by default): the flow map of
/// N(1, 2²) from x = 4 at σ = 10 to σ = 0.1 on the exponential grid σ_i = 10·100^(−i/n), n = n0..8·n0.
template <class Method>
double ve_order(const Method& m, stork::prediction p = stork::prediction::sample, std::size_t n0 = 64) {
  const stork::ve ve{};
  const gaussian_mixture g = single_gaussian(1.0, 2.0);
  auto f = stork::field([&](const vec& y, double t, vec& o) { g.model_output(ve, p, y, t, o); }, ve, p);
  const double exact = gaussian_process_map(ve, 1.0, 2.0, 4.0, 10.0, 0.1);
  vec ns, errs;
  for (std::size_t n : {n0, 2 * n0, 4 * n0, 8 * n0}) {
    vec grid(n + 1), x{4.0};
    for (std::size_t i = 0; i <= n; ++i) grid[i] = 10.0 * std::pow(0.01, double(i) / double(n));
    stork::integrate(m, f, x, grid);
    ns.push_back(double(n));
    errs.push_back(std::abs(x[0] - exact));
  }
  return fitted_slope(ns, errs);
}

}  // namespace stork_test
