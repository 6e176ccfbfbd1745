// Tests of <stork/scheduler.hpp>: integrate and the engine-owned loop, allocation-free stepping, errors.
#include <stork/stork.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <tuple>

#include "support/alloc_counter.hpp"
#include "support/opaque_state.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace {
// A 3-component non-autonomous linear field.
void field(const vec& x, double t, vec& v) {
  v[0] = -x[0] + std::sin(t);
  v[1] = -2.0 * x[1] + x[0];
  v[2] = t * x[2];
}
const auto all_methods =
    std::make_tuple(stork::euler{}, stork::heun{}, stork::rkg2{.stages = 7}, stork::rock4{.stages = 9});
using method_types = std::tuple<stork::euler, stork::heun, stork::rkg2, stork::rock4>;
}  // namespace

TEMPLATE_LIST_TEST_CASE("integrate and the scheduler loop agree bit for bit", "[scheduler]", method_types) {
  const TestType method{};
  const vec grid{0.0, 0.1, 0.25, 0.3, 0.7, 1.0};
  vec a{1.0, 2.0, 3.0}, b = a, v(3);
  const stork::stats r = stork::integrate(method, field, a, grid);
  auto sch = stork::make_scheduler(method, grid, b);
  while (!sch.done()) {
    field(b, sch.time(), v);
    sch.step(v, b);
  }
  REQUIRE(a == b);  // exact equality
  REQUIRE(r.nfe == sch.nfe());
  REQUIRE(r.steps == grid.size() - 1);
}

TEMPLATE_LIST_TEST_CASE("the scheduler loop makes no heap allocation", "[scheduler][alloc]", method_types) {
  const TestType method{};
  const vec grid = uniform_grid(0.0, 1.0, 20);
  vec x(1000, 1.0), v(1000);
  auto sch = stork::make_scheduler(method, grid, x);
  auto model = [](const vec& y, double t, vec& out) {
    for (std::size_t i = 0; i < y.size(); ++i) out[i] = -y[i] * t;
  };
  const std::size_t before = allocation_count();
  while (!sch.done()) {
    model(x, sch.time(), v);
    sch.step(v, x);
  }
  REQUIRE(allocation_count() - before == 0);
  REQUIRE(sch.nfe() > 0);
}

TEST_CASE("decreasing grids integrate backwards in time", "[scheduler]") {
  // y' = y from t = 1 down to 0: y(0) = y(1)·e^{-1}.
  vec y{std::exp(1.0)};
  auto f = [](const vec& x, double, vec& v) { v[0] = x[0]; };
  stork::integrate(stork::rock4{.stages = 3}, f, y, uniform_grid(1.0, 0.0, 10));
  REQUIRE(y[0] == Approx(1.0).epsilon(1e-6));
}

TEST_CASE("the core never touches elements: the opaque state samples with every method", "[scheduler]") {
  using stork_test::opaque_state;
  const std::array<double, 2> init{1.0, -1.0};
  auto f = [](const opaque_state& x, double, opaque_state& v) {
    stork::lincomb<opaque_state, 1>(v, {-1.0}, {&x});  // v = -x, through the algebra only
  };
  std::apply(
      [&](auto... m) {
        (
            [&] {
              opaque_state x = stork_test::make_opaque(init);
              stork::integrate(m, f, x, uniform_grid(0.0, 1.0, 10));
              vec y(init.begin(), init.end());
              stork::integrate(
                  m,
                  [](const vec& z, double, vec& v) {
                    v = {-z[0], -z[1]};
                  },
                  y, uniform_grid(0.0, 1.0, 10));
              REQUIRE(stork_test::opaque_read(x, 0) == Approx(y[0]).epsilon(1e-14));
              REQUIRE(stork_test::opaque_read(x, 1) == Approx(y[1]).epsilon(1e-14));
            }(),
            ...);
      },
      all_methods);
}

