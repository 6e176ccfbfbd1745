// Tests of <stork/methods/dpmpp.hpp>: DPM-Solver++(2M) and (3M) against their published updates, the
// exactness of the 3M weight, observed orders, the final steps, NFE, the two fronts, errors.
#include <stork/methods/dpmpp.hpp>
#include <stork/methods/ipndm.hpp>
#include <stork/methods/unipc.hpp>
#include <stork/schedule.hpp>
#include <stork/scheduler.hpp>
#include <stork/stork.hpp>

#include <catch2/catch.hpp>
#include <cmath>

#include "support/alloc_counter.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/multistep.hpp"
#include "support/opaque_state.hpp"
#include "support/problems.hpp"
#include "support/shared_handle.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace {

// Only an affine(t): no α, σ or data prediction.
struct affine_only {
  stork::affine_velocity affine(double) const { return {0.0, 1.0}; }
};
static_assert(stork::detail::DataPrediction<stork::flow_velocity>);
static_assert(stork::detail::DataPrediction<stork::model<stork::vp_linear>>);
static_assert(!stork::detail::DataPrediction<stork::vp_linear>);  // a process, not a parameterisation
static_assert(!stork::detail::DataPrediction<affine_only>);

// A 1-D two-component mixture: a nonlinear ε̂ for the one-step checks.
const gaussian_mixture two_bumps{1, {0.4, 0.6}, {{-1.0}, {1.5}}, {0.3, 0.7}};

double lambda_of(const stork::vp_linear& vp, double t) {
  return std::log(vp.alpha(t)) - std::log(vp.sigma(t));
}

// The data prediction as a quadratic in λ, D(λ) = a + bλ + cλ², and the flow field with that x̂₀:
// v = (x − D(λ(σ)))/σ, λ(σ) = log((1 − σ)/σ).
constexpr double qa = 0.3, qb = -0.7, qc = 0.45;
double quad_d(double l) { return qa + qb * l + qc * l * l; }
double flow_lambda(double s) { return std::log(1.0 - s) - std::log(s); }
void quad_field(const vec& x, double s, vec& v) { v[0] = (x[0] - quad_d(flow_lambda(s))) / s; }
// ∫ e^λ D(λ) dλ = e^λ (a + b(λ − 1) + c(λ² − 2λ + 2)) (integration by parts).
double quad_antiderivative(double l) {
  return std::exp(l) * (qa + qb * (l - 1.0) + qc * (l * l - 2.0 * l + 2.0));
}

}  // namespace

TEST_CASE("dpmpp: every step matches the published DDIM / 2M / 3M updates on a VP eps model",
          "[dpmpp][golden]") {
  const stork::vp_linear vp{};
  auto eps = [&](const vec& y, double t, vec& e) { two_bumps.epsilon(vp, y, t, e); };
  const vec grid{0.9, 0.72, 0.55, 0.41, 0.3, 0.2, 0.12};
  for (bool parity : {false, true}) {
    vec x{0.8}, e{0.0};
    auto sch = stork::make_scheduler(stork::dpmpp_3m{.lower_order_final = false, .diffusers_parity = parity},
                                     grid, x, vp);
    vec d;  // data predictions so far
    for (std::size_t n = 0; !sch.done(); ++n) {
      const double t = grid[n], s = grid[n + 1], xs = x[0];
      eps(x, t, e);
      d.push_back((xs - vp.sigma(t) * e[0]) / vp.alpha(t));
      sch.step(e, x);
      // The published formulas (DPM-Solver++ Alg. 2; diffusers' multistep_dpm_solver_*_update),
      // written in their own notation.
      const double al = vp.alpha(s), ratio = vp.sigma(s) / vp.sigma(t);
      const double h = lambda_of(vp, s) - lambda_of(vp, t);
      double want = ratio * xs - al * (std::exp(-h) - 1.0) * d[n];
      if (n == 1) {
        const double r0 = (lambda_of(vp, t) - lambda_of(vp, grid[n - 1])) / h;
        want -= 0.5 * al * (std::exp(-h) - 1.0) * (d[n] - d[n - 1]) / r0;
      } else if (n >= 2) {
        const double h0 = lambda_of(vp, t) - lambda_of(vp, grid[n - 1]);
        const double h1 = lambda_of(vp, grid[n - 1]) - lambda_of(vp, grid[n - 2]);
        const double r0 = h0 / h, r1 = h1 / h;
        const double d10 = (d[n] - d[n - 1]) / r0, d11 = (d[n - 1] - d[n - 2]) / r1;
        const double D1 = d10 + r0 / (r0 + r1) * (d10 - d11), D2 = (d10 - d11) / (r0 + r1);
        const double published = (std::exp(-h) - 1.0 + h) / (h * h) - 0.5;
        want += al * ((std::exp(-h) - 1.0) / h + 1.0) * D1 - (parity ? 1.0 : 2.0) * al * published * D2;
      }
      INFO("parity " << parity << ", step " << n);
      REQUIRE(x[0] == Approx(want).epsilon(1e-12));
    }
  }
}

