// The catalogue of bad input (issue 5): every kind of invalid argument to the methods, grids,
// schedules, parameterisations/adapters and the scheduler throws stork::error naming the parameter and
// its value, and leaves the caller's x (bitwise) and the scheduler (time, nfe, done) as they were; a
// model's own exception passes through unchanged. One table row or SECTION per kind.
#include <stork/stork.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/all_methods.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace {

constexpr double k_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double k_inf = std::numeric_limits<double>::infinity();

/// A benign model for every parameterisation: finite, smooth, state dependent.
void model(const vec& x, double t, vec& out) {
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = 0.5 * x[i] - 0.25 * t;
}

/// The state every row starts from.
vec initial() { return {0.3, -1.2, 2.5}; }

const vec flow_grid{1.0, 0.75, 0.5, 0.25, 0.0};

/// Runs method m over `grid` with parameterisation p: through integrate (`engine = false`) or the
/// engine-owned scheduler loop (`engine = true`), with the benign model (and the noise source of a
/// stochastic method).
template <class M, class P = stork::flow_velocity, class... Noise>
void run(const M& m, const vec& grid, vec& x, bool engine, const P& p = {},
         stork::sampler_options options = {}, const Noise&... noise) {
  if (engine) {
    auto sch = stork::make_scheduler(m, grid, x, p, options, noise...);
    vec out(x.size());
    while (!sch.done()) {
      model(x, sch.time(), out);
      sch.step(out, x);
    }
  } else if constexpr (stork::detail::is_identity_v<P>) {
    stork::integrate(m, model, x, grid, options, noise...);
  } else {
    const auto param = stork::detail::as_parameterisation(p);
    stork::integrate(m, stork::field(model, param.process, param.prediction), x, grid, options, noise...);
  }
}

/// One kind of bad input: `call(x, engine)` must throw stork::error containing "<param> = <value>".
struct row {
  const char* kind;
  std::function<void(vec&, bool)> call;
  std::string param, value;
};

/// Both fronts throw stork::error naming "<param> = <value>"; integrate leaves x bitwise unchanged.
void check_row(const row& r) {
  INFO("kind: " << r.kind);
  const std::string says = r.param + " = " + r.value;
  for (const bool engine : {false, true}) {
    INFO((engine ? "engine-owned scheduler loop" : "integrate"));
    vec x = initial();
    const vec before = x;
    REQUIRE_THROWS_AS(r.call(x, engine), stork::error);
    if (!engine) REQUIRE(same_bits(x, before));
    x = before;
    REQUIRE_THROWS_WITH(r.call(x, engine), Catch::Contains(says));
  }
}

template <class M>
std::function<void(vec&, bool)> flow(M m, vec grid = flow_grid) {
  return [m, grid](vec& x, bool engine) { run(m, grid, x, engine); };
}
template <class M, class P>
std::function<void(vec&, bool)> with(M m, vec grid, P p) {
  return [m, grid, p](vec& x, bool engine) { run(m, grid, x, engine, p); };
}
std::function<void(vec&, bool)> schedule(std::function<vec()> make) {
  return [make](vec& x, bool engine) { run(stork::euler{}, make(), x, engine); };
}

}  // namespace

TEST_CASE("catalogue: method parameters", "[catalogue][error]") {
  using stork::variant;
  const stork::vp_linear vp{};
  const vec taus = stork::vp_taus(6);
  const std::vector<row> rows{
      {"rkg2 stages < 2", flow(stork::rkg2{.stages = 1}), "stages", "1"},
      {"rkg2 stages > 100000", flow(stork::rkg2{.stages = 100001}), "stages", "100001"},
      {"rock4 stages < 1", flow(stork::rock4{.stages = 0}), "stages", "0"},
      {"rock4 stages > 148", flow(stork::rock4{.stages = 149}), "stages", "149"},
      {"stork2 stages < 2", flow(stork::stork2{.stages = 1}), "stages", "1"},
      {"stork2 stages huge", flow(stork::stork2{.stages = std::numeric_limits<int>::max()}), "stages",
       "2147483647"},
      {"stork4 stages > 148", flow(stork::stork4{.stages = 149}), "stages", "149"},
      {"stork4 stages negative", flow(stork::stork4{.stages = -3}), "stages", "-3"},
      {"stork2 derivative_order 1", flow(stork::stork2{.derivative_order = 1}), "derivative_order", "1"},
      {"stork4 derivative_order 4", flow(stork::stork4{.derivative_order = 4}), "derivative_order", "4"},
      {"stork4 variant out of range", flow(stork::stork4{.variant = static_cast<variant>(7)}), "variant",
       "7"},
      {"reference flow derivative_order 3",
       flow(stork::stork4{.derivative_order = 3, .variant = variant::reference}), "derivative_order", "3"},
      {"reference stork2 with an epsilon model", with(stork::stork2{.variant = variant::reference}, taus, vp),
       "variant", "reference"},
      {"reference grid of 2 points", flow(stork::stork4{.variant = variant::reference}, vec{1.0, 0.0}),
       "times.size()", "2"},
      {"unipc order 0", flow(stork::unipc{.order = 0}), "order", "0"},
      {"unipc order 4", flow(stork::unipc{.order = 4}), "order", "4"},
      {"ipndm order 5", flow(stork::ipndm{.order = 5}), "order", "5"},
      {"ipndm order -1", flow(stork::ipndm{.order = -1}), "order", "-1"},
  };
  for (const row& r : rows) check_row(r);
}

