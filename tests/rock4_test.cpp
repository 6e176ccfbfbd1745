// Tests of <stork/methods/rock4.hpp> and its generated tables.
#include <stork/methods/rock4.hpp>
#include <stork/scheduler.hpp>

#include <catch2/catch.hpp>
#include <numeric>

#include "support/problems.hpp"

using namespace stork_test;

namespace {
// One table row per listed degree, spread over the table: first, small, middle and last rows.
const std::vector<int> degrees{1, 2, 5, 12, 20, 38, 67, 148};
}  // namespace

TEST_CASE("rock4: tables as in tools/data/README.md", "[rock4]") {
  const stork::detail::rock4_coefficients k(5);
  REQUIRE(k.m == 5);
  REQUIRE(k.row == 4);
  REQUIRE(k.mu[1] == 0.04102541073974864);  // the README's worked example (s = 5: offset 16)
  REQUIRE(stork::detail::rock4_tables::recf_offset[4] == 16);
  REQUIRE(stork::detail::rock4_coefficients(21).m == 22);  // smallest tabulated degree >= s
  REQUIRE(stork::detail::rock4_coefficients(148).m == 148);
  REQUIRE(stork::detail::rock4_coefficients(139).m == 148);
}

TEST_CASE("rock4: every row has sum b = 1 - c_m and is exact on t^0..t^3", "[rock4][quadrature]") {
  for (std::size_t row = 0; row < stork::detail::rock4_tables::rows; ++row) {
    const int m = stork::detail::rock4_tables::degree[row];
    const stork::detail::rock4_coefficients k(m);
    const double sum_b = std::accumulate(k.b.begin(), k.b.end(), 0.0);
    INFO("degree " << m);
    REQUIRE(sum_b == Approx(1.0 - k.c.back()).margin(1e-12));
    for (int p = 0; p <= 3; ++p) REQUIRE(quadrature_error(stork::rock4{.stages = m}, p) < 1e-13);
    REQUIRE(quadrature_error(stork::rock4{.stages = m}, 4) > 1e-5);
  }
}

TEST_CASE("rock4: observed order 4 across table rows, degrees 1 to 148", "[rock4][order]") {
  for (int m : degrees) {
    for (const auto& p : {prothero_robinson(-2.0), atan_problem(-1.0)}) {
      const double order = observed_order(stork::rock4{.stages = m}, p, {16, 32, 64, 128});
      INFO("degree " << m << ", " << p.name << ": observed order " << order);
      REQUIRE(order == Approx(4.0).margin(0.1));
    }
  }
}

TEST_CASE("rock4: m + 4 model calls per step", "[rock4][nfe]") {
  for (int s : {1, 5, 21, 148}) {
    const int m = stork::detail::rock4_coefficients(s).m;
    std::vector<double> x{1.0};
    auto f = [](const std::vector<double>& y, double, std::vector<double>& v) { v[0] = -y[0]; };
    const stork::stats r = stork::integrate(stork::rock4{.stages = s}, f, x, uniform_grid(0, 1, 3));
    REQUIRE(r.nfe == 3 * static_cast<std::size_t>(m + 4));
  }
}

TEST_CASE("rock4: heat equation bounded inside 0.353(m+4)^2 - 3, growing well outside",
          "[rock4][stability]") {
  const heat_equation heat{60};
  const double rho = heat.spectral_radius();
  for (int m : degrees) {
    const double beta = 0.353 * (m + 4.0) * (m + 4.0) - 3.0;
    INFO("degree " << m << ", stability interval about " << beta);
    REQUIRE(heat_growth(stork::rock4{.stages = m}, heat, 0.9 * beta / rho, 200) <= 1.0);
    // Growth outside is like a Chebyshev polynomial, e^{O(m)} per step: one step is plenty for large m.
    REQUIRE(heat_growth(stork::rock4{.stages = m}, heat, 1.5 * beta / rho, m > 40 ? 1 : 4) > 100.0);
  }
}

TEST_CASE("rock4: stages outside 1..148 is an error naming the parameter", "[rock4][error]") {
  std::vector<double> x{1.0};
  auto f = [](const std::vector<double>&, double, std::vector<double>& v) { v[0] = 1; };
  for (int s : {0, -1, 149, 1000}) {
    REQUIRE_THROWS_WITH(stork::integrate(stork::rock4{.stages = s}, f, x, uniform_grid(0, 1, 2)),
                        Catch::Contains("stages = " + std::to_string(s)));
    REQUIRE(x[0] == 1.0);
  }
}