TEST_CASE("dpmpp_3m: the default weight is exact for a data prediction quadratic in lambda, parity is not",
          "[dpmpp][exact]") {
  const vec grid{0.9, 0.75, 0.6, 0.45, 0.3};
  vec xe{0.2}, xp{0.2};
  const auto te = scheduler_trace(stork::dpmpp_3m{.lower_order_final = false}, quad_field, xe, grid);
  const auto tp = scheduler_trace(stork::dpmpp_3m{.lower_order_final = false, .diffusers_parity = true},
                                  quad_field, xp, grid);
  for (std::size_t n = 2; n + 1 < grid.size(); ++n) {  // the third-order steps: x_n → x_{n+1}
    const double s0 = grid[n], s1 = grid[n + 1];
    const double l0 = flow_lambda(s0), l1 = flow_lambda(s1), h = l1 - l0;
    // Exact solution of the data-prediction ODE: x_t = (σ_t/σ_s)x_s + σ_t ∫ e^λ D(λ) dλ.
    const double exact_increment = s1 * (quad_antiderivative(l1) - quad_antiderivative(l0));
    const double inc_exact = te[n][0] - s1 / s0 * te[n - 1][0];
    const double inc_parity = tp[n][0] - s1 / s0 * tp[n - 1][0];
    INFO("step " << n << ": exact increment " << exact_increment);
    REQUIRE(inc_exact == Approx(exact_increment).epsilon(1e-12));
    // The published weight misses half of the D2 term: α_t·ψ₃(h)·c with ψ₃ = h²/2 − h + 1 − e^{−h}.
    const double psi3 = 0.5 * h * h - h + 1.0 - std::exp(-h);
    REQUIRE(inc_parity - exact_increment == Approx(-(1.0 - s1) * psi3 * qc).epsilon(1e-9));
    REQUIRE(std::abs(inc_parity - exact_increment) > 1e-4);
  }
}

TEST_CASE("dpmpp weights: 3M integrates quadratics exactly on irregular lambda steps, 2M constants only",
          "[dpmpp][exact]") {
  const std::array<double, 3> lam{0.4, -0.35, -1.6};  // λ_s, λ_{s−1}, λ_{s−2}
  for (double lt : {0.45, 0.9, 2.5}) {
    const double exact = std::exp(-lt) * (quad_antiderivative(lt) - quad_antiderivative(lam[0]));
    const auto w3 = stork::detail::dpmpp_weights(3, lt, lam, false);
    REQUIRE(w3[0] * quad_d(lam[0]) + w3[1] * quad_d(lam[1]) + w3[2] * quad_d(lam[2]) ==
            Approx(exact).epsilon(1e-12));
    const auto w2 = stork::detail::dpmpp_weights(2, lt, lam, false);
    REQUIRE(w2[0] + w2[1] == Approx(1.0 - std::exp(-(lt - lam[0]))).epsilon(1e-14));  // constants: ψ₁
    REQUIRE(std::abs(w2[0] * quad_d(lam[0]) + w2[1] * quad_d(lam[1]) - exact) > 1e-5);
  }
}