namespace {
/// A grid every method must refuse, the parameter the error names and its value.
struct grid_case {
  const char* kind;
  vec grid;
  std::string param, value;
};
std::vector<grid_case> bad_grids() {
  return {
      {"empty grid", {}, "times.size()", "0"},
      {"single point", {0.5}, "times.size()", "1"},
      {"not monotone", {1.0, 0.5, 0.6, 0.0}, "times[2]", "0.6"},
      {"repeated point", {1.0, 0.5, 0.5, 0.0}, "times[2]", "0.5"},
      {"NaN in the grid", {1.0, k_nan, 0.0}, "times[1]", "nan"},
      {"Inf in the grid", {k_inf, 0.5, 0.0}, "times[0]", "inf"},
      {"step overflows double", {1e308, -1e308, -1.5e308}, "times[1]", "-1e+308"},
  };
}
}  // namespace

TEST_CASE("catalogue: grids, for every method", "[catalogue][error]") {
  const std::vector<grid_case> cases = bad_grids();
  for_each_method([&](const auto& nm) {
    INFO("method: " << nm.name);
    for (const grid_case& c : cases) check_row({c.kind, flow(nm.method, c.grid), c.param, c.value});
  });
}

TEST_CASE("catalogue: parameterisations and adapters", "[catalogue][error]") {
  using stork::prediction;
  const vec taus{0.9, 0.6, 0.3, 0.1};
  const std::vector<row> rows{
      {"vp_linear beta_min < 0", with(stork::euler{}, taus, stork::vp_linear{.beta_min = -1.0}), "beta_min",
       "-1"},
      {"vp_linear beta_max NaN", with(stork::euler{}, taus, stork::vp_linear{.beta_max = k_nan}), "beta_max",
       "nan"},
      {"vp_linear beta_max < beta_min",
       with(stork::stork4{}, taus, stork::vp_linear{.beta_min = 0.1, .beta_max = 0.05}), "beta_max", "0.05"},
      {"VP time above 1", with(stork::stork4{}, vec{1.5, 0.5, 0.1}, stork::vp_linear{}), "times[0]", "1.5"},
      {"VP time 0", with(stork::heun{}, vec{0.5, 0.1, 0.0}, stork::vp_linear{}), "times[2]", "0"},
      {"log-SNR not increasing (dpmpp on a rising flow grid)", flow(stork::dpmpp_2m{}, vec{0.0, 0.5, 1.0}),
       "times[1]", "0.5"},
      {"alpha underflows to 0 (vp_linear beta_max 1e308)",
       with(stork::stork4{}, taus, stork::vp_linear{.beta_min = 0.1, .beta_max = 1e308}), "t", "0.9"},
      {"epsilon flow model at sigma = 1",
       with(stork::euler{}, flow_grid, stork::flow_model{.prediction = prediction::epsilon}), "t", "1"},
      {"x0 flow model called at sigma = 0 (a grid rising from 0)",
       with(stork::euler{}, vec{0.0, 0.5}, stork::flow_model{.prediction = prediction::sample}), "t", "0"},
      {"flow_model prediction out of range",
       with(stork::euler{}, flow_grid, stork::flow_model{.prediction = static_cast<prediction>(9)}),
       "prediction", "9"},
      {"flow_model time outside [0, 1]",
       with(stork::euler{}, vec{1.5, 0.5, 0.0}, stork::flow_model{.prediction = prediction::v}), "times[0]",
       "1.5"},
      {"vp_model prediction out of range",
       with(stork::stork4{}, taus,
            stork::vp_model<stork::vp_linear>{.prediction = static_cast<prediction>(-1)}),
       "prediction", "-1"},
      {"vp_scaled_linear beta_start NaN",
       with(stork::stork2{}, taus,
            stork::vp_model<stork::vp_scaled_linear>{.process = {.beta_start = k_nan}}),
       "beta_start", "nan"},
      {"vp_scaled_linear num_train_timesteps 0",
       with(stork::rkg2{}, taus,
            stork::vp_model<stork::vp_scaled_linear>{.process = {.num_train_timesteps = 0}}),
       "num_train_timesteps", "0"},
      {"vp_discrete beta outside (0, 1)",
       [](vec& x, bool e) {
         run(stork::euler{}, vec{0.9, 0.1}, x, e,
             stork::vp_model<stork::vp_discrete>{.process = stork::vp_discrete(vec{0.1, 1.5})});
       },
       "betas[1]", "1.5"},
      {"vp_discrete empty table", with(stork::euler{}, vec{0.9, 0.1}, stork::vp_model<stork::vp_discrete>{}),
       "betas.size()", "0"},
      {"vp_discrete::linear T = 0",
       [](vec& x, bool e) {
         run(stork::euler{}, vec{0.9, 0.1}, x, e,
             stork::vp_model<stork::vp_discrete>{.process = stork::vp_discrete::linear(0, 1e-4, 0.02)});
       },
       "num_train_timesteps", "0"},
      {"vp_discrete::scaled_linear T > 10^6",
       [](vec& x, bool e) {
         run(stork::euler{}, vec{0.9, 0.1}, x, e,
             stork::vp_model<stork::vp_discrete>{.process =
                                                     stork::vp_discrete::scaled_linear(2000000, 1e-4, 0.02)});
       },
       "num_train_timesteps", "2000000"},
      {"VE grid with sigma < 0", with(stork::dpmpp_2m{}, vec{5.0, 1.0, -0.5}, stork::ve{}), "times[2]",
       "-0.5"},
      {"VE grid with NaN (rejected by the grid check first)",
       with(stork::euler{}, vec{5.0, k_nan, 0.0}, stork::ve{}), "times[1]", "nan"},
      {"VE grid with sigma < 0, STORK", with(stork::stork4{}, vec{2.0, 1.0, -1.0}, stork::model<stork::ve>{}),
       "times[2]", "-1"},
      {"VE model prediction out of range",
       with(stork::heun{}, vec{5.0, 1.0, 0.0},
            stork::model<stork::ve>{.prediction = static_cast<prediction>(5)}),
       "prediction", "5"},
      {"VE denoiser called at sigma = 0 (a grid rising from 0)",
       with(stork::euler{}, vec{0.0, 1.0}, stork::ve{}), "t", "0"},
      {"vp_field prediction out of range",
       [](vec& x, bool) {
         stork::integrate(stork::stork4{},
                          stork::vp_field(model, stork::vp_linear{}, static_cast<prediction>(4)), x,
                          vec{0.9, 0.5, 0.1});
       },
       "prediction", "4"},
      {"flow_field prediction out of range",
       [](vec& x, bool) {
         stork::integrate(stork::euler{}, stork::flow_field(model, static_cast<prediction>(12)), x,
                          flow_grid);
       },
       "prediction", "12"},
  };
  for (const row& r : rows) check_row(r);
}

