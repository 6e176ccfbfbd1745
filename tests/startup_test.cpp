// STORK's start-up options (stork::startup): the measured global order of every start-up and derivative
// order for STORK-4 and STORK-2, and the rule by which `automatic` picks one (docs/startup.md).
#include <catch2/catch.hpp>

#include <stork/stork.hpp>

#include <cmath>
#include <cstddef>
#include <vector>

#include "support/convergence.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

namespace {

using namespace stork_test;
using stork::startup;

const char* name(startup s) {
  return s == startup::automatic ? "automatic" : s == startup::runge_kutta ? "runge_kutta" : "multistep";
}

/// Observed order on the flow toy (v = −x + σ², a smooth non-polynomial solution) over uniform σ grids of
/// 32..256 intervals: every grid is long enough for `automatic` to take the Runge–Kutta start-up.
template <class Method>
double toy_order(const Method& m) {
  vec ns, errs;
  for (std::size_t n : {32, 64, 128, 256}) {
    vec x{2.0};
    stork::integrate(m, flow_toy, x, uniform_grid(1.0, 0.0, n));
    ns.push_back(double(n));
    errs.push_back(std::abs(x[0] - flow_toy_exact(0.0)));
  }
  return fitted_slope(ns, errs);
}

/// The orders the README's box gives: the Runge–Kutta start-up keeps STORK-4's order (derivative_order + 1),
/// the multistep start-up's Euler first step caps every configuration at 2; STORK-2 is of order 2 anyway.
double expected_order(bool stork4, int d, startup s) {
  if (!stork4 || s == startup::multistep) return 2.0;
  return double(d + 1);
}

}  // namespace

TEST_CASE("startup: measured global order of every start-up and derivative order", "[startup][order]") {
  for (int d : {2, 3})
    for (startup s : {startup::automatic, startup::runge_kutta, startup::multistep}) {
      const double o4 = toy_order(stork::stork4{.derivative_order = d, .startup = s});
      const double o2 = toy_order(stork::stork2{.derivative_order = d, .startup = s});
      INFO("derivative_order " << d << ", " << name(s) << ": stork4 " << o4 << ", stork2 " << o2);
      REQUIRE(o4 == Approx(expected_order(true, d, s)).margin(0.15));
      // STORK-2 with the Heun start-up measures 2.26 here before its asymptotic slope 2 (its O(h²) error
      // constant is small, tests/stork2_test.cpp); 0.3 keeps that and still fails an order 1 or 3.
      REQUIRE(o2 == Approx(expected_order(false, d, s)).margin(0.3));
    }
}

TEST_CASE("startup: the ε path and VE keep the same orders with each start-up", "[startup][order]") {
  for (int d : {2, 3})
    for (startup s : {startup::automatic, startup::multistep}) {  // runge_kutta: tests/stork4_test.cpp
      const stork::stork4 m{.derivative_order = d, .startup = s};
      const double eps = eps_order(m), ve = ve_order(m);
      INFO("stork4 derivative_order " << d << ", " << name(s) << ": ε path " << eps << ", VE " << ve);
      // The multistep start-up measures 2.1–2.4 here: over these grids the first step's O(h²) error is not
      // yet the largest term.
      const double want = expected_order(true, d, s);
      REQUIRE(eps == Approx(want).margin(s == startup::multistep ? 0.45 : 0.15));
      REQUIRE(ve == Approx(want).margin(s == startup::multistep ? 0.45 : 0.15));
    }
}

