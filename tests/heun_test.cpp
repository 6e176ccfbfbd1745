// Tests of <stork/methods/heun.hpp>.
#include <stork/methods/heun.hpp>
#include <stork/scheduler.hpp>

#include <catch2/catch.hpp>

#include "support/problems.hpp"

using namespace stork_test;

TEST_CASE("heun: observed order 2 on two non-autonomous problems", "[heun][order]") {
  for (const auto& p : {prothero_robinson(-2.0), atan_problem(-1.0)}) {
    const double order = observed_order(stork::heun{}, p, {32, 64, 128, 256});
    INFO(p.name << ": observed order " << order);
    REQUIRE(order == Approx(2.0).margin(0.1));
  }
}

TEST_CASE("heun: one step is exact for polynomials of degree <= 1", "[heun][quadrature]") {
  REQUIRE(quadrature_error(stork::heun{}, 0) < 1e-15);
  REQUIRE(quadrature_error(stork::heun{}, 1) < 1e-15);
  REQUIRE(quadrature_error(stork::heun{}, 2) > 1e-3);
}

TEST_CASE("heun: 2 model calls per step, second one at the step end", "[heun][nfe]") {
  std::vector<double> x{1.0};
  const auto grid = uniform_grid(0, 1, 5);
  auto sch = stork::make_scheduler(stork::heun{}, grid, x);
  std::vector<double> v{0.0}, seen;
  while (!sch.done()) {
    seen.push_back(sch.time());
    v[0] = -x[0];
    sch.step(v, x);
  }
  REQUIRE(sch.nfe() == 10);
  REQUIRE(seen[0] == 0.0);
  REQUIRE(seen[1] == Approx(0.2));
  REQUIRE(seen[9] == Approx(1.0));
}

TEST_CASE("heun: stable on the heat equation for h·rho < 2, unstable beyond", "[heun][stability]") {
  const heat_equation heat{40};
  const double rho = heat.spectral_radius();
  REQUIRE(heat_growth(stork::heun{}, heat, 0.95 * 2.0 / rho, 200) <= 1.0);
  REQUIRE(heat_growth(stork::heun{}, heat, 1.5 * 2.0 / rho, 8) > 100.0);
}
