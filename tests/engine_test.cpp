// What engines key on (issue: engine integration): the zero-copy output buffer, the hooks of the scheduler
// (interval, at_grid_point, denoised) and integrate's observer, state operations passed as an object (a
// context-holding allocator), the argument rules, and no heap allocation while stepping on every path.
#include <stork/stork.hpp>

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "support/all_methods.hpp"
#include "support/alloc_counter.hpp"
#include "support/conventions.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace {

const gaussian_mixture g = three_blobs();

/// A method over a grid in each convention (tests/support/conventions.hpp): a flow velocity, a VE denoiser,
/// a VP ε model.
vec grid_of(convention c) {
  switch (c) {
    case convention::flow:
      return stork::flow_sigmas(9, {.shift = 3.0});
    case convention::ve:
      return stork::karras_sigmas(9, {.sigma_min = 0.03, .sigma_max = 10.0});
    case convention::vp:
      return stork::vp_taus(10);
  }
  return {};
}

void model_of(convention c, const vec& x, double t, vec& out) {
  switch (c) {
    case convention::flow:
      return g.flow_velocity(x, t, out);
    case convention::ve:
      return g.model_output(stork::ve{}, stork::prediction::sample, x, t, out);
    case convention::vp:
      return g.model_output(stork::vp_linear{}, stork::prediction::epsilon, x, t, out);
  }
}

/// The engine loop with the engine's own output buffer (zero_copy = false) or writing into
/// output_buffer() (zero_copy = true).
template <class Method, class... A>
vec engine_loop(const Method& m, convention c, bool zero_copy, A&&... args) {
  vec x = fixed_noise(8, 4);
  if (c == convention::ve)
    for (double& v : x) v *= 10.0;
  vec out(x.size());
  auto loop = [&](auto sch) {
    while (!sch.done()) {
      if (zero_copy) {
        model_of(c, x, sch.time(), sch.output_buffer());
        sch.step(x);
      } else {
        model_of(c, x, sch.time(), out);
        sch.step(out, x);
      }
    }
  };
  with_scheduler(m, c, grid_of(c), x, loop, std::forward<A>(args)...);
  return x;
}

/// State operations that count what passes through them and allocate from a context (an "arena" that
/// counts its buffers): what an engine with a ggml context, an allocator or a stream passes.
struct arena {
  std::size_t buffers = 0, combinations = 0, streams = 0;
};
struct arena_ops {
  arena* ctx;
  vec make_like(const vec& x) {
    ++ctx->buffers;
    return vec(x.size());
  }
  void lincomb(vec& out, std::span<const double> a, std::span<const vec* const> x) {
    ++ctx->combinations;
    ctx->streams += a.size() + 1;  // inputs read + output written
    stork::state_ops<vec>::lincomb(out, a, x);
  }
  std::size_t size(const vec& x) const { return x.size(); }
};
static_assert(stork::StateOps<arena_ops, vec>);
static_assert(!stork::StateOps<int, vec>);

}  // namespace

TEST_CASE("engine: output_buffer() then step(x) equals step(out, x) bit for bit, every method and convention",
          "[engine][zero_copy]") {
  for (convention c : {convention::flow, convention::ve, convention::vp}) {
    for_each_method([&](const auto& nm) {
      if (c == convention::vp && !nm.vp) return;
      if (c == convention::ve && std::string(nm.name).find("reference") != std::string::npos) return;
      INFO(name_of(c) << ", " << nm.name);
      const vec a = engine_loop(nm.method, c, false), b = engine_loop(nm.method, c, true);
      REQUIRE(a == b);
      REQUIRE(a != fixed_noise(8, 4));
    });
  }
}