TEST_CASE("catalogue: schedules", "[catalogue][error]") {
  using stork::flow_schedule, stork::flow_sigmas, stork::vp_taus;
  using stork::karras_sigmas, stork::exponential_sigmas, stork::use_flow_sigmas;
  const std::vector<row> rows{
      {"flow_sigmas steps 0", schedule([] { return flow_sigmas(0); }), "steps", "0"},
      {"flow_sigmas steps > 10^6", schedule([] { return flow_sigmas(1000001); }), "steps", "1000001"},
      {"shift 0", schedule([] { return flow_sigmas(10, {.shift = 0.0}); }), "shift", "0"},
      {"shift NaN", schedule([] { return flow_sigmas(10, {.shift = k_nan}); }), "shift", "nan"},
      {"mu Inf", schedule([] { return flow_sigmas(10, {.mu = k_inf}); }), "mu", "inf"},
      {"mu <= 0 with the linear time shift",
       schedule([] { return flow_sigmas(10, {.mu = -0.5, .time_shift = stork::time_shift::linear}); }), "mu",
       "-0.5"},
      {"time_shift out of range",
       schedule([] { return flow_sigmas(10, {.mu = 1.0, .time_shift = static_cast<stork::time_shift>(5)}); }),
       "time_shift", "5"},
      {"spacing out of range",
       schedule([] { return flow_sigmas(10, {.spacing = static_cast<stork::sigma_spacing>(9)}); }), "spacing",
       "9"},
      {"karras rho 0",
       schedule([] { return flow_sigmas(10, {.spacing = stork::sigma_spacing::karras, .rho = 0.0}); }), "rho",
       "0"},
      {"beta_alpha < 0", schedule([] { return flow_sigmas(10, {.beta_alpha = -1.0}); }), "beta_alpha", "-1"},
      {"beta_beta NaN", schedule([] { return flow_sigmas(10, {.beta_beta = k_nan}); }), "beta_beta", "nan"},
      {"beta spacing does not converge",
       schedule([] { return flow_sigmas(10, {.spacing = stork::sigma_spacing::beta, .beta_alpha = 1e300}); }),
       "beta_alpha", "1e+300"},
      {"shift_terminal 1", schedule([] { return flow_sigmas(10, {.shift_terminal = 1.0}); }),
       "shift_terminal", "1"},
      {"num_train_timesteps 0", schedule([] { return flow_sigmas(10, {.num_train_timesteps = 0}); }),
       "num_train_timesteps", "0"},
      {"num_train_timesteps 1 repeats sigma = 1",
       schedule([] { return flow_sigmas(10, {.num_train_timesteps = 1}); }), "num_train_timesteps", "1"},
      {"sigma_last outside (0, 1)", schedule([] { return flow_sigmas(10, {.sigma_last = 1.5}); }),
       "sigma_last", "1.5"},
      {"sigma_last with shift_terminal",
       schedule([] { return flow_sigmas(10, {.shift_terminal = 0.1, .sigma_last = 0.05}); }), "sigma_last",
       "0.05"},
      {"sigma_last with one step", schedule([] { return flow_sigmas(1, {.sigma_last = 0.05}); }), "steps",
       "1"},
      {"custom sigmas of the wrong length", schedule([] {
         return flow_sigmas(3, {.sigmas = {1.0, 0.5}});
       }),
       "steps", "3"},
      {"custom sigmas not decreasing", schedule([] {
         return flow_sigmas(3, {.sigmas = {1.0, 0.9, 0.95}});
       }),
       "sigmas[2]", "0.95"},
      {"custom sigmas outside (0, 1]", schedule([] {
         return flow_sigmas(2, {.sigmas = {1.5, 0.5}});
       }),
       "sigmas[0]", "1.5"},
      {"shift collapses the grid in double", schedule([] { return flow_sigmas(10, {.shift = 1e300}); }),
       "steps", "10"},
      {"vp_taus steps 1", schedule([] { return vp_taus(1); }), "steps", "1"},
      {"vp_taus steps > 10^6", schedule([] { return vp_taus(2000000); }), "steps", "2000000"},
      {"vp_taus eps_stop >= 1/steps", schedule([] { return vp_taus(10, {.eps_stop = 0.5}); }), "eps_stop",
       "0.5"},
      {"karras_sigmas steps 0", schedule([] { return karras_sigmas(0); }), "steps", "0"},
      {"karras_sigmas steps > 10^6", schedule([] { return karras_sigmas(1000001); }), "steps", "1000001"},
      {"karras sigma_min 0", schedule([] { return karras_sigmas(10, {.sigma_min = 0.0}); }), "sigma_min",
       "0"},
      {"karras sigma_min < 0", schedule([] { return karras_sigmas(10, {.sigma_min = -0.5}); }), "sigma_min",
       "-0.5"},
      {"karras sigma_min NaN", schedule([] { return karras_sigmas(10, {.sigma_min = k_nan}); }), "sigma_min",
       "nan"},
      {"karras sigma_min Inf", schedule([] { return karras_sigmas(10, {.sigma_min = k_inf}); }), "sigma_min",
       "inf"},
      {"karras sigma_max <= sigma_min",
       schedule([] { return karras_sigmas(10, {.sigma_min = 1.0, .sigma_max = 0.5}); }), "sigma_max", "0.5"},
      {"karras sigma_max NaN", schedule([] { return karras_sigmas(10, {.sigma_max = k_nan}); }), "sigma_max",
       "nan"},
      {"karras sigma_max Inf", schedule([] { return karras_sigmas(10, {.sigma_max = k_inf}); }), "sigma_max",
       "inf"},
      {"karras rho 0", schedule([] { return karras_sigmas(10, {.rho = 0.0}); }), "rho", "0"},
      {"karras rho NaN", schedule([] { return karras_sigmas(10, {.rho = k_nan}); }), "rho", "nan"},
      {"karras rho Inf", schedule([] { return karras_sigmas(10, {.rho = k_inf}); }), "rho", "inf"},
      {"karras grid collapses in double",
       schedule([] { return karras_sigmas(1000, {.sigma_min = 1.0, .sigma_max = 1.0 + 1e-13}); }), "steps",
       "1000"},
      {"exponential_sigmas steps 0", schedule([] { return exponential_sigmas(0); }), "steps", "0"},
      {"exponential_sigmas steps > 10^6", schedule([] { return exponential_sigmas(1000001); }), "steps",
       "1000001"},
      {"exponential sigma_min < 0", schedule([] { return exponential_sigmas(10, {.sigma_min = -1.0}); }),
       "sigma_min", "-1"},
      {"exponential sigma_min NaN", schedule([] { return exponential_sigmas(10, {.sigma_min = k_nan}); }),
       "sigma_min", "nan"},
      {"exponential sigma_min Inf", schedule([] { return exponential_sigmas(10, {.sigma_min = k_inf}); }),
       "sigma_min", "inf"},
      {"exponential sigma_max == sigma_min",
       schedule([] { return exponential_sigmas(10, {.sigma_min = 0.5, .sigma_max = 0.5}); }), "sigma_max",
       "0.5"},
      {"exponential sigma_max NaN", schedule([] { return exponential_sigmas(10, {.sigma_max = k_nan}); }),
       "sigma_max", "nan"},
      {"exponential sigma_max Inf", schedule([] { return exponential_sigmas(10, {.sigma_max = k_inf}); }),
       "sigma_max", "inf"},
      {"exponential grid collapses in double",
       schedule([] { return exponential_sigmas(1000, {.sigma_min = 1.0, .sigma_max = 1.0 + 1e-13}); }),
       "steps", "1000"},
      {"use_flow_sigmas steps 0", schedule([] { return use_flow_sigmas(0, 3.0); }), "steps", "0"},
      {"use_flow_sigmas steps > 10^6", schedule([] { return use_flow_sigmas(1000001, 3.0); }), "steps",
       "1000001"},
      {"use_flow_sigmas shift 0", schedule([] { return use_flow_sigmas(10, 0.0); }), "shift", "0"},
      {"use_flow_sigmas shift < 0", schedule([] { return use_flow_sigmas(10, -2.0); }), "shift", "-2"},
      {"use_flow_sigmas shift NaN", schedule([] { return use_flow_sigmas(10, k_nan); }), "shift", "nan"},
      {"use_flow_sigmas shift Inf", schedule([] { return use_flow_sigmas(10, k_inf); }), "shift", "inf"},
      {"use_flow_sigmas num_train_timesteps 1", schedule([] { return use_flow_sigmas(10, 3.0, 1); }),
       "num_train_timesteps", "1"},
      {"use_flow_sigmas num_train_timesteps 0", schedule([] { return use_flow_sigmas(10, 3.0, 0); }),
       "num_train_timesteps", "0"},
      {"use_flow_sigmas shift collapses the grid in double",
       schedule([] { return use_flow_sigmas(10, 1e300); }), "steps", "10"},
  };
  for (const row& r : rows) check_row(r);
}