TEST_CASE("dpmpp: observed orders on the cosine grid (flow and VP eps) and the cap of a uniform grid",
          "[dpmpp][order]") {
  const std::vector<std::size_t> n = {128, 256, 512, 1024}, big = {256, 512, 1024, 2048};
  const double f2 = flow_order(stork::dpmpp_2m{}, n), v2 = vp_order(stork::dpmpp_2m{}, n);
  const double f3 = flow_order(stork::dpmpp_3m{}, n), v3 = vp_order(stork::dpmpp_3m{}, n);
  const double fp = flow_order(stork::dpmpp_3m{.diffusers_parity = true}, big);
  const double vp = vp_order(stork::dpmpp_3m{.diffusers_parity = true}, big);
  const double f3u = flow_order(stork::dpmpp_3m{}, n, false);
  INFO("2M " << f2 << " / " << v2 << "; 3M " << f3 << " / " << v3 << "; 3M parity " << fp << " / " << vp
             << "; 3M uniform flow grid " << f3u);
  REQUIRE(f2 == Approx(2.0).margin(0.15));
  REQUIRE(v2 == Approx(2.0).margin(0.15));
  REQUIRE(f3 == Approx(3.0).margin(0.2));
  REQUIRE(v3 == Approx(3.0).margin(0.2));
  REQUIRE(fp == Approx(2.0).margin(0.25));
  REQUIRE(vp == Approx(2.0).margin(0.2));
  REQUIRE(f3u == Approx(2.0).margin(0.15));
}

TEST_CASE("dpmpp: lower_order_final makes the last step DDIM (3M: the one before 2M), off keeps the order",
          "[dpmpp][final]") {
  const stork::vp_linear vp{};
  auto eps = [&](const vec& y, double t, vec& e) { two_bumps.epsilon(vp, y, t, e); };
  const vec grid = cosine_grid(7, 0.9, 0.05);
  const std::size_t N = grid.size() - 1;
  auto check = [&](auto on, auto off, std::size_t same) {
    vec a{0.8}, b{0.8};
    const auto ta = scheduler_trace(on, eps, a, grid, vp), tb = scheduler_trace(off, eps, b, grid, vp);
    for (std::size_t k = 0; k < same; ++k) REQUIRE(ta[k] == tb[k]);
    REQUIRE(std::abs(ta[same][0] - tb[same][0]) > 1e-6);
    // On: the last step is DDIM from x_{N−1} with D_{N−1}.
    vec e{0.0};
    const double t = grid[N - 1], s = grid[N], x = ta[N - 2][0];
    eps(ta[N - 2], t, e);
    const double d = (x - vp.sigma(t) * e[0]) / vp.alpha(t);
    const double h = lambda_of(vp, s) - lambda_of(vp, t);
    REQUIRE(ta[N - 1][0] ==
            Approx(vp.sigma(s) / vp.sigma(t) * x + vp.alpha(s) * (1.0 - std::exp(-h)) * d).epsilon(1e-13));
  };
  check(stork::dpmpp_2m{}, stork::dpmpp_2m{.lower_order_final = false}, N - 1);
  check(stork::dpmpp_3m{}, stork::dpmpp_3m{.lower_order_final = false}, N - 2);
}

TEST_CASE("dpmpp: a flow grid ending at sigma = 0 ends with x = x0-hat of the last output",
          "[dpmpp][final]") {
  const gaussian_mixture g = three_blobs();
  auto f = [&g](const vec& y, double s, vec& v) { g.flow_velocity(y, s, v); };
  const vec grid = stork::flow_sigmas(9, stork::flow_schedule{.shift = 3.0});
  REQUIRE(grid.front() == 1.0);
  REQUIRE(grid.back() == 0.0);
  for (bool lof : {true, false}) {
    vec x = fixed_noise(8), v(8);
    const auto tr = scheduler_trace(stork::dpmpp_3m{.lower_order_final = lof}, f, x, grid);
    const vec& last = tr[tr.size() - 2];
    const double s = grid[grid.size() - 2];
    f(last, s, v);
    for (std::size_t i = 0; i < x.size(); ++i) {
      REQUIRE(std::isfinite(x[i]));
      REQUIRE(x[i] == Approx(last[i] - s * v[i]).epsilon(1e-15).margin(1e-15));
    }
  }
}

TEST_CASE("dpmpp: one model call per interval; integrate equals the scheduler loop bit for bit",
          "[dpmpp][nfe]") {
  const gaussian_mixture g = three_blobs();
  auto f = [&g](const vec& y, double s, vec& v) { g.flow_velocity(y, s, v); };
  const stork::vp_linear vp{};
  auto eps = [&](const vec& y, double t, vec& e) { g.epsilon(vp, y, t, e); };
  const vec flow_grid = stork::flow_sigmas(11), vp_grid = cosine_grid(9, 1.0, 1e-3);
  auto both = [&](auto method) {
    vec a = fixed_noise(6), b = a;
    const stork::stats r = stork::integrate(method, f, a, flow_grid);
    REQUIRE(r.nfe == 11);
    REQUIRE(r.steps == 11);
    scheduler_trace(method, f, b, flow_grid);
    REQUIRE(a == b);
    vec c = fixed_noise(6, 2), d = c;
    REQUIRE(stork::integrate(method, stork::vp_epsilon(eps, vp), c, vp_grid).nfe == 9);
    scheduler_trace(method, eps, d, vp_grid, vp);
    REQUIRE(c == d);
  };
  both(stork::dpmpp_2m{});
  both(stork::dpmpp_3m{});
  both(stork::dpmpp_3m{.lower_order_final = false, .diffusers_parity = true});
}

