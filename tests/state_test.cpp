// Tests of <stork/state.hpp>: the State concept and the fused linear combination.
#include <stork/state.hpp>

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <list>
#include <string>
#include <vector>

#include "support/opaque_state.hpp"

// Positive and negative concept checks.
static_assert(stork::State<std::vector<float>>);
static_assert(stork::State<std::vector<double>>);
static_assert(stork::State<stork_test::opaque_state>);
static_assert(!stork::State<std::vector<int>>);  // integer states are not supported
static_assert(!stork::State<std::list<double>>);
static_assert(!stork::State<double>);
static_assert(!stork::State<std::string>);

TEMPLATE_TEST_CASE("lincomb computes sum a_k x_k for 1 to 12 terms", "[state]", float, double) {
  using S = std::vector<TestType>;
  const std::size_t n = 1000;  // crosses the 256-element block of the >8-term kernel
  std::vector<S> xs(12, S(n));
  for (std::size_t k = 0; k < xs.size(); ++k)
    for (std::size_t i = 0; i < n; ++i) xs[k][i] = static_cast<TestType>(std::sin(double(k * n + i)));
  for (std::size_t terms = 1; terms <= 12; ++terms) {
    std::vector<double> a(terms);
    std::vector<const S*> p(terms);
    for (std::size_t k = 0; k < terms; ++k) a[k] = 0.5 + double(k), p[k] = &xs[k];
    S out(n);
    stork::state_ops<S>::lincomb(out, a, p);
    for (std::size_t i = 0; i < n; i += 37) {
      double want = 0;
      for (std::size_t k = 0; k < terms; ++k) want += a[k] * double(xs[k][i]);
      const double tol = std::is_same_v<TestType, float> ? 1e-6 * (1 + std::abs(want)) : 1e-13;
      INFO("terms " << terms << " i " << i);
      REQUIRE(std::abs(double(out[i]) - want) <= tol);
    }
  }
}

TEST_CASE("lincomb allows the output to alias any input", "[state]") {
  using S = std::vector<double>;
  for (std::size_t terms : {3u, 10u}) {
    std::vector<S> xs(terms, S(300));
    for (std::size_t k = 0; k < terms; ++k)
      for (std::size_t i = 0; i < 300; ++i) xs[k][i] = double(k + 1) + 0.001 * double(i);
    std::vector<double> a(terms, 2.0);
    std::vector<const S*> p(terms);
    for (std::size_t k = 0; k < terms; ++k) p[k] = &xs[k];
    const S before = xs[terms - 1];
    double want = 0;
    for (std::size_t k = 0; k < terms; ++k) want += 2.0 * xs[k][299];
    stork::state_ops<S>::lincomb(xs[terms - 1], a, p);  // out is the last input
    REQUIRE(xs[terms - 1][299] == Approx(want).epsilon(1e-14));
    REQUIRE(xs[terms - 1][0] != before[0]);
  }
}

TEST_CASE("float states accumulate in double", "[state]") {
  // 1 + 1e-8 − 1 is lost in float arithmetic but not when accumulating in double.
  std::vector<float> one{1.0f}, tiny{1e-8f}, out{0.0f};
  stork::lincomb<std::vector<float>, 3>(out, {1.0, 1.0, -1.0}, {&one, &tiny, &one});
  REQUIRE(out[0] == Approx(1e-8f).epsilon(1e-6));
}

TEST_CASE("make_like, size and all_finite for std::vector", "[state]") {
  using ops = stork::state_ops<std::vector<double>>;
  const std::vector<double> x{1, 2, 3};
  REQUIRE(ops::make_like(x).size() == 3);
  REQUIRE(ops::size(x) == 3);
  REQUIRE(ops::all_finite(x));
  REQUIRE_FALSE(ops::all_finite({1.0, std::numeric_limits<double>::quiet_NaN()}));
  REQUIRE_FALSE(ops::all_finite({std::numeric_limits<double>::infinity(), 0.0}));
  REQUIRE_FALSE(stork::state_ops<std::vector<float>>::all_finite({-std::numeric_limits<float>::infinity()}));
}

TEST_CASE("assign copies exactly through the state algebra", "[state]") {
  const std::vector<double> x{0.1, 1e300, -3.25e-300};
  std::vector<double> y(3);
  stork::assign(y, x);
  REQUIRE(y == x);
}

TEST_CASE("an opaque state works through its own operations only", "[state]") {
  using stork_test::opaque_state;
  const std::array<double, 3> v1{1, 2, 3}, v2{10, 20, 30};
  const opaque_state a = stork_test::make_opaque(v1), b = stork_test::make_opaque(v2);
  opaque_state out = stork::state_ops<opaque_state>::make_like(a);
  stork::lincomb<opaque_state, 2>(out, {2.0, 0.5}, {&a, &b});
  REQUIRE(stork_test::opaque_read(out, 2) == Approx(2 * 3 + 15));
}