TEST_CASE("catalogue: non-finite states and model outputs through integrate", "[catalogue][error]") {
  for_each_method([](const auto& nm) {
    INFO("method: " << nm.name);
    vec x{0.3, k_nan, 2.5};
    vec before = x;
    REQUIRE_THROWS_WITH(run(nm.method, flow_grid, x, false),
                        Catch::Contains("x (the initial state)") && Catch::Contains("NaN or Inf"));
    REQUIRE(same_bits(x, before));
    x[1] = -k_inf, before = x;
    REQUIRE_THROWS_AS(run(nm.method, flow_grid, x, false), stork::error);
    REQUIRE(same_bits(x, before));

    // The third model call returns NaN (then Inf): the error names the time, x is untouched.
    for (const double bad : {k_nan, k_inf}) {
      int calls = 0;
      double at = -1.0;
      auto f = [&](const vec& y, double t, vec& v) {
        model(y, t, v);
        if (++calls == 3) v[2] = bad, at = t;
      };
      x = initial();
      REQUIRE_THROWS_AS(stork::integrate(nm.method, f, x, flow_grid), stork::error);
      REQUIRE(same_bits(x, initial()));
      calls = 0;
      REQUIRE_THROWS_WITH(stork::integrate(nm.method, f, x, flow_grid),
                          Catch::Contains("model output at t = " + stork::detail::describe(at)) &&
                              Catch::Contains("NaN or Inf"));
    }

    // A model that resizes its output.
    auto shrinks = [](const vec& y, double t, vec& v) {
      model(y, t, v);
      v.resize(2);
    };
    x = initial();
    REQUIRE_THROWS_WITH(stork::integrate(nm.method, shrinks, x, flow_grid),
                        Catch::Contains("model output size = 2"));
    REQUIRE(same_bits(x, initial()));
  });
}

