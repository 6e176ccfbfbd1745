// Tests of <stork/methods/stork4.hpp> (and the shared STORK machinery): golden values of the reference
// code, effective weights, collapsed = stage-by-stage, measured orders, NFE, errors.
#include <stork/methods/stork4.hpp>
#include <stork/schedule.hpp>
#include <stork/scheduler.hpp>
#include <stork/stork.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "support/convergence.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/opaque_state.hpp"
#include "support/problems.hpp"
#include "support/shared_handle.hpp"

using namespace stork_test;
using vec = std::vector<double>;
using stork::variant;

namespace {

/// x after every model call of a scheduler loop.
template <class Method, class Model, class P = stork::flow_velocity>
vec trajectory(const Method& m, const vec& grid, double x0, Model model, const P& p = {}) {
  vec x{x0}, v{0.0}, seen;
  auto sch = stork::make_scheduler(m, grid, x, p);
  while (!sch.done()) {
    model(x, sch.time(), v);
    sch.step(v, x);
    seen.push_back(x[0]);
  }
  return seen;
}

void golden_flow_toy(const vec& x, double sigma, vec& v) { v[0] = -x[0] + sigma * sigma; }
void golden_noise_toy(const vec& x, double tau, vec& e) { e[0] = 0.5 * x[0] + tau; }

/// The reference code's values are float32 runs printed to 6–7 digits (docs/reference.md §2.7).
void require_golden(const vec& got, const vec& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("call " << i << ": got " << got[i] << ", reference " << want[i]);
    REQUIRE(std::abs(got[i] - want[i]) <= 2e-5 * std::max(1.0, std::abs(want[i])));
  }
}

vec reference_taus(int n, double eps_stop = 1e-3) {
  vec t;
  for (int k = n - 1; k >= 1; --k) t.push_back(k / double(n));
  t.push_back(eps_stop);
  return t;
}

}  // namespace

TEST_CASE("stork4 reference: golden flow sequences of docs/reference.md §2.7", "[stork4][golden]") {
  const auto ref = [](int s) {
    return stork::stork4{.stages = s, .derivative_order = 2, .variant = variant::reference};
  };
  const vec s1 = stork::flow_sigmas(8, {.shift = 1.0}), s3 = stork::flow_sigmas(8, {.shift = 3.0});
  require_golden(trajectory(ref(5), s1, 1.0, golden_flow_toy),
                 {1, 1.01473, 1.074626, 1.172307, 1.307812, 1.481187, 1.692042, 1.939881, 1.941741});
  require_golden(trajectory(ref(50), s1, 1.0, golden_flow_toy),
                 {1, 1.01473, 1.074626, 1.17558, 1.316877, 1.498615, 1.720806, 1.983409, 1.985389});
  require_golden(trajectory(ref(5), s3, 1.0, golden_flow_toy),
                 {1, 1.002037, 1.012949, 1.038681, 1.09208, 1.200995, 1.431937, 1.971171, 1.988131});
}

TEST_CASE("stork4 reference: golden noise sequence of docs/reference.md §2.7", "[stork4][golden]") {
  const stork::stork4 m{.stages = 5, .derivative_order = 2, .variant = variant::reference};
  const vec got = trajectory(m, reference_taus(8), 1.0, golden_noise_toy, stork::vp_linear{});
  require_golden(got, {.7946059, .5800769, .6182941, .2025007, -.1020826, -.4858529, -.6680646, -.7924131,
                       -.7061014, -.7024095});
  // The same through integrate and vp_epsilon (NFE = N + 2 on N = 8 grid points, final Tweedie included).
  vec x{1.0};
  const stork::stats r = stork::integrate(
      m, stork::vp_epsilon(golden_noise_toy, stork::vp_linear{.beta_min = 0.1, .beta_max = 20.0}), x,
      reference_taus(8));
  REQUIRE(x[0] == got.back());
  REQUIRE(r.nfe == 10);
  REQUIRE(r.steps == 7);
}

