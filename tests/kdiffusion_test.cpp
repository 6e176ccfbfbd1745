// k-diffusion parity in VE σ space (x = x₀ + σ·ε, a denoiser D(x, σ)): stork's euler, heun, dpmpp_2m and
// ipndm (order 4) against transcriptions of k-diffusion's published update rules (crowsonkb/k-diffusion,
// k_diffusion/sampling.py: get_sigmas_karras, get_sigmas_exponential, to_d, sample_euler, sample_heun,
// sample_dpmpp_2m, linear_multistep_coeff and sample_lms), written here from those rules in plain loops,
// with their end handling (no model call at σ = 0; Heun's Euler step on the last interval; DPM-Solver++
// ending with x = D). Agreement to 1e-12 relative in double.
#include <stork/stork.hpp>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <functional>
#include <vector>

#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace kd {

using denoiser = std::function<void(const vec&, double, vec&)>;

/// get_sigmas_karras(n, sigma_min, sigma_max, rho): ramp = linspace(0, 1, n),
/// (max^(1/ρ) + ramp·(min^(1/ρ) − max^(1/ρ)))^ρ, then append_zero.
vec get_sigmas_karras(std::size_t n, double sigma_min, double sigma_max, double rho) {
  vec s;
  const double lo = std::pow(sigma_min, 1.0 / rho), hi = std::pow(sigma_max, 1.0 / rho);
  for (std::size_t i = 0; i < n; ++i) {
    const double ramp = n == 1 ? 0.0 : double(i) / double(n - 1);
    s.push_back(std::pow(hi + ramp * (lo - hi), rho));
  }
  s.push_back(0.0);
  return s;
}

/// get_sigmas_exponential(n, sigma_min, sigma_max): exp(linspace(log max, log min, n)), then append_zero.
vec get_sigmas_exponential(std::size_t n, double sigma_min, double sigma_max) {
  vec s;
  for (std::size_t i = 0; i < n; ++i) {
    const double r = n == 1 ? 0.0 : double(i) / double(n - 1);
    s.push_back(std::exp(std::log(sigma_max) + r * (std::log(sigma_min) - std::log(sigma_max))));
  }
  s.push_back(0.0);
  return s;
}

/// to_d(x, sigma, denoised) = (x − denoised)/sigma.
vec to_d(const vec& x, double sigma, const vec& den) {
  vec d(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) d[i] = (x[i] - den[i]) / sigma;
  return d;
}

struct run {
  vec x;
  std::size_t calls = 0;
};

/// sample_euler (s_churn = 0): x ← x + d·(σ_{i+1} − σ_i).
run sample_euler(const denoiser& model, vec x, const vec& sigmas) {
  run r;
  vec den(x.size());
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den), ++r.calls;
    const vec d = to_d(x, sigmas[i], den);
    const double dt = sigmas[i + 1] - sigmas[i];
    for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + d[k] * dt;
  }
  r.x = x;
  return r;
}

/// sample_heun (s_churn = 0): Euler when σ_{i+1} = 0, else the trapezoid with d' = (d + d₂)/2.
run sample_heun(const denoiser& model, vec x, const vec& sigmas) {
  run r;
  vec den(x.size()), den2(x.size());
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den), ++r.calls;
    const vec d = to_d(x, sigmas[i], den);
    const double dt = sigmas[i + 1] - sigmas[i];
    if (sigmas[i + 1] == 0.0) {
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + d[k] * dt;
    } else {
      vec x2(x.size());
      for (std::size_t k = 0; k < x.size(); ++k) x2[k] = x[k] + d[k] * dt;
      model(x2, sigmas[i + 1], den2), ++r.calls;
      const vec d2 = to_d(x2, sigmas[i + 1], den2);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + (d[k] + d2[k]) / 2 * dt;
    }
  }
  r.x = x;
  return r;
}

/// sample_dpmpp_2m: t = −log σ, h = t_{i+1} − t_i; first order on the first step and when σ_{i+1} = 0,
/// otherwise r = h_last/h and D' = (1 + 1/(2r))·D − 1/(2r)·D_old; x ← (σ_{i+1}/σ_i)·x − expm1(−h)·D'.
run sample_dpmpp_2m(const denoiser& model, vec x, const vec& sigmas) {
  run r;
  vec den(x.size()), old;
  auto t_fn = [](double s) { return -std::log(s); };
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den), ++r.calls;
    const double t = t_fn(sigmas[i]), t_next = t_fn(sigmas[i + 1]), h = t_next - t;
    vec dd = den;
    if (!old.empty() && sigmas[i + 1] != 0.0) {
      const double h_last = t - t_fn(sigmas[i - 1]), rr = h_last / h;
      for (std::size_t k = 0; k < x.size(); ++k)
        dd[k] = (1 + 1 / (2 * rr)) * den[k] - (1 / (2 * rr)) * old[k];
    }
    for (std::size_t k = 0; k < x.size(); ++k)
      x[k] = (sigmas[i + 1] / sigmas[i]) * x[k] - std::expm1(-h) * dd[k];
    old = den;
  }
  r.x = x;
  return r;
}