TEST_CASE("catalogue: the check_finite switch turns the NaN/Inf checks off", "[catalogue]") {
  const stork::sampler_options off{.check_finite = false};
  vec x{0.3, k_nan, 2.5};
  run(stork::euler{}, flow_grid, x, false, stork::flow_velocity{}, off);  // no throw: NaN propagates
  REQUIRE(std::isnan(x[1]));
  auto f = [](const vec& y, double t, vec& v) {
    model(y, t, v);
    v[0] = k_inf;
  };
  vec y = initial();
  stork::integrate(stork::heun{}, f, y, flow_grid, off);
  REQUIRE(std::isinf(y[0]));
}

namespace {

/// The scheduler's observable state.
struct snapshot {
  double time;
  std::size_t nfe;
  bool done;
  bool operator==(const snapshot&) const = default;
};
template <class Sch>
snapshot snap(const Sch& s) {
  return {s.time(), s.nfe(), s.done()};
}

/// Runs `m` on (grid, p) to the end with the benign model: the undisturbed result.
template <class M, class P, class... Noise>
vec undisturbed(const M& m, const vec& grid, const P& p, const Noise&... noise) {
  vec x = initial();
  run(m, grid, x, true, p, {}, noise...);
  return x;
}

/// Every step-time error, for one method and parameterisation: after `good` good steps each bad call
/// throws stork::error with the expected text, leaves x bitwise and the scheduler as they were, and the
/// run then ends exactly where an undisturbed run ends. Finally, step after done(). A stochastic method
/// gets a copy of `noise` in both runs: the rejected calls draw nothing.
template <class M, class P, class... Noise>
void step_errors(const M& m, const vec& grid, const P& p, std::size_t good, const Noise&... noise) {
  vec x = initial(), out(x.size());
  auto sch = stork::make_scheduler(m, grid, x, p, noise...);
  for (std::size_t i = 0; i < good && !sch.done(); ++i) {
    model(x, sch.time(), out);
    sch.step(out, x);
  }
  REQUIRE_FALSE(sch.done());
  model(x, sch.time(), out);
  const vec x_before = x;
  const snapshot s_before = snap(sch);

  // One bad call after another on the same scheduler; each leaves everything as it was.
  auto unchanged = [&] {
    REQUIRE(same_bits(x, x_before));
    REQUIRE(snap(sch) == s_before);
  };
  {
    INFO("kind: model output of the wrong size");
    vec shorter(2, 0.0);
    REQUIRE_THROWS_AS(sch.step(shorter, x), stork::error);
    REQUIRE_THROWS_WITH(sch.step(shorter, x), Catch::Contains("model output size = 2"));
    unchanged();
  }
  {
    INFO("kind: x of the wrong size");
    vec longer{1, 2, 3, 4};
    REQUIRE_THROWS_AS(sch.step(out, longer), stork::error);
    REQUIRE_THROWS_WITH(sch.step(out, longer), Catch::Contains("x size = 4"));
    REQUIRE(longer == vec{1, 2, 3, 4});
    unchanged();
  }
  {
    INFO("kind: NaN in the model output");
    vec bad = out;
    bad[1] = k_nan;
    REQUIRE_THROWS_AS(sch.step(bad, x), stork::error);
    REQUIRE_THROWS_WITH(sch.step(bad, x),
                        Catch::Contains("model output at t = " + stork::detail::describe(sch.time())) &&
                            Catch::Contains("NaN or Inf"));
    unchanged();
  }
  {
    INFO("kind: Inf in the model output");
    vec bad = out;
    bad[0] = -k_inf;
    REQUIRE_THROWS_AS(sch.step(bad, x), stork::error);
    REQUIRE_THROWS_WITH(sch.step(bad, x), Catch::Contains("NaN or Inf"));
    unchanged();
  }
  {
    INFO("kind: model output and x are the same object");
    REQUIRE_THROWS_AS(sch.step(x, x), stork::error);
    REQUIRE_THROWS_WITH(sch.step(x, x), Catch::Contains("model_output = x"));
    unchanged();
  }
  // The run goes on as if nothing had happened, bit for bit.
  while (!sch.done()) {
    model(x, sch.time(), out);
    sch.step(out, x);
  }
  REQUIRE(same_bits(x, undisturbed(m, grid, p, noise...)));
  // Step after done(); time() then stays at the last grid time.
  const vec x_end = x;
  const snapshot s_end = snap(sch);
  REQUIRE(s_end.time == grid.back());
  REQUIRE_THROWS_AS(sch.step(out, x), stork::error);
  REQUIRE_THROWS_WITH(sch.step(out, x), Catch::Contains("after done()") &&
                                            Catch::Contains("nfe = " + std::to_string(s_end.nfe)));
  REQUIRE(same_bits(x, x_end));
  REQUIRE(snap(sch) == s_end);
}

}  // namespace

