// Tests of <stork/error.hpp>.
#include <stork/error.hpp>

#include <catch2/catch.hpp>
#include <limits>
#include <stdexcept>
#include <type_traits>

static_assert(std::is_base_of_v<std::invalid_argument, stork::error>);

TEST_CASE("fail names the place, the parameter and the value", "[error]") {
  REQUIRE_THROWS_WITH(stork::detail::fail("rkg2", "stages", 1, "needs stages >= 2"),
                      "stork: rkg2: stages = 1 is invalid (needs stages >= 2)");
  REQUIRE_THROWS_AS(stork::detail::fail("x", "shift", -1.5, "why"), stork::error);
  REQUIRE_THROWS_WITH(stork::detail::fail("x", "shift", -1.5, "why"), Catch::Contains("shift = -1.5"));
}

TEST_CASE("describe prints doubles so that they read back exactly", "[error]") {
  REQUIRE(stork::detail::describe(0.1) == "0.1");
  REQUIRE(std::stod(stork::detail::describe(1.0 / 3.0)) == 1.0 / 3.0);
  REQUIRE(stork::detail::describe(std::numeric_limits<double>::quiet_NaN()) == "nan");
  REQUIRE(stork::detail::describe(-std::numeric_limits<double>::infinity()) == "-inf");
}