TEST_CASE("engine: with output_buffer() STORK and iPNDM make one pass per model call, no copy",
          "[engine][zero_copy]") {
  // Counted through the ops object: linear combinations per call once the history is full, and the
  // state-sized streams they move (the floor for STORK-4's step: x and 4 stored outputs in, x out = 6).
  auto per_call = [](const auto& method, bool zero_copy) {
    arena ctx;
    vec x = fixed_noise(8, 4), out(8);
    auto sch = stork::make_scheduler(method, stork::flow_sigmas(30, {.shift = 3.0}), x, arena_ops{&ctx},
                                     stork::sampler_options{.check_finite = false});
    for (int i = 0; i < 10; ++i) {  // past the start-up
      g.flow_velocity(x, sch.time(), zero_copy ? sch.output_buffer() : out);
      zero_copy ? sch.step(x) : sch.step(out, x);
    }
    ctx.combinations = ctx.streams = 0;
    for (int i = 0; i < 10; ++i) {
      g.flow_velocity(x, sch.time(), zero_copy ? sch.output_buffer() : out);
      zero_copy ? sch.step(x) : sch.step(out, x);
    }
    return std::pair{double(ctx.combinations) / 10, double(ctx.streams) / 10};
  };
  const auto s4_copy = per_call(stork::stork4{.derivative_order = 3}, false);
  const auto s4 = per_call(stork::stork4{.derivative_order = 3}, true);
  INFO("stork4: " << s4_copy.first << " combinations (" << s4_copy.second
                  << " streams) with the engine's buffer, " << s4.first << " (" << s4.second
                  << ") zero-copy");
  REQUIRE(s4.first == 1.0);
  REQUIRE(s4.second == 6.0);  // the floor
  REQUIRE(s4_copy.first == 2.0);
  const auto ip = per_call(stork::ipndm{}, true);
  REQUIRE(ip.first == 1.0);
  REQUIRE(ip.second == 6.0);
  const auto dp = per_call(stork::dpmpp_2m{}, true);  // x̂₀ in place, then the update
  REQUIRE(dp.first == 2.0);
  REQUIRE(dp.second == 3.0 + 4.0);
  const auto eu = per_call(stork::euler{}, true);
  REQUIRE(eu.first == 1.0);
}

TEST_CASE("engine: interval() and at_grid_point() follow the grid, the stages and the final denoise",
          "[engine][hooks]") {
  auto trace = [](const auto& method, convention c) {
    std::vector<std::pair<std::size_t, bool>> t;
    vec x = fixed_noise(2, 1), out(2);
    auto record = [&](auto sch) {
      while (!sch.done()) {
        t.emplace_back(sch.interval(), sch.at_grid_point());
        if (sch.at_grid_point() && sch.interval() + 1 < grid_of(c).size())
          REQUIRE(sch.time() == grid_of(c)[sch.interval()]);
        model_of(c, x, sch.time(), out);
        sch.step(out, x);
      }
    };
    with_scheduler(method, c, grid_of(c), x, record);
    return t;
  };
  using entry = std::pair<std::size_t, bool>;
  // Heun: each interval a grid-point call and a stage call.
  const auto heun = trace(stork::heun{}, convention::flow);
  REQUIRE(heun.size() == 18);
  for (std::size_t n = 0; n < 9; ++n) {
    REQUIRE(heun[2 * n] == entry{n, true});
    REQUIRE(heun[2 * n + 1] == entry{n, false});
  }
  // rock4 with m = 2: m + 4 calls per interval, the first at the grid point.
  const auto r4 = trace(stork::rock4{.stages = 2}, convention::flow);
  REQUIRE(r4.size() == 9 * 6);
  for (std::size_t i = 0; i < r4.size(); ++i) REQUIRE(r4[i] == entry{i / 6, i % 6 == 0});
  // STORK-4 with the Runge–Kutta start-up of derivative_order 3: two Kutta intervals (3 calls each), then
  // one grid-point call per interval.
  const auto s4 =
      trace(stork::stork4{.derivative_order = 3, .startup = stork::startup::runge_kutta}, convention::flow);
  REQUIRE(s4.size() == 6 + 7);
  REQUIRE(s4[0] == entry{0, true});
  REQUIRE(s4[1] == entry{0, false});
  REQUIRE(s4[3] == entry{1, true});
  for (std::size_t i = 6; i < s4.size(); ++i) REQUIRE(s4[i] == entry{i - 4, true});
  // STORK-4 on VP: the final denoise call is at the last grid point, interval() = number of intervals.
  const auto vp = trace(stork::stork4{}, convention::vp);
  REQUIRE(vp.back() == entry{9, true});
  // The reference ε path: the half step and the probe at t1 are not grid-point calls.
  const auto ref = trace(stork::stork4{.variant = stork::variant::reference}, convention::vp);
  REQUIRE(ref[0] == entry{0, true});
  REQUIRE(ref[1] == entry{0, false});
  REQUIRE(ref[2] == entry{0, false});
  REQUIRE(ref[3] == entry{1, true});
}

