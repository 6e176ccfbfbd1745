// Tests of <stork/methods/stork2.hpp>: golden values, effective weights, collapse, orders, errors.
#include <stork/methods/stork2.hpp>
#include <stork/schedule.hpp>
#include <stork/scheduler.hpp>
#include <stork/stork.hpp>

#include <catch2/catch.hpp>
#include <cmath>

#include "support/convergence.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;
using stork::variant;

namespace {
void toy(const vec& x, double sigma, vec& v) { v[0] = -x[0] + sigma * sigma; }

}  // namespace

TEST_CASE("stork2 reference: golden flow sequence of docs/reference.md §2.7", "[stork2][golden]") {
  const stork::stork2 m{.stages = 5, .derivative_order = 2, .variant = variant::reference};
  vec x{1.0}, v{0.0}, got;
  const vec grid = stork::flow_sigmas(8, {.shift = 1.0});
  auto sch = stork::make_scheduler(m, grid, x);
  while (!sch.done()) {
    toy(x, sch.time(), v);
    sch.step(v, x);
    got.push_back(x[0]);
  }
  const vec want{1, 1.01473, 1.074626, 1.173108, 1.311419, 1.489855, 1.708306, 1.966643, 1.968611};
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    REQUIRE(std::abs(got[i] - want[i]) <= 2e-5 * std::max(1.0, want[i]));
}

TEST_CASE("stork2: effective weights against docs/reference.md §2.5", "[stork2][weights]") {
  const auto r5 = stork::effective_weights(stork::stork2{.stages = 5, .variant = variant::reference});
  const auto r50 = stork::effective_weights(stork::stork2{.stages = 50, .variant = variant::reference});
  const auto c50 = stork::effective_weights(stork::stork2{.stages = 50});
  const std::array<double, 4> t5{1, 0.438630, 0.184873, 0.095613}, t50{1, 0.489620, 0.242934, 0.145164},
      e50{1, 0.5, 0.249433, 0.149434};
  for (std::size_t k = 0; k < 4; ++k) {
    REQUIRE(r5[k] == Approx(t5[k]).margin(1e-6));
    REQUIRE(r50[k] == Approx(t50[k]).margin(1e-6));
    REQUIRE(c50[k] == Approx(e50[k]).margin(1e-6));
  }
}

TEST_CASE("stork2: collapsed step equals the stage-by-stage form to 1e-12", "[stork2][collapse]") {
  const std::size_t n = 5;
  auto filled = [n](double seed) {
    vec v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::cos(seed + 0.9 * double(i));
    return v;
  };
  const vec y0 = filled(0.3), f0 = filled(1.0), f1 = filled(2.0), f2 = filled(3.0);
  const std::array<const vec*, 4> F{&f0, &f1, &f2, &f0};
  const auto poly = stork::detail::reference_flow_taylor(0.04, 0.05);
  for (int s : {2, 5, 50, 148})
    for (variant var : {variant::corrected, variant::reference}) {
      const stork::detail::stork_coefficients k(stork::detail::stork_family::rkg2, s, 2, var);
      auto check = [&](const auto& param) {
        vec staged(n), collapsed(n);
        stork::detail::stagewise_step(k, param, poly, 0.6, -0.04, y0, F, staged);
        const auto w = stork::detail::collapsed_weights(k, param, stork::detail::output_is_velocity(param),
                                                        poly, 0.6, -0.04);
        const std::array<const vec*, 4> xs{&y0, &f0, &f1, &f2};
        stork::state_ops<vec>::lincomb(collapsed, std::span<const double>(w.data(), 4),
                                       std::span<const vec* const>(xs.data(), 4));
        for (std::size_t i = 0; i < n; ++i)
          REQUIRE(collapsed[i] == Approx(staged[i]).epsilon(1e-12).margin(1e-14));
      };
      check(stork::flow_velocity{});
      check(stork::model<stork::vp_linear>{});
    }
}

TEST_CASE("stork2 corrected: global order 2 on uniform and shifted grids, and on the ε path",
          "[stork2][order]") {
  for (double shift : {1.0, 3.0})
    for (bool gaussian : {false, true})
      for (int s : {5, 50}) {
        // The Runge–Kutta start-up (automatic takes the multistep one on shift 3, whose Euler first step
        // makes the Gaussian at shift 3 measure 1.4 here before reaching its asymptotic slope 2).
        const double o =
            flow_order(stork::stork2{.stages = s, .startup = stork::startup::runge_kutta}, shift, gaussian);
        INFO("s = " << s << ", shift " << shift << (gaussian ? ", Gaussian" : ", toy") << ": order " << o);
        REQUIRE(o == Approx(2.0).margin(0.15));
      }
  const double eps = eps_order(stork::stork2{.stages = 5});
  INFO("ε path order " << eps);
  REQUIRE(eps == Approx(2.0).margin(0.15));
}

TEST_CASE("stork2 in VE with a denoiser: order 2, extrapolating the output or the velocity",
          "[stork2][order][ve]") {
  // n = 512..4096: STORK-2's O(h²) constant is small (Q2 = 1/4 instead of 1/3 only enters at h³·D2), so the
  // velocity form measures 2.27 on 64..512 steps before reaching its asymptotic slope.
  for (auto form : {stork::extrapolate::model_output, stork::extrapolate::velocity}) {
    const double o =
        ve_order(stork::stork2{.stages = 20, .extrapolate = form}, stork::prediction::sample, 512);
    INFO((form == stork::extrapolate::velocity ? "velocity" : "model output") << ": order " << o);
    REQUIRE(o == Approx(2.0).margin(0.15));
  }
}

TEST_CASE("stork2 reference is first order only (Q1 != 1/2)", "[stork2][order]") {
  const double o = flow_order(stork::stork2{.stages = 5, .variant = variant::reference}, 1.0, false);
  REQUIRE(o == Approx(1.0).margin(0.15));
}

TEST_CASE("stork2: NFE and invalid parameters", "[stork2][error]") {
  vec x{1.0};
  const vec grid = stork::flow_sigmas(12);
  REQUIRE(stork::integrate(stork::stork2{}, toy, x, grid).nfe == 12);  // automatic: multistep below 15
  REQUIRE(stork::integrate(stork::stork2{.startup = stork::startup::runge_kutta}, toy, x, grid).nfe == 13);
  REQUIRE(stork::integrate(stork::stork2{.variant = variant::reference}, toy, x, grid).nfe == 13);
  x = {1.0};
  REQUIRE_THROWS_WITH(stork::integrate(stork::stork2{.stages = 1}, toy, x, grid),
                      Catch::Contains("stages = 1"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::stork2{.derivative_order = 0}, toy, x, grid),
                      Catch::Contains("derivative_order = 0"));
  auto eps = stork::vp_epsilon([](const vec& y, double, vec& e) { e = y; }, stork::vp_linear{});
  REQUIRE_THROWS_WITH(
      stork::integrate(stork::stork2{.variant = variant::reference}, eps, x, vec{0.9, 0.5, 0.1}),
      Catch::Contains("variant = reference"));
  REQUIRE(x[0] == 1.0);
}