TEST_CASE("catalogue: scheduler::step rejects bad calls and keeps its state, for every method",
          "[catalogue][scheduler][error]") {
  for_each_method([](const auto& nm) {
    INFO("method: " << nm.name);
    for (const std::size_t good : {std::size_t{0}, std::size_t{3}}) {
      INFO("after " << good << " good steps, flow velocity");
      step_errors(nm.method, flow_grid, stork::flow_velocity{}, good);
      if (nm.vp) {
        INFO("VP epsilon");
        step_errors(nm.method, stork::vp_taus(5), stork::vp_linear{}, good);
      }
    }
  });
}

TEST_CASE("catalogue: grids whose steps overflow the methods' weights fail before changing anything",
          "[catalogue][scheduler][error]") {
  // Two consecutive steps of 1e-300 after steps of order 1: STORK's velocity polynomial divides by the
  // cube of past steps and iPNDM's Adams–Bashforth nodes are ratios of steps, both beyond double range.
  const vec grid{1.0, 0.5, 3e-300, 2e-300, 1e-300, 0.0};
  auto check = [&](const auto& m, const std::string& who) {
    INFO("method: " << who);
    vec x = initial(), out(3);
    auto sch = stork::make_scheduler(m, grid, x);
    bool thrown = false;
    while (!sch.done() && !thrown) {
      model(x, sch.time(), out);
      const vec x_before = x;
      const snapshot s_before = snap(sch);
      try {
        sch.step(out, x);
      } catch (const stork::error& e) {
        thrown = true;
        REQUIRE_THAT(e.what(), Catch::Contains(who + ": times["));
        REQUIRE(same_bits(x, x_before));
        REQUIRE(snap(sch) == s_before);
        REQUIRE_THROWS_WITH(sch.step(out, x), e.what());  // the same error again: nothing moved
      }
    }
    REQUIRE(thrown);
    vec y = initial();
    REQUIRE_THROWS_AS(stork::integrate(m, model, y, grid), stork::error);
    REQUIRE(same_bits(y, initial()));
  };
  check(stork::stork2{}, "stork2");
  check(stork::stork4{}, "stork4");
  check(stork::stork4{.derivative_order = 3}, "stork4");
  check(stork::stork4{.variant = stork::variant::reference}, "stork4");
  check(stork::ipndm{}, "ipndm");
  // Huge steps: h⁴ overflows in STORK's weights.
  vec x = initial();
  REQUIRE_THROWS_WITH(stork::integrate(stork::stork4{}, model, x, vec{4e100, 3e100, 2e100, 1e100, 0.0}),
                      Catch::Contains("stork4: times[") && Catch::Contains("non-finite weights"));
  REQUIRE(same_bits(x, initial()));
}