TEST_CASE("engine: denoised() is the x0-hat preview of an output", "[engine][hooks]") {
  vec x = fixed_noise(8, 2), out(8), d(8), truth(8);
  for (double& v : x) v *= 10.0;
  auto sch = stork::make_scheduler(stork::stork4{}, grid_of(convention::ve), x, stork::ve{});
  while (!sch.done()) {
    g.model_output(stork::ve{}, stork::prediction::sample, x, sch.time(), out);
    sch.denoised(out, x, d);
    REQUIRE(d == out);  // a denoiser's output is x̂₀
    sch.step(out, x);
  }
  auto eps = stork::make_scheduler(stork::euler{}, grid_of(convention::vp), x, stork::vp_linear{});
  g.model_output(stork::vp_linear{}, stork::prediction::epsilon, x, eps.time(), out);
  eps.denoised(out, x, d);
  const stork::vp_linear vp{};
  g.posterior_quantity(gaussian_mixture::quantity::mean, vp.alpha(eps.time()), vp.sigma(eps.time()), x,
                       truth);
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(d[i] == Approx(truth[i]).epsilon(1e-12));
}

TEST_CASE("engine: integrate's observer sees every grid point with x, t, the output and x0-hat",
          "[engine][hooks]") {
  const vec grid = grid_of(convention::ve);
  auto f = stork::field(
      [](const vec& y, double t, vec& o) { g.model_output(stork::ve{}, stork::prediction::sample, y, t, o); },
      stork::ve{});
  std::vector<std::size_t> seen;
  auto observer = [&](const stork::step_info<vec>& s) {
    seen.push_back(s.interval);
    REQUIRE(s.t == grid[s.interval]);
    REQUIRE(s.denoised != nullptr);
    REQUIRE(*s.denoised == s.output);  // a denoiser's output is x̂₀
  };
  vec x = fixed_noise(8, 2), y;
  for (double& v : x) v *= 10.0;
  y = x;
  const stork::stats r = stork::integrate(stork::heun{}, f, x, grid, observer);
  REQUIRE(seen.size() == grid.size() - 1);  // one grid-point call per interval, no call at σ = 0
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == i);
  REQUIRE(r.nfe == 2 * seen.size() - 1);
  stork::integrate(stork::heun{}, f, y, grid);  // observing changes nothing
  REQUIRE(x == y);
  // A plain velocity field has a preview too (read as rectified flow: x − σv); VP STORK's denoise call is
  // seen.
  std::size_t flow_calls = 0, last = 0;
  vec z = fixed_noise(8, 2);
  stork::integrate(
      stork::stork4{}, [](const vec& a, double t, vec& v) { g.flow_velocity(a, t, v); }, z,
      grid_of(convention::flow),
      [&](const stork::step_info<vec>& s) {
        ++flow_calls;
        REQUIRE(s.denoised != nullptr);
      });
  REQUIRE(flow_calls == 9);
  auto eps =
      stork::field([](const vec& a, double t,
                      vec& e) { g.model_output(stork::vp_linear{}, stork::prediction::epsilon, a, t, e); },
                   stork::vp_linear{});
  stork::integrate(stork::stork4{}, eps, z, grid_of(convention::vp),
                   [&](const stork::step_info<vec>& s) { last = s.interval; });
  REQUIRE(last == 9);
}

