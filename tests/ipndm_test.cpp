// Tests of <stork/methods/ipndm.hpp>: the Adams–Bashforth weights (classic and variable step), the steps
// after warm-up, observed orders, lower_order_final, NFE, the two fronts, errors.
#include <stork/methods/ipndm.hpp>
#include <stork/scheduler.hpp>
#include <stork/stork.hpp>

#include <catch2/catch.hpp>
#include <cmath>

#include "support/alloc_counter.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/multistep.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace {
// p(t) = 1 − 2t + 3t² − 4t³ and its antiderivative.
double cubic(double t) { return 1.0 - 2.0 * t + 3.0 * t * t - 4.0 * t * t * t; }
double cubic_integral(double t) { return t - t * t + t * t * t - t * t * t * t; }
}  // namespace

TEST_CASE("ipndm weights: the classic Adams-Bashforth coefficients on a uniform grid", "[ipndm][weights]") {
  // Published fixed-step coefficients (PNDM/iPNDM; Hairer-Norsett-Wanner Table III.1.1), h = −0.1.
  const std::array<double, 5> t{0.6, 0.7, 0.8, 0.9, 1.0};
  const std::array<std::array<double, 4>, 4> classic{{{1.0, 0, 0, 0},
                                                      {3.0 / 2, -1.0 / 2, 0, 0},
                                                      {23.0 / 12, -16.0 / 12, 5.0 / 12, 0},
                                                      {55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24}}};
  for (int k = 1; k <= 4; ++k) {
    const auto beta = stork::detail::adams_bashforth_weights(k, t);
    for (std::size_t j = 0; j < 4; ++j)
      REQUIRE(beta[j] == Approx(-0.1 * classic[std::size_t(k - 1)][j]).margin(1e-15));
  }
}

TEST_CASE("ipndm weights: variable steps integrate polynomials of degree k - 1 exactly, not degree k",
          "[ipndm][weights]") {
  const std::array<double, 5> t{0.13, 0.31, 0.42, 0.7, 0.77};  // t_{n+1}, t_n, t_{n−1}, … (irregular)
  for (int k = 1; k <= 4; ++k) {
    const auto beta = stork::detail::adams_bashforth_weights(k, t);
    auto quad = [&](int deg) {
      double s = 0.0;
      for (std::size_t j = 0; j < std::size_t(k); ++j) s += beta[j] * std::pow(t[j + 1], deg);
      return s - (std::pow(t[0], deg + 1) - std::pow(t[1], deg + 1)) / (deg + 1);  // minus ∫ t^deg
    };
    for (int deg = 0; deg < k; ++deg) REQUIRE(std::abs(quad(deg)) < 1e-14);
    REQUIRE(std::abs(quad(k)) > 1e-5);
  }
}

TEST_CASE("ipndm: after warm-up every step integrates a cubic right-hand side exactly", "[ipndm][exact]") {
  const vec grid{1.0, 0.93, 0.8, 0.71, 0.55, 0.47, 0.3, 0.22, 0.1};
  vec y{0.5};
  const auto tr = scheduler_trace(
      stork::ipndm{}, [](const vec&, double t, vec& v) { v[0] = cubic(t); }, y, grid);
  for (std::size_t n = 3; n + 1 < grid.size(); ++n)  // step n: t_n → t_{n+1}, order 4 from n = 3
    REQUIRE(tr[n][0] - tr[n - 1][0] ==
            Approx(cubic_integral(grid[n + 1]) - cubic_integral(grid[n])).epsilon(1e-13));
  // The warm-up steps (orders 1, 2, 3) are not exact for a cubic.
  REQUIRE(std::abs(tr[0][0] - 0.5 - (cubic_integral(grid[1]) - cubic_integral(grid[0]))) > 1e-4);
}

TEST_CASE("ipndm: observed orders 1 to 4 on the cosine grid (flow and VP eps); a uniform grid caps at 2",
          "[ipndm][order]") {
  const std::vector<std::size_t> n = {128, 256, 512, 1024};
  for (int p : {1, 2, 3, 4}) {
    const double f = flow_order(stork::ipndm{.order = p}, n), v = vp_order(stork::ipndm{.order = p}, n);
    INFO("ipndm order " << p << ": " << f << " / " << v);
    REQUIRE(f == Approx(p).margin(0.15));
    REQUIRE(v == Approx(p).margin(0.15));
  }
  const double u = flow_order(stork::ipndm{}, n, false);
  INFO("uniform grid: " << u);
  REQUIRE(u == Approx(2.0).margin(0.15));
}

TEST_CASE("ipndm: lower_order_final lowers the last three steps, the last one to Euler", "[ipndm][final]") {
  const stork::vp_linear vp{};
  const gaussian_mixture g{1, {0.4, 0.6}, {{-1.0}, {1.5}}, {0.3, 0.7}};
  auto eps = [&](const vec& y, double t, vec& e) { g.epsilon(vp, y, t, e); };
  const vec grid = cosine_grid(8, 0.9, 0.05);
  const std::size_t N = grid.size() - 1;
  vec a{0.8}, b{0.8};
  const auto ta = scheduler_trace(stork::ipndm{.lower_order_final = true}, eps, a, grid, vp);
  const auto tb = scheduler_trace(stork::ipndm{}, eps, b, grid, vp);
  for (std::size_t k = 0; k < N - 3; ++k) REQUIRE(ta[k] == tb[k]);
  for (std::size_t k = N - 3; k < N; ++k) REQUIRE(std::abs(ta[k][0] - tb[k][0]) > 1e-8);
  // Last step: Euler on the probability-flow drift.
  vec e{0.0};
  const double t = grid[N - 1], x = ta[N - 2][0];
  eps(ta[N - 2], t, e);
  const stork::affine_velocity c = stork::model<stork::vp_linear>{vp}.affine(t);
  REQUIRE(ta[N - 1][0] == Approx(x + (grid[N] - t) * (c.state * x + c.output * e[0])).epsilon(1e-14));
}

TEST_CASE(
    "ipndm: one model call per interval; integrate equals the scheduler loop bit for bit; no allocation",
    "[ipndm][nfe]") {
  for (int p : {1, 4}) {
    require_one_call_per_interval_and_loop_equality(stork::ipndm{.order = p, .lower_order_final = p == 4});
  }
  const vec grid = cosine_grid(20);
  vec x(1000, 1.0), v(1000);
  auto sch = stork::make_scheduler(stork::ipndm{}, grid, x);
  const std::size_t before = allocation_count();
  while (!sch.done()) {
    for (std::size_t i = 0; i < x.size(); ++i) v[i] = (x[i] - 0.5) / (1.0 + sch.time());
    sch.step(v, x);
  }
  REQUIRE(allocation_count() - before == 0);
}

TEST_CASE("ipndm: invalid order throws stork::error, x unchanged", "[ipndm][error]") {
  auto f = [](const vec& y, double, vec& v) { v = y; };
  vec x{1.0};
  const vec grid = stork::flow_sigmas(5);
  REQUIRE_THROWS_WITH(stork::integrate(stork::ipndm{.order = 0}, f, x, grid),
                      Catch::Contains("ipndm: order = 0"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::ipndm{.order = 5}, f, x, grid), Catch::Contains("order = 5"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::ipndm{}, f, x, vec{0.5}), Catch::Contains("times.size() = 1"));
  REQUIRE(x[0] == 1.0);
}