TEST_CASE("stork4: effective weights against the table of docs/reference.md §2.5", "[stork4][weights]") {
  const auto q5 = stork::effective_weights(stork::stork4{.stages = 5, .variant = variant::reference});
  const auto q50 = stork::effective_weights(stork::stork4{.stages = 50, .variant = variant::reference});
  const std::array<double, 4> t5{0.958429, 0.499753, 0.333062, 0.249728},
      t50{0.998954, 0.499992, 0.333326, 0.249992};
  for (std::size_t k = 0; k < 4; ++k) {
    REQUIRE(q5[k] == Approx(t5[k]).margin(1e-6));
    REQUIRE(q50[k] == Approx(t50[k]).margin(1e-6));
  }
  // Q0 column of §2.4 (printed to 4–5 digits), including the degenerate s = 1.
  const std::vector<std::pair<int, double>> q0{
      {1, 0.824}, {2, 0.8920}, {10, 0.9838}, {20, 0.9946}, {148, 0.99987}};
  for (const auto& [s, want] : q0)
    REQUIRE(stork::effective_weights(stork::stork4{.stages = s, .variant = variant::reference})[0] ==
            Approx(want).margin(6e-4));
  // Abdulle's bookkeeping integrates cubics exactly for every degree: Q = (1, 1/2, 1/3, 1/4).
  for (int s : {1, 2, 5, 13, 50, 148}) {
    const auto q = stork::effective_weights(stork::stork4{.stages = s});
    for (std::size_t k = 0; k < 4; ++k) REQUIRE(q[k] == Approx(1.0 / double(k + 1)).margin(1e-12));
  }
}

TEST_CASE("stork4 corrected, derivative_order 2, on a uniform grid is Adams–Bashforth 3",
          "[stork4][weights]") {
  // x_{n+1} = x_n + h/12 (23 F0 − 16 F1 + 5 F2) once three outputs are known (docs/reference.md §2.5).
  const vec grid = uniform_grid(1.0, 0.0, 6);
  vec x{0.3}, v{0.0}, hist;
  auto sch =
      stork::make_scheduler(stork::stork4{.stages = 7, .startup = stork::startup::runge_kutta}, grid, x);
  std::size_t k = 0;
  while (!sch.done()) {
    v[0] = std::sin(3.0 * sch.time()) + x[0];
    const double before = x[0];
    sch.step(v, x);
    if (k >= 3) {  // calls 0,1 are the Heun start-up, call 2 uses two outputs; from call 3 on: AB3
      const double h = -1.0 / 6.0;
      REQUIRE(x[0] ==
              Approx(before + h / 12.0 * (23 * v[0] - 16 * hist[hist.size() - 1] + 5 * hist[hist.size() - 2]))
                  .epsilon(1e-13));
    }
    if (k != 1) hist.push_back(v[0]);  // call 1 is Heun's corrector stage, not a grid-node output
    ++k;
  }
}

TEST_CASE("stork4: collapsed step equals the stage-by-stage form to 1e-12", "[stork4][collapse]") {
  const std::size_t n = 6;
  auto filled = [n](double seed) {
    vec v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(seed + 1.7 * double(i));
    return v;
  };
  const vec y0 = filled(0.1), f0 = filled(1.0), f1 = filled(2.0), f2 = filled(3.0), f3 = filled(4.0);
  const std::array<const vec*, 4> F{&f0, &f1, &f2, &f3};
  const double t = 0.7, H = -0.05;
  const stork::detail::output_polynomial polys[] = {
      stork::detail::output_polynomial::lagrange({0.0, 0.05, 0.11, 0.18}, 4),
      stork::detail::reference_flow_taylor(0.05, 0.06), stork::detail::uniform_taylor(0.05, 4)};
  for (int s : {2, 5, 50, 148})
    for (variant var : {variant::corrected, variant::reference})
      for (const auto& poly : polys) {
        const stork::detail::stork_coefficients k(stork::detail::stork_family::rock4, s, 2, var);
        auto check = [&](const auto& param) {
          vec staged(n), collapsed(n);
          stork::detail::stagewise_step(k, param, poly, t, H, y0, F, staged);
          const auto w = stork::detail::collapsed_weights(k, param, stork::detail::output_is_velocity(param),
                                                          poly, t, H);
          const std::array<const vec*, 5> xs{&y0, &f0, &f1, &f2, &f3};
          stork::state_ops<vec>::lincomb(collapsed, std::span<const double>(w.data(), poly.outputs + 1),
                                         std::span<const vec* const>(xs.data(), poly.outputs + 1));
          for (std::size_t i = 0; i < n; ++i) {
            INFO("s = " << s << " reference = " << (var == variant::reference) << " i = " << i);
            REQUIRE(collapsed[i] == Approx(staged[i]).epsilon(1e-12).margin(1e-14));
          }
        };
        check(stork::flow_velocity{});            // flow: effective-weight path
        check(stork::model<stork::vp_linear>{});  // ε: coordinate recurrence with state-dependent drift
      }
}