TEST_CASE("engine: a context-holding allocator makes every state at construction, none while stepping",
          "[engine][ops]") {
  for_each_method([&](const auto& nm) {
    INFO(nm.name);
    arena ctx;
    vec x = fixed_noise(8, 4), out(8);
    auto sch = stork::make_scheduler(nm.method, grid_of(convention::flow), x, arena_ops{&ctx});
    const std::size_t made = ctx.buffers;
    REQUIRE(made >= 1);
    while (!sch.done()) {
      g.flow_velocity(x, sch.time(), sch.output_buffer());  // (the mixture's closed form allocates)
      const std::size_t heap = allocation_count();
      sch.step(x);
      REQUIRE(allocation_count() == heap);
    }
    REQUIRE(ctx.buffers == made);
    REQUIRE(ctx.combinations > 0);
    // integrate with the same ops object: the same result as without it.
    arena ctx2;
    vec a = fixed_noise(8, 4), b = a;
    auto f = [](const vec& y, double t, vec& v) { g.flow_velocity(y, t, v); };
    stork::integrate(nm.method, f, a, grid_of(convention::flow), arena_ops{&ctx2});
    stork::integrate(nm.method, f, b, grid_of(convention::flow));
    REQUIRE(a == b);
    REQUIRE(ctx2.combinations > 0);
  });
}

TEST_CASE("engine: no heap allocation while stepping, every method, convention and path", "[engine][alloc]") {
  for (convention c : {convention::flow, convention::ve, convention::vp}) {
    for_each_method([&](const auto& nm) {
      if (c == convention::vp && !nm.vp) return;
      if (c == convention::ve && std::string(nm.name).find("reference") != std::string::npos) return;
      INFO(name_of(c) << ", " << nm.name);
      for (bool zero_copy : {false, true}) {
        vec x = fixed_noise(64, 4), out(64);
        if (c == convention::ve)
          for (double& v : x) v *= 10.0;
        auto loop = [&](auto sch) {
          while (!sch.done()) {
            model_of(c, x, sch.time(), zero_copy ? sch.output_buffer() : out);  // (the closed form allocates)
            const std::size_t mark = allocation_count();
            zero_copy ? sch.step(x) : sch.step(out, x);
            REQUIRE(allocation_count() == mark);
          }
        };
        with_scheduler(nm.method, c, grid_of(c), x, loop);
      }
    });
  }
}

TEST_CASE("engine: make_scheduler and integrate take their optional arguments in any order", "[engine]") {
  vec a = fixed_noise(8, 4), b = a, c = a;
  const vec grid = grid_of(convention::ve);
  arena ctx;
  auto s1 = stork::make_scheduler(stork::dpmpp_2m{}, grid, a, stork::ve{}, stork::sampler_options{},
                                  arena_ops{&ctx});
  auto s2 = stork::make_scheduler(stork::dpmpp_2m{}, grid, b, arena_ops{&ctx}, stork::sampler_options{},
                                  stork::ve{});
  static_assert(std::is_same_v<decltype(s1), decltype(s2)>);
  auto run = [](auto& sch, vec& x) {
    while (!sch.done()) {
      g.model_output(stork::ve{}, stork::prediction::sample, x, sch.time(), sch.output_buffer());
      sch.step(x);
    }
  };
  run(s1, a), run(s2, b);
  REQUIRE(a == b);
  auto f = stork::field(
      [](const vec& y, double t, vec& o) { g.model_output(stork::ve{}, stork::prediction::sample, y, t, o); },
      stork::ve{});
  std::size_t calls = 0;
  stork::integrate(
      stork::dpmpp_2m{}, f, c, grid, [&](const stork::step_info<vec>&) { ++calls; },
      stork::sampler_options{.check_finite = false}, arena_ops{&ctx});
  REQUIRE(c == a);
  REQUIRE(calls == 9);
}