TEST_CASE("bad grids are errors that name the parameter and leave x alone", "[scheduler][error]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<std::pair<vec, std::string>> cases{
      {{}, "times.size() = 0"},
      {{0.5}, "times.size() = 1"},
      {{0.0, 0.5, 0.4}, "times[2] = 0.4"},
      {{1.0, 0.5, 0.5}, "times[2] = 0.5"},
      {{0.0, nan, 1.0}, "times[1] = nan"},
      {{0.0, 1.0, inf}, "times[2] = inf"},
  };
  std::apply(
      [&](auto... m) {
        (
            [&] {
              for (const auto& [grid, says] : cases) {
                vec x{1.0, 2.0, 3.0};
                REQUIRE_THROWS_WITH(stork::integrate(m, field, x, grid), Catch::Contains(says));
                REQUIRE_THROWS_AS(stork::make_scheduler(m, grid, x), stork::error);
                REQUIRE(x == vec{1.0, 2.0, 3.0});
              }
            }(),
            ...);
      },
      all_methods);
}

TEST_CASE("step validates its input and leaves x and the scheduler as they were", "[scheduler][error]") {
  const vec grid = uniform_grid(0.0, 1.0, 4);
  vec x{1.0, 2.0, 3.0}, v(3);
  auto sch = stork::make_scheduler(stork::rock4{.stages = 2}, grid, x);
  field(x, sch.time(), v);
  sch.step(v, x);  // one good stage
  const vec x_before = x;
  const double t_before = sch.time();

  vec short_v(2, 0.0);
  REQUIRE_THROWS_WITH(sch.step(short_v, x), Catch::Contains("model output size = 2"));
  vec long_x{1, 2, 3, 4};
  REQUIRE_THROWS_WITH(sch.step(v, long_x), Catch::Contains("x size = 4"));
  vec bad = v;
  bad[1] = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(sch.step(bad, x), Catch::Contains("NaN or Inf"));
  bad[1] = -std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_AS(sch.step(bad, x), stork::error);
  REQUIRE(x == x_before);
  REQUIRE(sch.time() == t_before);
  REQUIRE(sch.nfe() == 1);

  // After the failures the run continues exactly as an undisturbed one.
  vec y{1.0, 2.0, 3.0};
  stork::integrate(stork::rock4{.stages = 2}, field, y, grid);
  while (!sch.done()) {
    field(x, sch.time(), v);
    sch.step(v, x);
  }
  REQUIRE(x == y);
  REQUIRE_THROWS_WITH(sch.step(v, x), Catch::Contains("after done()"));
  REQUIRE(x == y);
}

TEST_CASE("non-finite values: initial state and model output; the check can be turned off",
          "[scheduler][error]") {
  const vec grid = uniform_grid(0.0, 1.0, 4);
  vec x{1.0, std::numeric_limits<double>::quiet_NaN()};
  auto f = [](const vec& y, double, vec& v) { v = y; };
  REQUIRE_THROWS_WITH(stork::integrate(stork::euler{}, f, x, grid), Catch::Contains("initial state"));
  REQUIRE(std::isnan(x[1]));

  vec y{1.0, 2.0};
  auto blows_up = [](const vec& z, double t, vec& v) {
    v = z;
    if (t > 0.4) v[0] = std::numeric_limits<double>::infinity();
  };
  REQUIRE_THROWS_WITH(stork::integrate(stork::heun{}, blows_up, y, grid), Catch::Contains("t = 0.5"));
  REQUIRE(y == vec{1.0, 2.0});
  stork::integrate(stork::heun{}, blows_up, y, grid, stork::sampler_options{.check_finite = false});
  REQUIRE(std::isinf(y[0]));
}

TEST_CASE("a model's own exception passes through unchanged and x is untouched", "[scheduler][error]") {
  struct model_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  int calls = 0;
  auto f = [&calls](const vec& y, double, vec& v) {
    if (++calls == 5) throw model_failure("out of memory on the device");
    v = y;
  };
  vec x{1.0, 2.0};
  REQUIRE_THROWS_AS(stork::integrate(stork::rkg2{.stages = 3}, f, x, uniform_grid(0, 1, 4)), model_failure);
  REQUIRE(x == vec{1.0, 2.0});
}

TEST_CASE("float states integrate with double coefficients", "[scheduler]") {
  std::vector<float> x{1.0f};
  auto f = [](const std::vector<float>& y, double, std::vector<float>& v) { v[0] = -y[0]; };
  stork::integrate(stork::rock4{.stages = 4}, f, x, uniform_grid(0, 1, 10));
  REQUIRE(double(x[0]) == Approx(std::exp(-1.0)).epsilon(1e-6));
}