// The order tests name the Runge–Kutta start-up, which keeps the order on every grid (the default,
// automatic, takes it on long grids with a full-size first step: not on shift 3); the multistep start-up
// begins with a first-order step, which caps uniform and shifted grids at global order 2
// (tests/startup_test.cpp measures every start-up).
constexpr auto rk = stork::startup::runge_kutta;

TEST_CASE("stork4 corrected: global order 3 (derivative_order 2) and 4 (derivative_order 3)",
          "[stork4][order]") {
  for (double shift : {1.0, 3.0})
    for (bool gaussian : {false, true})
      for (int s : {1, 5, 148}) {
        const double o2 =
            flow_order(stork::stork4{.stages = s, .derivative_order = 2, .startup = rk}, shift, gaussian);
        const double o3 =
            flow_order(stork::stork4{.stages = s, .derivative_order = 3, .startup = rk}, shift, gaussian);
        INFO("s = " << s << ", shift " << shift << (gaussian ? ", Gaussian flow" : ", toy flow")
                    << ": orders " << o2 << ", " << o3);
        REQUIRE(o2 == Approx(3.0).margin(0.15));
        REQUIRE(o3 == Approx(4.0).margin(0.15));
      }
}

TEST_CASE("stork4 corrected on the ε path: order 3 and 4 measured the same way", "[stork4][order]") {
  for (int s : {5, 50}) {
    const double o2 = eps_order(stork::stork4{.stages = s, .derivative_order = 2});
    const double o3 = eps_order(stork::stork4{.stages = s, .derivative_order = 3, .startup = rk});
    INFO("s = " << s << ": orders " << o2 << ", " << o3);
    REQUIRE(o2 == Approx(3.0).margin(0.15));
    REQUIRE(o3 == Approx(4.0).margin(0.15));
  }
}

TEST_CASE("stork4 in VE with a denoiser: order 3 and 4, extrapolating the output or the velocity",
          "[stork4][order][ve]") {
  for (auto form : {stork::extrapolate::model_output, stork::extrapolate::velocity})
    for (int s : {5, 50}) {
      const double o2 = ve_order(stork::stork4{.stages = s, .derivative_order = 2, .extrapolate = form});
      const double o3 =
          ve_order(stork::stork4{.stages = s, .derivative_order = 3, .extrapolate = form, .startup = rk});
      INFO("s = " << s << (form == stork::extrapolate::velocity ? ", velocity" : ", model output")
                  << ": orders " << o2 << ", " << o3);
      REQUIRE(o2 == Approx(3.0).margin(0.15));
      REQUIRE(o3 == Approx(4.0).margin(0.15));
    }
}