TEST_CASE("catalogue: a model's own exception passes through and leaves the state untouched",
          "[catalogue][error]") {
  struct device_lost : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  for_each_method([](const auto& nm) {
    INFO("method: " << nm.name);
    const vec expected = undisturbed(nm.method, flow_grid, stork::flow_velocity{});
    for (const int fail_at : {1, 2, 4}) {
      int calls = 0;
      auto f = [&](const vec& y, double t, vec& v) {
        if (++calls == fail_at) throw device_lost("CUDA error: device lost");
        model(y, t, v);
      };
      vec x = initial();
      REQUIRE_THROWS_AS(stork::integrate(nm.method, f, x, flow_grid), device_lost);
      REQUIRE(same_bits(x, initial()));
      calls = 0;
      REQUIRE_THROWS_WITH(stork::integrate(nm.method, f, x, flow_grid), "CUDA error: device lost");
      // integrate keeps nothing between calls: the next run is the undisturbed one.
      stork::integrate(nm.method, model, x, flow_grid);
      REQUIRE(same_bits(x, expected));
    }
    // In the engine-owned loop the engine calls the model: a failed call that is retried leaves the
    // scheduler exactly where it was.
    vec x = initial(), out(3);
    auto sch = stork::make_scheduler(nm.method, flow_grid, x);
    bool failed_once = false;
    while (!sch.done()) {
      const snapshot s = snap(sch);
      try {
        if (sch.nfe() == 2 && !failed_once) {
          failed_once = true;
          throw device_lost("transient");
        }
        model(x, sch.time(), out);
        sch.step(out, x);
      } catch (const device_lost&) {
        REQUIRE(snap(sch) == s);
      }
    }
    REQUIRE(failed_once);
    REQUIRE(same_bits(x, expected));
  });
}

namespace {

/// A stochastic method over `grid` with parameterisation p and a seeded noise source (or `noise`).
template <class M, class P = stork::flow_velocity, class Noise = stork::normal_noise>
std::function<void(vec&, bool)> noisy(M m, vec grid = flow_grid, P p = {},
                                      Noise noise = stork::normal_noise{1}) {
  return [m, grid, p, noise](vec& x, bool engine) { run(m, grid, x, engine, p, {}, noise); };
}

}  // namespace

