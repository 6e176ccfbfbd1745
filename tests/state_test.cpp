// Tests of <stork/state.hpp>: the State concept and the fused linear combination.
#include <stork/state.hpp>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <list>
#include <string>
#include <vector>

#include "support/opaque_state.hpp"

namespace {

/// γ_m = m·u/(1 − m·u) with u = 2⁻²⁴: the bound on m successive float roundings (Higham §3.1).
double gamma_float(std::size_t m) {
  const double mu = double(m) * std::ldexp(1.0, -24);
  return mu / (1.0 - mu);
}

}  // namespace

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
      double want = 0, size = 0;
      for (std::size_t k = 0; k < terms; ++k)
        want += a[k] * double(xs[k][i]), size += std::abs(a[k] * double(xs[k][i]));
      const double tol = std::is_same_v<TestType, float> ? gamma_float(terms + 1) * size : 1e-13;
      INFO("terms " << terms << " i " << i);
      REQUIRE(std::abs(double(out[i]) - want) <= tol);
    }
  }
}

TEMPLATE_TEST_CASE("lincomb allows the output to alias any input", "[state]", float, double) {
  using S = std::vector<TestType>;
  const std::size_t n = 301;  // not a multiple of any SIMD width: the scalar tail aliases too
  for (std::size_t terms : {3u, 5u, 10u}) {
    for (std::size_t target = 0; target < 2 * terms; ++target) {  // first coefficient 2, then 1
      std::vector<S> xs(terms, S(n));
      for (std::size_t k = 0; k < terms; ++k)
        for (std::size_t i = 0; i < n; ++i)
          xs[k][i] = static_cast<TestType>(double(k + 1) + 0.001 * double(i));
      std::vector<double> a(terms);
      std::vector<const S*> p(terms);
      for (std::size_t k = 0; k < terms; ++k) a[k] = (k % 2 == 0 ? 2.0 : -0.75), p[k] = &xs[k];
      if (target >= terms) a[0] = 1.0;  // x + sum w F: the float kernel skips that multiplication
      std::vector<double> want(n, 0.0), size(n, 0.0);
      for (std::size_t k = 0; k < terms; ++k)
        for (std::size_t i = 0; i < n; ++i)
          want[i] += a[k] * double(xs[k][i]), size[i] += std::abs(a[k] * double(xs[k][i]));
      S& out = xs[target % terms];
      stork::state_ops<S>::lincomb(out, a, p);  // out is one of the inputs
      INFO("terms " << terms << ", out = input " << target % terms << ", a[0] = " << a[0]);
      for (std::size_t i = 0; i < n; ++i) {
        const double tol =
            std::is_same_v<TestType, float> ? gamma_float(terms + 1) * size[i] : 1e-14 * size[i];
        INFO("i " << i);
        REQUIRE(std::abs(double(out[i]) - want[i]) <= tol);
      }
    }
  }
}

TEST_CASE("float lincomb stays within gamma_(k+1) * sum |a_k x_k| on many-term mixed-sign sums", "[state]") {
  // The documented bound of the float kernel (coefficients rounded to float once, float accumulation):
  // |out - sum a_k x_k| <= gamma_(k+1) * sum |a_k x_k|. The terms nearly cancel (alternating signs, inputs
  // equal up to 1e-3), so the result is ~1e-3 of the terms and every rounding shows; the coefficients
  // are not floats, so their rounding counts too. The reference sum is in long double from the exact
  // double coefficients and float inputs.
  using S = std::vector<float>;
  const std::size_t n = 1003;  // whole SIMD vectors, a scalar tail and (above 8 terms) 256-element blocks
  std::vector<S> xs(12, S(n));
  for (std::size_t k = 0; k < xs.size(); ++k)
    for (std::size_t i = 0; i < n; ++i)
      xs[k][i] =
          static_cast<float>((1.0 + 1e-3 * std::sin(double(7 * k + 3 * i))) * std::exp(std::cos(double(i))));
  for (std::size_t terms = 2; terms <= 12; ++terms) {
    std::vector<double> a(terms);
    std::vector<const S*> p(terms);
    double weight = 0;
    for (std::size_t k = 0; k < terms; ++k) {
      a[k] = (k % 2 == 0 ? 1.0 : -1.0) * (1.0 + double(k) / 3.0) / 7.0;
      weight += a[k];
      p[k] = &xs[k];
    }
    a[0] += 1e-3 - weight;  // coefficients sum to 1e-3: the terms cancel to ~1e-3 of their size
    S out(n);
    stork::state_ops<S>::lincomb(out, a, p);
    double worst = 0;  // largest error in units of u * sum |a_k x_k|
    for (std::size_t i = 0; i < n; ++i) {
      long double want = 0, size = 0;
      for (std::size_t k = 0; k < terms; ++k) {
        const long double term = static_cast<long double>(a[k]) * xs[k][i];
        want += term, size += std::abs(term);
      }
      const double err = static_cast<double>(std::abs(static_cast<long double>(out[i]) - want));
      INFO("terms " << terms << " i " << i << ": result " << double(want) << ", sum of |terms| "
                    << double(size));
      REQUIRE(err <= gamma_float(terms + 1) * static_cast<double>(size));
      worst = std::max(worst, err / (std::ldexp(1.0, -24) * static_cast<double>(size)));
    }
    INFO("terms " << terms);
    REQUIRE(worst > 0.1);  // float really rounded: the comparison is not vacuous
  }
}