/// linear_multistep_coeff(order, t, i, j) = ∫_{t_i}^{t_{i+1}} Π_{k≠j} (τ − t_{i−k})/(t_{i−j} − t_{i−k}) dτ
/// (k-diffusion uses scipy's quad; the integrand is a polynomial of degree ≤ 3, which 3-point
/// Gauss–Legendre integrates exactly).
double linear_multistep_coeff(std::size_t order, const vec& t, std::size_t i, std::size_t j) {
  auto fn = [&](double tau) {
    double prod = 1.0;
    for (std::size_t k = 0; k < order; ++k) {
      if (j == k) continue;
      prod *= (tau - t[i - k]) / (t[i - j] - t[i - k]);
    }
    return prod;
  };
  const double a = t[i], b = t[i + 1], m = 0.5 * (a + b), hw = 0.5 * (b - a);
  const double node = std::sqrt(0.6);
  return hw * (5.0 / 9.0 * fn(m - hw * node) + 8.0 / 9.0 * fn(m) + 5.0 / 9.0 * fn(m + hw * node));
}

/// sample_lms(order = 4): ds holds the last `order` derivatives; cur_order = min(i + 1, order);
/// x ← x + Σ_j coeff_j·ds[−1−j].
run sample_lms(const denoiser& model, vec x, const vec& sigmas, std::size_t order = 4) {
  run r;
  vec den(x.size());
  std::vector<vec> ds;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den), ++r.calls;
    ds.push_back(to_d(x, sigmas[i], den));
    if (ds.size() > order) ds.erase(ds.begin());
    const std::size_t cur = std::min(i + 1, order);
    for (std::size_t j = 0; j < cur; ++j) {
      const double c = linear_multistep_coeff(cur, sigmas, i, j);
      const vec& d = ds[ds.size() - 1 - j];
      for (std::size_t k = 0; k < x.size(); ++k) x[k] += c * d[k];
    }
  }
  r.x = x;
  return r;
}

}  // namespace kd

namespace {

/// 8 points of the 2-D three-blob mixture at σ_max: x = σ_max·z.
vec start(double sigma_max, unsigned seed) {
  vec x = fixed_noise(16, seed);
  for (double& v : x) v *= sigma_max;
  return x;
}

}  // namespace

TEST_CASE("kdiffusion: karras_sigmas and exponential_sigmas equal get_sigmas_karras/exponential",
          "[kdiffusion][schedule]") {
  for (int n : {1, 2, 10, 25}) {
    const vec a = stork::karras_sigmas(
        n, stork::karras_schedule{.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0});
    const vec b = kd::get_sigmas_karras(std::size_t(n), 0.0292, 14.6146, 7.0);
    REQUIRE(a.size() == b.size());
    REQUIRE(rel_diff(a, b) < 1e-14);
    const vec c =
        stork::exponential_sigmas(n, stork::exponential_schedule{.sigma_min = 0.002, .sigma_max = 80.0});
    REQUIRE(rel_diff(c, kd::get_sigmas_exponential(std::size_t(n), 0.002, 80.0)) < 1e-14);
  }
  REQUIRE(rel_diff(stork::karras_sigmas(12, {.sigma_min = 0.002, .sigma_max = 80.0, .rho = 3.0}),
                   kd::get_sigmas_karras(12, 0.002, 80.0, 3.0)) < 1e-14);
}