TEST_CASE(
    "catalogue: stochastic methods — eta, s_noise, solver, grids along which no noise can be added, "
    "noise sources",
    "[catalogue][error][stochastic]") {
  using stork::sde_solver;
  const vec ve_grid{10.0, 5.0, 2.0, 1.0, 0.5, 0.0};
  const std::vector<row> rows{
      {"euler_ancestral eta < 0", noisy(stork::euler_ancestral{.eta = -1.0}), "eta", "-1"},
      {"dpmpp_2m_sde eta NaN", noisy(stork::dpmpp_2m_sde{.eta = k_nan}), "eta", "nan"},
      {"dpmpp_3m_sde eta Inf", noisy(stork::dpmpp_3m_sde{.eta = k_inf}), "eta", "inf"},
      {"euler_ancestral eta -Inf", noisy(stork::euler_ancestral{.eta = -k_inf}), "eta", "-inf"},
      {"euler_ancestral s_noise < 0", noisy(stork::euler_ancestral{.s_noise = -0.5}), "s_noise", "-0.5"},
      {"dpmpp_2m_sde s_noise Inf", noisy(stork::dpmpp_2m_sde{.s_noise = k_inf}), "s_noise", "inf"},
      {"dpmpp_3m_sde s_noise NaN", noisy(stork::dpmpp_3m_sde{.s_noise = k_nan}), "s_noise", "nan"},
      {"dpmpp_2m_sde solver out of range", noisy(stork::dpmpp_2m_sde{.solver = static_cast<sde_solver>(7)}),
       "solver", "7"},
      {"euler_ancestral on a rising VE grid (noise is added only toward data)",
       noisy(stork::euler_ancestral{}, vec{0.5, 1.0, 2.0}, stork::ve{}), "times[1]", "1"},
      {"dpmpp_2m_sde on a rising flow grid", noisy(stork::dpmpp_2m_sde{}, vec{0.2, 0.5, 0.9}), "times[1]",
       "0.5"},
      {"dpmpp_3m_sde on a rising VP grid",
       noisy(stork::dpmpp_3m_sde{}, vec{0.1, 0.5, 0.9}, stork::vp_linear{}), "times[1]", "0.5"},
      {"euler_ancestral eta = 0 on a rising grid too",
       noisy(stork::euler_ancestral{.eta = 0.0}, vec{0.2, 0.9}), "times[1]", "0.9"},
      {"dpmpp_3m_sde eta so large that its weights overflow",
       noisy(stork::dpmpp_3m_sde{.eta = 1e300}, ve_grid, stork::ve{}), "times[2]", "2"},
      {"noise source resizes its output",
       noisy(stork::dpmpp_2m_sde{}, flow_grid, stork::flow_velocity{}, [](vec& z) { z.assign(4, 0.0); }),
       "output size", "4"},
      {"noise source empties its output",
       noisy(stork::euler_ancestral{}, ve_grid, stork::ve{}, [](vec& z) { z.clear(); }), "output size", "0"},
  };
  for (const row& r : rows) check_row(r);
  // A draw with NaN or Inf: stork::error, x unchanged, on both fronts and for every method.
  for_each_stochastic_method([](const auto& nm) {
    for (const double bad : {k_nan, k_inf, -k_inf}) {
      INFO("method: " << nm.name << ", draw " << bad);
      int calls = 0;
      auto source = [&calls, bad](vec& z) {
        std::fill(z.begin(), z.end(), 0.25);
        if (++calls == 2) z[1] = bad;
      };
      for (const bool engine : {false, true}) {
        calls = 0;
        vec x = initial();
        REQUIRE_THROWS_WITH(
            run(nm.method, flow_grid, x, engine, stork::flow_velocity{}, {}, std::ref(source)),
            Catch::Contains("noise source: the draw contains NaN or Inf"));
        if (!engine) REQUIRE(same_bits(x, initial()));
      }
    }
  });
}

TEST_CASE("catalogue: grids, for every stochastic method", "[catalogue][error][stochastic]") {
  const std::vector<grid_case> cases = bad_grids();
  for_each_stochastic_method([&](const auto& nm) {
    INFO("method: " << nm.name);
    for (const grid_case& c : cases) check_row({c.kind, noisy(nm.method, c.grid), c.param, c.value});
  });
}

TEST_CASE("catalogue: scheduler::step rejects bad calls and keeps its state, for every stochastic method",
          "[catalogue][scheduler][error][stochastic]") {
  for_each_stochastic_method([](const auto& nm) {
    INFO("method: " << nm.name);
    for (const std::size_t good : {std::size_t{0}, std::size_t{3}}) {
      INFO("after " << good << " good steps, flow velocity");
      step_errors(nm.method, flow_grid, stork::flow_velocity{}, good, stork::normal_noise{3});
      INFO("VP epsilon");
      step_errors(nm.method, stork::vp_taus(5), stork::vp_linear{}, good, stork::normal_noise{3});
      INFO("VE denoiser");
      step_errors(nm.method, vec{10.0, 5.0, 2.0, 1.0, 0.5, 0.0}, stork::ve{}, good, stork::normal_noise{3});
    }
  });
}

TEST_CASE("catalogue: a model's own exception passes through a stochastic method and leaves x untouched",
          "[catalogue][error][stochastic]") {
  struct device_lost : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  for_each_stochastic_method([](const auto& nm) {
    INFO("method: " << nm.name);
    const vec expected = undisturbed(nm.method, flow_grid, stork::flow_velocity{}, stork::normal_noise{4});
    for (const int fail_at : {1, 2, 4}) {
      int calls = 0;
      auto f = [&](const vec& y, double t, vec& v) {
        if (++calls == fail_at) throw device_lost("CUDA error: device lost");
        model(y, t, v);
      };
      vec x = initial();
      REQUIRE_THROWS_AS(stork::integrate(nm.method, f, x, flow_grid, stork::normal_noise{4}), device_lost);
      REQUIRE(same_bits(x, initial()));
      stork::integrate(nm.method, model, x, flow_grid, stork::normal_noise{4});
      REQUIRE(same_bits(x, expected));
    }
  });
}
