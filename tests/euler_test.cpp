// Tests of <stork/methods/euler.hpp>.
#include <stork/methods/euler.hpp>
#include <stork/scheduler.hpp>

#include <catch2/catch.hpp>

#include "support/problems.hpp"

using namespace stork_test;

TEST_CASE("euler: observed order 1 on two non-autonomous problems", "[euler][order]") {
  for (const auto& p : {prothero_robinson(-2.0), atan_problem(-1.0)}) {
    const double order = observed_order(stork::euler{}, p, {64, 128, 256, 512});
    INFO(p.name << ": observed order " << order);
    REQUIRE(order == Approx(1.0).margin(0.1));
  }
}

TEST_CASE("euler: one step is exact for constants only", "[euler][quadrature]") {
  REQUIRE(quadrature_error(stork::euler{}, 0) < 1e-15);
  REQUIRE(quadrature_error(stork::euler{}, 1) > 1e-3);
}

TEST_CASE("euler: 1 model call per step", "[euler][nfe]") {
  std::vector<double> x{1.0};
  auto f = [](const std::vector<double>& y, double, std::vector<double>& v) { v[0] = -y[0]; };
  const stork::stats r = stork::integrate(stork::euler{}, f, x, uniform_grid(0, 1, 7));
  REQUIRE(r.nfe == 7);
  REQUIRE(r.steps == 7);
}

TEST_CASE("euler: stable on the heat equation for h·rho < 2, unstable beyond", "[euler][stability]") {
  const heat_equation heat{40};
  const double rho = heat.spectral_radius();
  REQUIRE(heat_growth(stork::euler{}, heat, 0.95 * 2.0 / rho, 200) <= 1.0);
  REQUIRE(heat_growth(stork::euler{}, heat, 1.5 * 2.0 / rho, 8) > 100.0);
}
