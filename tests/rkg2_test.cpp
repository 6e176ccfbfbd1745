// Tests of <stork/methods/rkg2.hpp>.
#include <stork/methods/rkg2.hpp>
#include <stork/scheduler.hpp>

#include <catch2/catch.hpp>

#include "support/problems.hpp"

using namespace stork_test;

TEST_CASE("rkg2: coefficients match docs/reference.md §2.3 (s = 5 table)", "[rkg2]") {
  const stork::detail::rkg2_coefficients k(5);
  REQUIRE(k.w1 == Approx(1.0 / 6.0));
  // Columns mu, nu, mu~, gamma~, c of the s = 5 table, printed there to 6 digits.
  const double table[4][5] = {{.5, -.1, .083333, 0, .166667},
                              {1.814815, -.207407, .302469, -.181481, .388889},
                              {1.653061, -.714286, .275510, -.132653, .666667},
                              {1.65, -.661224, .275, -.117857, 1}};
  for (std::size_t j = 2; j <= 5; ++j) {
    const auto& row = table[j - 2];
    INFO("j = " << j);
    REQUIRE(k.mu[j] == Approx(row[0]).margin(1e-6));
    REQUIRE(k.nu[j] == Approx(row[1]).margin(1e-6));
    REQUIRE(k.mu_tilde[j] == Approx(row[2]).margin(1e-6));
    REQUIRE(k.gamma_tilde[j] == Approx(row[3]).margin(1e-6));
    REQUIRE(k.c[j] == Approx(row[4]).margin(1e-6));
  }
}

TEST_CASE("rkg2: closed-form stage times equal the consistency recursion", "[rkg2]") {
  // Applying the recurrence to y' = 1 gives c_j = μ_j c_{j−1} + ν_j c_{j−2} + μ̃_j + γ̃_j.
  for (int s : {2, 3, 7, 50, 200}) {
    const stork::detail::rkg2_coefficients k(s);
    std::vector<double> c(static_cast<std::size_t>(s) + 1, 0.0);
    c[1] = k.mu_tilde[1];
    for (std::size_t j = 2; j < c.size(); ++j)
      c[j] = k.mu[j] * c[j - 1] + k.nu[j] * c[j - 2] + k.mu_tilde[j] + k.gamma_tilde[j];
    for (std::size_t j = 0; j < c.size(); ++j) REQUIRE(k.c[j] == Approx(c[j]).margin(1e-12));
    REQUIRE(k.c.back() == Approx(1.0).margin(1e-14));
  }
}

TEST_CASE("rkg2: observed order 2 for s in {2, 5, 20, 50}", "[rkg2][order]") {
  for (int s : {2, 5, 20, 50}) {
    for (const auto& p : {prothero_robinson(-2.0), atan_problem(-1.0)}) {
      const double order = observed_order(stork::rkg2{.stages = s}, p, {32, 64, 128, 256});
      INFO("s = " << s << ", " << p.name << ": observed order " << order);
      REQUIRE(order == Approx(2.0).margin(0.1));
    }
  }
}

TEST_CASE("rkg2: one step is exact for polynomials of degree <= 1", "[rkg2][quadrature]") {
  for (int s : {2, 5, 50}) {
    REQUIRE(quadrature_error(stork::rkg2{.stages = s}, 0) < 1e-14);
    REQUIRE(quadrature_error(stork::rkg2{.stages = s}, 1) < 1e-14);
    REQUIRE(quadrature_error(stork::rkg2{.stages = s}, 2) > 1e-4);
  }
}

TEST_CASE("rkg2: s model calls per step", "[rkg2][nfe]") {
  for (int s : {2, 5, 50}) {
    std::vector<double> x{1.0};
    auto f = [](const std::vector<double>& y, double, std::vector<double>& v) { v[0] = -y[0]; };
    const stork::stats r = stork::integrate(stork::rkg2{.stages = s}, f, x, uniform_grid(0, 1, 3));
    REQUIRE(r.nfe == 3 * static_cast<std::size_t>(s));
  }
}

TEST_CASE("rkg2: heat equation bounded inside (s+4)(s-1)/3, growing well outside", "[rkg2][stability]") {
  const heat_equation heat{60};
  const double rho = heat.spectral_radius();
  for (int s : {2, 5, 10, 30}) {
    const double beta = (s + 4.0) * (s - 1.0) / 3.0;
    INFO("s = " << s << ", stability interval " << beta);
    REQUIRE(heat_growth(stork::rkg2{.stages = s}, heat, 0.95 * beta / rho, 200) <= 1.0);
    REQUIRE(heat_growth(stork::rkg2{.stages = s}, heat, 1.5 * beta / rho, 8) > 100.0);
  }
}

TEST_CASE("rkg2: stages < 2 is an error naming the parameter", "[rkg2][error]") {
  std::vector<double> x{1.0};
  auto f = [](const std::vector<double>&, double, std::vector<double>& v) { v[0] = 1; };
  for (int s : {1, 0, -3}) {
    REQUIRE_THROWS_WITH(stork::integrate(stork::rkg2{.stages = s}, f, x, uniform_grid(0, 1, 2)),
                        Catch::Contains("stages = " + std::to_string(s)));
    REQUIRE(x[0] == 1.0);
  }
}