TEST_CASE("dpmpp: the scheduler loop makes no heap allocation; opaque states work", "[dpmpp][alloc]") {
  const vec grid = cosine_grid(20);
  auto model = [](const vec& y, double s, vec& out) {
    for (std::size_t i = 0; i < y.size(); ++i) out[i] = (y[i] - 0.5) / (1.0 + s);
  };
  vec x(1000, 1.0), v(1000);
  auto sch = stork::make_scheduler(stork::dpmpp_3m{}, grid, x);
  const std::size_t before = allocation_count();
  while (!sch.done()) {
    model(x, sch.time(), v);
    sch.step(v, x);
  }
  REQUIRE(allocation_count() - before == 0);

  using stork_test::opaque_state;
  auto f = [](const opaque_state& y, double, opaque_state& out) {
    stork::lincomb<opaque_state, 1>(out, {-1.0}, {&y});
  };
  auto fv = [](const vec& y, double, vec& out) { out[0] = -y[0], out[1] = -y[1]; };
  const vec init{0.7, -1.2};
  opaque_state xo = make_opaque(init);
  vec xv = init;
  stork::integrate(stork::dpmpp_3m{}, f, xo, grid);
  stork::integrate(stork::dpmpp_3m{}, fv, xv, grid);
  REQUIRE(opaque_read(xo, 0) == Approx(xv[0]).epsilon(1e-14));
  REQUIRE(opaque_read(xo, 1) == Approx(xv[1]).epsilon(1e-14));
}

TEST_CASE("dpmpp: invalid grids throw stork::error naming the value, x unchanged", "[dpmpp][error]") {
  auto f = [](const vec& y, double, vec& v) { v = y; };
  vec x{1.0};
  REQUIRE_THROWS_AS(stork::integrate(stork::dpmpp_2m{}, f, x, vec{1.2, 0.5, 0.0}), stork::error);
  REQUIRE_THROWS_WITH(stork::integrate(stork::dpmpp_2m{}, f, x, vec{1.2, 0.5, 0.0}),
                      Catch::Contains("times[0] = 1.2"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::dpmpp_3m{}, f, x, vec{0.0, 0.5, 1.0}),
                      Catch::Contains("times[1] = 0.5") && Catch::Contains("lambda"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::dpmpp_3m{}, f, x, vec{0.5}),
                      Catch::Contains("times.size() = 1"));
  auto eps = stork::vp_epsilon([](const vec& y, double, vec& e) { e = y; }, stork::vp_linear{});
  REQUIRE_THROWS_WITH(stork::integrate(stork::dpmpp_2m{}, eps, x, vec{0.9, 0.5, 0.0}),
                      Catch::Contains("times[2] = 0"));
  REQUIRE(x[0] == 1.0);
}

TEST_CASE("dpmpp and unipc history buffers are independent for shared-storage handles", "[dpmpp]") {
  auto f_vec = [](const std::vector<double>& x, double s, std::vector<double>& v) { v[0] = -x[0] + s * s; };
  auto f_h = [](const stork_test::shared_handle& x, double s, stork_test::shared_handle& v) {
    (*v.data)[0] = -(*x.data)[0] + s * s;
  };
  const std::vector<double> grid = stork::flow_sigmas(12, {.shift = 3.0});
  auto check = [&](const auto& m) {
    std::vector<double> xv{1.0};
    stork_test::shared_handle xh{std::make_shared<std::vector<double>>(1, 1.0)};
    stork::integrate(m, f_vec, xv, grid);
    stork::integrate(m, f_h, xh, grid);
    REQUIRE((*xh.data)[0] == Approx(xv[0]).epsilon(1e-14));
  };
  check(stork::dpmpp_3m{});
  check(stork::unipc{.order = 3});
  check(stork::ipndm{});
}