TEST_CASE("a cancelling float combination keeps the float accuracy of its terms", "[state]") {
  // 1 + 1e-8 - 1: the bound allows an error of gamma_4 * 2 ~ 5e-7, so 1e-8 may be lost (a float loop loses
  // it too); double states keep it (next test).
  std::vector<float> one{1.0f}, tiny{1e-8f}, out{0.0f};
  stork::lincomb<std::vector<float>, 3>(out, {1.0, 1.0, -1.0}, {&one, &tiny, &one});
  REQUIRE(std::abs(double(out[0]) - double(tiny[0])) <= gamma_float(4) * (2.0 + double(tiny[0])));
}

TEST_CASE("double states accumulate in double, left to right", "[state]") {
  std::vector<double> one{1.0}, tiny{1e-8}, out{0.0};
  stork::lincomb<std::vector<double>, 3>(out, {1.0, 1.0, -1.0}, {&one, &tiny, &one});
  REQUIRE(out[0] == Approx(1e-8).epsilon(1e-7));
#if !defined(__FMA__) && !defined(__FP_FAST_FMA)  // with FMA, either side may fuse a product into the sum
  // Bit for bit the plain left-to-right double sum, for every fixed term count: double states compute
  // exactly what the original double kernel computed.
  const std::size_t n = 37;
  std::vector<std::vector<double>> xs(8, std::vector<double>(n));
  for (std::size_t k = 0; k < xs.size(); ++k)
    for (std::size_t i = 0; i < n; ++i) xs[k][i] = std::sin(double(11 * k + i)) * std::exp(double(k));
  for (std::size_t terms = 1; terms <= 8; ++terms) {
    std::vector<double> a(terms);
    std::vector<const std::vector<double>*> p(terms);
    for (std::size_t k = 0; k < terms; ++k) a[k] = std::cos(double(k) + 0.3) / 3.0, p[k] = &xs[k];
    std::vector<double> got(n);
    stork::state_ops<std::vector<double>>::lincomb(got, a, p);
    for (std::size_t i = 0; i < n; ++i) {
      volatile double sum = a[0] * xs[0][i];  // volatile: the reference is neither reassociated nor fused
      for (std::size_t k = 1; k < terms; ++k) {
        volatile double product = a[k] * xs[k][i];
        sum = sum + product;
      }
      INFO("terms " << terms << " i " << i);
      REQUIRE(got[i] == sum);
    }
  }
#endif
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

TEMPLATE_TEST_CASE("all_finite finds a NaN or an Inf at any position", "[state]", float, double) {
  using S = std::vector<TestType>;
  using lim = std::numeric_limits<TestType>;
  for (std::size_t n : {1u, 8u, 37u, 64u}) {  // whole SIMD vectors, pairs of them, a scalar tail
    S x(n, lim::max());
    REQUIRE(stork::state_ops<S>::all_finite(x));
    for (std::size_t pos = 0; pos < n; ++pos)
      for (TestType bad : {lim::quiet_NaN(), lim::infinity(), -lim::infinity()}) {
        x[pos] = bad;
        INFO("n " << n << " position " << pos << " value " << bad);
        REQUIRE_FALSE(stork::state_ops<S>::all_finite(x));
        x[pos] = -lim::max();
      }
  }
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