TEST_CASE("stork4 extrapolating velocities is variable-step Adams-Bashforth: ipndm to round-off",
          "[stork4][ipndm]") {
  // With the multistep start-up, corrected STORK-4 on velocities integrates the Lagrange polynomial
  // through the last derivative_order + 1 velocities exactly (Q_k = 1/(k+1)): iPNDM of order
  // derivative_order + 1, warm-up included.
  const gaussian_mixture gm = three_blobs();
  const stork::ve ve{};
  auto den = [&gm, &ve](const vec& y, double t, vec& o) {
    gm.model_output(ve, stork::prediction::sample, y, t, o);
  };
  auto flow = [&gm](const vec& y, double t, vec& v) { gm.flow_velocity(y, t, v); };
  const vec noise = fixed_noise(8, 3);
  for (int d : {2, 3}) {
    const auto stork = stork::stork4{.stages = 5,
                                     .derivative_order = d,
                                     .extrapolate = stork::extrapolate::velocity,
                                     .startup = stork::startup::multistep};
    const auto ipndm = stork::ipndm{.order = d + 1};
    INFO("derivative_order " << d);
    {  // a flow velocity on a shifted grid
      const vec grid = stork::flow_sigmas(12, {.shift = 3.0});
      vec a = noise, b = noise;
      const auto ra = stork::integrate(stork, flow, a, grid);
      const auto rb = stork::integrate(ipndm, flow, b, grid);
      REQUIRE(ra.nfe == rb.nfe);
      for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == Approx(b[i]).epsilon(1e-12).margin(1e-13));
    }
    {  // a VE denoiser on Karras sigmas (its velocity (x − D)/σ is extrapolated, the last step included)
      const vec grid = stork::karras_sigmas(15, {.sigma_min = 0.03, .sigma_max = 10.0});
      vec a = noise, b = noise;
      for (std::size_t i = 0; i < a.size(); ++i) a[i] = b[i] = 10.0 * noise[i];
      const auto f = stork::field(den, ve, stork::prediction::sample);
      const auto ra = stork::integrate(stork, f, a, grid);
      const auto rb = stork::integrate(ipndm, f, b, grid);
      REQUIRE(ra.nfe == rb.nfe);
      for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == Approx(b[i]).epsilon(1e-12).margin(1e-13));
    }
  }
}

TEST_CASE("stork4: NFE accounting of both variants", "[stork4][nfe]") {
  const vec sig = stork::flow_sigmas(10, {.shift = 3.0});  // N = 10 intervals
  auto count = [&](const auto& m, const vec& grid, auto field) {
    vec x{0.5};
    return stork::integrate(m, field, x, grid);
  };
  const stork::stats ref = count(stork::stork4{.variant = variant::reference}, sig, golden_flow_toy);
  REQUIRE(ref.nfe == 11);  // N + 1 (§2.1)
  REQUIRE(ref.steps == 10);
  // automatic start-up: multistep (N calls) below 15 intervals, Heun (N + 1) from 15
  REQUIRE(count(stork::stork4{}, sig, golden_flow_toy).nfe == 10);
  REQUIRE(count(stork::stork4{}, stork::flow_sigmas(15, {.shift = 1.0}), golden_flow_toy).nfe == 16);
  // (on a shift-3 grid the first step is a third of the mean: multistep whatever the length)
  REQUIRE(count(stork::stork4{}, stork::flow_sigmas(15, {.shift = 3.0}), golden_flow_toy).nfe == 15);
  REQUIRE(count(stork::stork4{.startup = stork::startup::runge_kutta}, sig, golden_flow_toy).nfe == 11);
  REQUIRE(count(stork::stork4{.derivative_order = 3, .startup = stork::startup::runge_kutta}, sig,
                golden_flow_toy)
              .nfe == 14);  // 2 RK3 steps: N + 4
  REQUIRE(count(stork::stork4{.derivative_order = 3}, sig, golden_flow_toy).nfe ==
          10);  // automatic: multistep below 30 intervals
  REQUIRE(count(stork::stork4{.derivative_order = 3}, stork::flow_sigmas(30, {.shift = 1.0}), golden_flow_toy)
              .nfe == 34);  // automatic: Runge–Kutta from 30
  REQUIRE(
      count(stork::stork4{.derivative_order = 3, .startup = stork::startup::multistep}, sig, golden_flow_toy)
          .nfe == 10);  // no start-up calls: N
  const auto eps = stork::vp_epsilon(golden_noise_toy, stork::vp_linear{});
  REQUIRE(count(stork::stork4{.variant = variant::reference}, reference_taus(10), eps).nfe == 12);  // N + 2
  REQUIRE(count(stork::stork4{}, reference_taus(10), eps).nfe == 10);  // 9 intervals + denoise
  REQUIRE(count(stork::stork4{.startup = stork::startup::runge_kutta}, reference_taus(10), eps).nfe ==
          11);  // + Heun
}

