// Tests of <stork/stork.hpp>: the VelocityField concept and the affine parameterisation plumbing.
#include <stork/stork.hpp>

#include <catch2/catch.hpp>
#include <vector>

#include "support/opaque_state.hpp"

namespace {
using vec = std::vector<double>;
auto good = [](const vec&, double, vec&) {};
auto good_float_time = [](const vec&, float, vec&) {};  // double → float time converts: still callable
auto returns_value = [](const vec& x, double) { return x; };
auto wrong_state = [](const std::vector<float>&, double, std::vector<float>&) {};
struct functor {
  void operator()(const stork_test::opaque_state&, double, stork_test::opaque_state&) const {}
};
}  // namespace

static_assert(stork::VelocityField<decltype(good), vec>);
static_assert(stork::VelocityField<decltype(good_float_time), vec>);
static_assert(stork::VelocityField<functor, stork_test::opaque_state>);
static_assert(!stork::VelocityField<decltype(returns_value), vec>);  // must write into v
static_assert(!stork::VelocityField<decltype(wrong_state), vec>);
static_assert(!stork::VelocityField<decltype(good), std::vector<int>>);  // not a State
static_assert(stork::Parameterisation<stork::flow_velocity>);
static_assert(!stork::Parameterisation<int>);

TEST_CASE("a velocity output passes through untouched: no pass, no buffer", "[field]") {
  stork::state_ops<vec> ops;
  const vec x{1, 2}, out{3, 4};
  stork::detail::velocity_of<vec, stork::flow_velocity> vel(stork::flow_velocity{}, x, ops);
  REQUIRE(&vel(ops, out, x, 0.5) == &out);
  // Known at run time: any process with prediction::velocity.
  const stork::model<stork::ve> m{.process = {}, .prediction = stork::prediction::velocity};
  stork::detail::velocity_of<vec, stork::model<stork::ve>> vel2(m, x, ops);
  REQUIRE(&vel2(ops, out, x, 0.5) == &out);
  // A denoiser is converted: (x − D)/σ.
  stork::detail::velocity_of<vec, stork::model<stork::ve>> vel3(stork::model<stork::ve>{}, x, ops);
  REQUIRE(vel3(ops, out, x, 0.5) == vec{(1 - 3) / 0.5, (2 - 4) / 0.5});
}

TEST_CASE("an affine parameterisation computes a(t)·x + b(t)·out", "[field]") {
  stork::state_ops<vec> ops;
  struct affine_param {
    stork::affine_velocity affine(double t) const { return {-t, 2.0}; }
  };
  const vec x{1, 2}, out{3, 4};
  stork::detail::velocity_of<vec, affine_param> vel(affine_param{}, x, ops);
  const vec& v = vel(ops, out, x, 0.5);
  REQUIRE(v[0] == Approx(-0.5 * 1 + 2 * 3));
  REQUIRE(v[1] == Approx(-0.5 * 2 + 2 * 4));
}