TEST_CASE("kdiffusion: euler, heun, dpmpp_2m and ipndm(4) equal sample_euler/heun/dpmpp_2m/lms(4)",
          "[kdiffusion]") {
  const gaussian_mixture g = three_blobs();
  const stork::ve process{};
  std::size_t calls = 0;
  const kd::denoiser model = [&](const vec& x, double sigma, vec& out) {
    REQUIRE(sigma > 0.0);  // never called at σ = 0
    ++calls;
    g.posterior_quantity(gaussian_mixture::quantity::mean, 1.0, sigma, x, out);
  };
  const auto f = stork::field(model, process, stork::prediction::sample);
  auto check = [&](const char* grid_name, const vec& sigmas) {
    const std::size_t n = sigmas.size() - 1;
    for (unsigned seed : {1u, 2u}) {
      INFO(grid_name << ", " << n << " steps, seed " << seed);
      const vec x0 = start(sigmas.front(), seed);
      auto compare = [&](const char* method, const auto& m, const kd::run& ref, std::size_t nfe) {
        INFO(method);
        vec x = x0;
        calls = 0;
        const stork::stats r = stork::integrate(m, f, x, sigmas);
        REQUIRE(r.nfe == ref.calls);
        REQUIRE(calls == ref.calls);
        REQUIRE(r.nfe == nfe);
        const double d = rel_diff(x, ref.x);
        INFO("max relative difference " << d);
        REQUIRE(d < 1e-12);
        // The engine-owned loop with model<ve> gives the same bits as integrate.
        vec y = x0, out(y.size());
        auto sch = stork::make_scheduler(
            m, sigmas, y, stork::model<stork::ve>{.process = {}, .prediction = stork::prediction::sample});
        while (!sch.done()) {
          model(y, sch.time(), out);
          sch.step(out, y);
        }
        REQUIRE(y == x);
      };
      compare("euler", stork::euler{}, kd::sample_euler(model, x0, sigmas), n);
      compare("heun", stork::heun{}, kd::sample_heun(model, x0, sigmas), 2 * n - 1);
      compare("dpmpp_2m", stork::dpmpp_2m{}, kd::sample_dpmpp_2m(model, x0, sigmas), n);
      compare("ipndm order 4 = lms(4)", stork::ipndm{.order = 4}, kd::sample_lms(model, x0, sigmas, 4), n);
      compare("ipndm order 2 = lms(2)", stork::ipndm{.order = 2}, kd::sample_lms(model, x0, sigmas, 2), n);
    }
  };
  check("karras", kd::get_sigmas_karras(10, 0.0292, 14.6146, 7.0));
  check("karras", kd::get_sigmas_karras(25, 0.0292, 14.6146, 7.0));
  check("exponential", kd::get_sigmas_exponential(15, 0.0292, 14.6146));
  check("karras EDM", kd::get_sigmas_karras(18, 0.002, 80.0, 7.0));
}

TEST_CASE("kdiffusion: a discrete eps model sampled in VE sigma space equals the same model in VP tau space",
          "[kdiffusion][ve][discrete]") {
  // stable-diffusion.cpp and ComfyUI run an SD ε network in σ space: x_VE = x_VP/α, the network called on
  // c_in·x_VE = x_VE/√(σ² + 1) at the fractional timestep looked up from σ. The same network in VP τ
  // space is called on x_VP at the timestep of σ_VE(τ) = σ(τ)/α(τ). Both are one ODE; on a fine grid
  // the two samples agree once mapped back (x_VP = α·x_VE).
  const stork::vp_discrete sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  const gaussian_mixture g = three_blobs();
  // The "network": a smooth function of (input, fractional timestep) — here the exact ε of the mixture at
  // the table's noise level of that timestep (log σ linear between integer timesteps, as the engines do).
  auto net = [&](const vec& x_in, double t, vec& out) {
    const double s = sd.sigma_of_timestep(t), a = 1.0 / std::sqrt(1.0 + s * s);
    g.posterior_quantity(gaussian_mixture::quantity::noise, a, s * a, x_in, out);
  };
  vec scaled(16);
  auto ve_model = [&](const vec& x, double sigma, vec& out) {
    const double c_in = 1.0 / std::sqrt(sigma * sigma + 1.0);
    for (std::size_t i = 0; i < x.size(); ++i) scaled[i] = c_in * x[i];
    net(scaled, sd.timestep_of_sigma(sigma), out);
  };
  auto vp_model = [&](const vec& x, double tau, vec& out) {
    net(x, sd.timestep_of_sigma(sd.sigma(tau) / sd.alpha(tau)), out);
  };
  const vec taus = uniform_grid(0.95, 0.05, 4000);
  vec sigmas(taus.size());
  for (std::size_t i = 0; i < taus.size(); ++i) sigmas[i] = sd.sigma(taus[i]) / sd.alpha(taus[i]);
  const vec x_vp0 = fixed_noise(16, 5);
  vec x_vp = x_vp0, x_ve = x_vp0;
  for (double& v : x_ve) v /= sd.alpha(taus.front());
  stork::integrate(stork::rock4{.stages = 5}, stork::field(vp_model, sd, stork::prediction::epsilon), x_vp,
                   taus);
  stork::integrate(stork::rock4{.stages = 5}, stork::field(ve_model, stork::ve{}, stork::prediction::epsilon),
                   x_ve, sigmas);
  for (double& v : x_ve) v *= sd.alpha(taus.back());
  const double d = rel_diff(x_ve, x_vp);
  INFO("max relative difference VE vs VP " << d);
  REQUIRE(d < 1e-8);
  REQUIRE(rel_diff(x_vp, x_vp0) > 0.1);  // the samples did move
}