TEST_CASE("stork4: corrected is not worse than reference at equal NFE on a Gaussian mixture",
          "[stork4][mixture]") {
  // Three 2-D components, one narrow (s = 0.05); 256 samples from fixed noise. Measured (RMS error, see
  // the issue note): at shift 3 and NFE 10 both variants fail (0.378 corrected, 0.364 reference); from
  // NFE 15 on corrected wins, and the reference plateaus near 0.1 (its Q0 < 1 bias) while corrected
  // keeps converging.
  const gaussian_mixture gm = three_blobs();
  auto f = [&gm](const vec& x, double s, vec& v) { gm.flow_velocity(x, s, v); };
  const vec noise = fixed_noise(2 * 256, 7);
  for (const auto& [shift, nmin] : {std::pair{1.0, 9}, std::pair{3.0, 14}}) {
    vec exact = noise;
    stork::integrate(stork::rock4{.stages = 5}, f, exact,
                     shifted_grid(1500, shift));  // within 2e-10 of m = 20, 4000 steps
    for (int n : {nmin, 19, 29, 39}) {
      const vec grid = stork::flow_sigmas(n, {.shift = shift});
      vec xr = noise, xc = noise;
      const auto nr = stork::integrate(stork::stork4{.variant = variant::reference}, f, xr, grid).nfe;
      // The Heun start-up, so that both make N + 1 calls on N intervals.
      const auto nc =
          stork::integrate(stork::stork4{.startup = stork::startup::runge_kutta}, f, xc, grid).nfe;
      double er = 0, ec = 0;
      for (std::size_t i = 0; i < noise.size(); ++i)
        er += (xr[i] - exact[i]) * (xr[i] - exact[i]), ec += (xc[i] - exact[i]) * (xc[i] - exact[i]);
      INFO("shift " << shift << ", NFE " << nc << ": RMS error corrected " << std::sqrt(ec / 512)
                    << ", reference " << std::sqrt(er / 512));
      REQUIRE(nr == nc);
      REQUIRE(nc >= 10);
      REQUIRE(ec <= er);
    }
  }
}

TEST_CASE("stork4 in VE: a stiff mixture on Karras sigmas, against Euler and DPM-Solver++ at equal NFE",
          "[stork4][mixture][ve]") {
  // Three 2-D blobs (spreads 0.3, 0.2, 0.05: stiff as σ → 0), an exact denoiser, Karras sigmas 14.6 → 0.0292.
  // Reference: a fine ROCK4 solution to σ_min, then x = D (the end all four methods take). Measured median
  // errors of these 120 samples, NFE 10 / 20 / 50: euler 4.3e-2 / 2.1e-2 / 8.0e-3, dpmpp_2m 3.1e-2 /
  // 4.4e-3 / 5.9e-4, stork4 6.1e-3 / 5.6e-4 / 2.2e-5 (the default start-up: multistep on 10 intervals, Heun
  // on 19 and 49): the stages integrate the stiff part x/σ of (x − D)/σ.
  const gaussian_mixture gm = three_blobs();
  const stork::ve ve{};
  auto den = [&](const vec& y, double t, vec& o) { gm.model_output(ve, stork::prediction::sample, y, t, o); };
  const auto f = stork::field(den, ve);
  const std::size_t n = 120;
  vec noise = fixed_noise(2 * n, 9);
  for (double& v : noise) v *= 14.6146;
  auto median = [&](const vec& a, const vec& b) {
    vec e(n);
    for (std::size_t i = 0; i < n; ++i) e[i] = std::hypot(a[2 * i] - b[2 * i], a[2 * i + 1] - b[2 * i + 1]);
    std::nth_element(e.begin(), e.begin() + long(n / 2), e.end());
    return e[n / 2] / std::sqrt(2.0);
  };
  for (int nfe : {10, 20}) {
    auto grid = [](int steps) { return stork::karras_sigmas(steps); };
    auto error = [&](const auto& m, int steps) {
      const vec g = grid(steps);
      vec fine;
      for (std::size_t i = 0; i + 2 < g.size(); ++i)
        for (int k = 0; k < 12; ++k) fine.push_back(g[i] + (g[i + 1] - g[i]) * k / 12.0);
      fine.push_back(g[g.size() - 2]);
      vec ref = noise, d(noise.size());
      stork::integrate(stork::rock4{.stages = 5}, f, ref, fine);
      den(ref, fine.back(), d);
      vec x = noise;
      const stork::stats r = stork::integrate(m, f, x, g);
      REQUIRE(r.nfe == std::size_t(nfe));
      return median(x, d);
    };
    const double e_euler = error(stork::euler{}, nfe), e_dpm = error(stork::dpmpp_2m{}, nfe),
                 e_stork =
                     error(stork::stork4{}, nfe < 16 ? nfe : nfe - 1);  // +1 Heun call from 15 intervals
    INFO("NFE " << nfe << ": euler " << e_euler << ", dpmpp_2m " << e_dpm << ", stork4 " << e_stork);
    REQUIRE(e_stork < e_dpm / 2);
    REQUIRE(e_stork < e_euler / 4);
  }
}