TEST_CASE("startup: the rule of automatic_startup", "[startup]") {
  using stork::automatic_startup;
  for (int d : {2, 3}) {
    const std::size_t n = d == 2 ? 15 : 30;
    INFO("derivative_order " << d);
    // Long enough, with a full-size first step: uniform, use_flow_sigmas at shift 1, karras (a long one).
    REQUIRE(automatic_startup(d, uniform_grid(1.0, 0.0, n)) == startup::runge_kutta);
    REQUIRE(automatic_startup(d, uniform_grid(0.0, 2.0, n)) == startup::runge_kutta);  // increasing time
    REQUIRE(automatic_startup(d, stork::use_flow_sigmas(int(n), 1.0)) == startup::runge_kutta);
    REQUIRE(automatic_startup(d, stork::karras_sigmas(int(n))) == startup::runge_kutta);
    // One interval short.
    REQUIRE(automatic_startup(d, uniform_grid(1.0, 0.0, n - 1)) == startup::multistep);
    // A first step under half the mean: shift 3 (about a third), the beta spacing.
    for (std::size_t m : {n, 4 * n}) {
      REQUIRE(automatic_startup(d, stork::use_flow_sigmas(int(m), 3.0)) == startup::multistep);
      REQUIRE(automatic_startup(d, stork::flow_sigmas(int(m), {.shift = 3.0})) == startup::multistep);
      REQUIRE(automatic_startup(d, stork::flow_sigmas(int(m), {.spacing = stork::sigma_spacing::beta})) ==
              startup::multistep);
    }
    vec edge = uniform_grid(1.0, 0.0, n);
    edge[1] = 1.0 - 0.51 / double(n);  // just over half the mean
    REQUIRE(automatic_startup(d, edge) == startup::runge_kutta);
    edge[1] = 1.0 - 0.49 / double(n);
    REQUIRE(automatic_startup(d, edge) == startup::multistep);
  }
  REQUIRE(automatic_startup(2, vec{1.0}) == startup::multistep);
  REQUIRE(automatic_startup(2, vec{}) == startup::multistep);
}

TEST_CASE("startup: automatic is the start-up its rule names, in integrate and the engine loop",
          "[startup]") {
  const gaussian_mixture gm = three_blobs();
  auto flow = [&gm](const vec& y, double t, vec& v) { gm.flow_velocity(y, t, v); };
  const auto den =
      stork::field([&gm](const vec& y, double t,
                         vec& o) { gm.model_output(stork::ve{}, stork::prediction::sample, y, t, o); },
                   stork::ve{}, stork::prediction::sample);
  const vec noise = fixed_noise(6, 5);
  auto check = [&](auto method, std::size_t threshold, std::size_t extra) {
    for (std::size_t n : {threshold - 1, threshold}) {
      const bool rk = n >= threshold;  // on these grids (shift 1, karras) the first step is long enough
      auto explicit_m = method, auto_m = method;
      explicit_m.startup = rk ? startup::runge_kutta : startup::multistep;
      auto_m.startup = startup::automatic;
      INFO("derivative_order " << method.derivative_order << ", " << n << " intervals");
      {
        const vec grid = stork::use_flow_sigmas(int(n), 1.0);
        vec a = noise, b = noise;
        const auto ra = stork::integrate(auto_m, flow, a, grid);
        const auto rb = stork::integrate(explicit_m, flow, b, grid);
        REQUIRE(same_bits(a, b));
        REQUIRE(ra.nfe == n + (rk ? extra : 0));
        REQUIRE(rb.nfe == ra.nfe);
      }
      {
        const vec grid = stork::karras_sigmas(int(n), {.sigma_min = 0.03, .sigma_max = 10.0});
        vec a = noise, b = noise;
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = b[i] = 10.0 * noise[i];
        REQUIRE(stork::integrate(auto_m, den, a, grid).nfe == n + (rk ? extra : 0));
        stork::integrate(explicit_m, den, b, grid);
        REQUIRE(same_bits(a, b));
      }
      {  // the engine-owned loop decides the same way
        const vec grid = stork::use_flow_sigmas(int(n), 1.0);
        vec x = noise, v(x.size());
        auto sch = stork::make_scheduler(auto_m, grid, x);
        while (!sch.done()) {
          flow(x, sch.time(), v);
          sch.step(v, x);
        }
        REQUIRE(sch.nfe() == n + (rk ? extra : 0));
      }
    }
  };
  {  // a shifted grid of 15 intervals starts with the multistep start-up
    const vec grid = stork::use_flow_sigmas(15, 3.0);
    vec a = noise, b = noise;
    const auto ra = stork::integrate(stork::stork4{}, flow, a, grid);
    stork::integrate(stork::stork4{.startup = startup::multistep}, flow, b, grid);
    REQUIRE(ra.nfe == 15);
    REQUIRE(same_bits(a, b));
  }
  check(stork::stork4{.derivative_order = 2}, 15, 1);
  check(stork::stork4{.derivative_order = 3}, 30, 4);
  check(stork::stork2{.stages = 10, .derivative_order = 2}, 15, 1);
  check(stork::stork2{.stages = 10, .derivative_order = 3}, 30, 4);
}