TEST_CASE("stork4: invalid parameters name the parameter and leave x alone", "[stork4][error]") {
  vec x{1.0};
  const vec grid = stork::flow_sigmas(6);
  REQUIRE_THROWS_WITH(stork::integrate(stork::stork4{.stages = 149}, golden_flow_toy, x, grid),
                      Catch::Contains("stages = 149"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::stork4{.stages = 0}, golden_flow_toy, x, grid),
                      Catch::Contains("stages = 0"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::stork4{.derivative_order = 4}, golden_flow_toy, x, grid),
                      Catch::Contains("derivative_order = 4"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::stork4{.derivative_order = 1}, golden_flow_toy, x, grid),
                      Catch::Contains("derivative_order = 1"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::stork4{.derivative_order = 3, .variant = variant::reference},
                                       golden_flow_toy, x, grid),
                      Catch::Contains("derivative_order = 3"));
  REQUIRE_THROWS_WITH(
      stork::integrate(stork::stork4{.variant = variant::reference}, golden_flow_toy, x, vec{1.0, 0.0}),
      Catch::Contains("times.size() = 2"));
  REQUIRE(x[0] == 1.0);
}

TEST_CASE("stork4 runs on a state without element access", "[stork4]") {
  const std::array<double, 2> init{0.5, -0.25};
  opaque_state y = make_opaque(init);
  auto f = [](const opaque_state& s, double, opaque_state& v) {
    stork::lincomb<opaque_state, 1>(v, {-1.0}, {&s});
  };
  stork::integrate(stork::stork4{}, f, y, uniform_grid(1.0, 0.0, 20));
  REQUIRE(opaque_read(y, 0) == Approx(0.5 * std::exp(1.0)).epsilon(1e-3));
}

TEST_CASE("stork temporaries are independent even when copies of a state share storage", "[stork4]") {
  // Regression: temporaries made as copies of one make_like result all aliased one buffer.
  auto f_vec = [](const vec& x, double s, vec& v) { v[0] = -x[0] + s * s; };
  auto f_h = [](const stork_test::shared_handle& x, double s, stork_test::shared_handle& v) {
    (*v.data)[0] = -(*x.data)[0] + s * s;
  };
  const vec grid = stork::flow_sigmas(12, {.shift = 3.0});
  for (int d : {2, 3}) {
    vec xv{1.0};
    stork_test::shared_handle xh{std::make_shared<std::vector<double>>(1, 1.0)};
    stork::integrate(stork::stork4{.derivative_order = d}, f_vec, xv, grid);
    stork::integrate(stork::stork4{.derivative_order = d}, f_h, xh, grid);
    REQUIRE((*xh.data)[0] == Approx(xv[0]).epsilon(1e-14));
  }
}
