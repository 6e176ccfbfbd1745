// Tests of <stork/adapters.hpp> and <stork/processes.hpp>: noise processes (derivatives, tables), every
// prediction type against the analytic Gaussian-mixture field (design.md §5), integration to the exact
// single-Gaussian map, singular points and errors.
#include <stork/adapters.hpp>
#include <stork/methods/euler.hpp>
#include <stork/methods/heun.hpp>
#include <stork/methods/rock4.hpp>
#include <stork/methods/stork4.hpp>
#include <stork/processes.hpp>
#include <stork/schedule.hpp>
#include <stork/scheduler.hpp>
#include <stork/vp.hpp>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;
using stork::prediction;
using quantity = gaussian_mixture::quantity;

#define REQUIRE_STORK_ERROR(expr, text)               \
  do {                                                \
    REQUIRE_THROWS_AS(expr, stork::error);            \
    REQUIRE_THROWS_WITH(expr, Catch::Contains(text)); \
  } while (false)

namespace {

constexpr std::array<prediction, 4> all_predictions{prediction::epsilon, prediction::sample, prediction::v,
                                                    prediction::velocity};
const char* name(prediction p) {
  switch (p) {
    case prediction::epsilon:
      return "epsilon";
    case prediction::sample:
      return "sample";
    case prediction::v:
      return "v";
    case prediction::velocity:
      return "velocity";
  }
  return "?";
}

/// The model output of type `p` at (x, t) for the mixture g under x = αx0 + σε, written from the analytic
/// posterior: ε̂ = E[ε|x], x̂0 = E[x0|x], v̂ = αε̂ − σx̂0, velocity = the probability-flow velocity (score form).
template <class Process>
void analytic_output(const gaussian_mixture& g, const Process& pr, prediction p, const vec& x, double t,
                     vec& out) {
  const double al = pr.alpha(t), sg = pr.sigma(t);
  switch (p) {
    case prediction::epsilon:
      return g.posterior_quantity(quantity::noise, al, sg, x, out);
    case prediction::sample:
      return g.posterior_quantity(quantity::mean, al, sg, x, out);
    case prediction::v: {
      vec e(x.size()), m(x.size());
      g.posterior_quantity(quantity::noise, al, sg, x, e);
      g.posterior_quantity(quantity::mean, al, sg, x, m);
      for (std::size_t i = 0; i < x.size(); ++i) out[i] = al * e[i] - sg * m[i];
      return;
    }
    case prediction::velocity:
      return g.probability_flow(al, sg, pr.dalpha(t), pr.dsigma(t), x, out);
  }
}

/// max_i |a_i − b_i| / max(1, |b_i|).
double rel_diff(const vec& a, const vec& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(a[i] - b[i]) / std::max(1.0, std::abs(b[i])));
  return m;
}

vec apply(const stork::affine_velocity& c, const vec& x, const vec& o) {
  vec r(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) r[i] = c.state * x[i] + c.output * o[i];
  return r;
}

/// Three points of the 2-D mixture (six numbers), spread like noise.
vec sample_points(unsigned seed) {
  vec x = fixed_noise(6, seed);
  for (double& v : x) v *= 1.3;
  return x;
}

const vec vp_times{0.02, 0.1, 0.35, 0.6, 0.9, 1.0};

}  // namespace

static_assert(stork::NoiseProcess<stork::vp_linear>);
static_assert(stork::NoiseProcess<stork::vp_scaled_linear>);
static_assert(stork::NoiseProcess<stork::vp_discrete>);
static_assert(stork::NoiseProcess<stork::rectified_flow>);
static_assert(!stork::NoiseProcess<int>);
static_assert(!stork::NoiseProcess<stork::flow_velocity>);
static_assert(stork::Parameterisation<stork::vp_model<stork::vp_discrete>>);
static_assert(stork::detail::denoising<stork::vp_model<stork::vp_scaled_linear>>);
static_assert(
    !stork::detail::reference_noise<stork::vp_model<stork::vp_linear>>);  // reference: vp_epsilon only
static_assert(stork::Parameterisation<stork::flow_model>);
static_assert(!stork::detail::denoising<stork::flow_model>);  // flow grids end at σ = 0: no denoise
namespace {
using eps_fn = void (*)(const vec&, double, vec&);
using flow_field_t = stork::flow_prediction_field<eps_fn>;
using vp_field_t = decltype(stork::vp_field(std::declval<eps_fn>(), stork::vp_scaled_linear{}));
}  // namespace
static_assert(stork::VelocityField<flow_field_t, vec>);
static_assert(!stork::detail::parameterised_field<flow_field_t>);  // a plain velocity field
static_assert(stork::VelocityField<vp_field_t, vec>);
static_assert(stork::detail::parameterised_field<vp_field_t>);  // STORK sees the raw output

TEST_CASE("adapters: dalpha and dsigma of every VP process match centred differences",
          "[adapters][process]") {
  const auto check = [](const auto& pr, const vec& taus) {
    const double h = 1e-6;
    for (double t : taus) {
      INFO("tau = " << t);
      const double fa = (pr.alpha(t + h) - pr.alpha(t - h)) / (2 * h);
      const double fs = (pr.sigma(t + h) - pr.sigma(t - h)) / (2 * h);
      REQUIRE(pr.dalpha(t) == Approx(fa).epsilon(1e-7));
      REQUIRE(pr.dsigma(t) == Approx(fs).epsilon(1e-7));
      REQUIRE(pr.alpha(t) * pr.alpha(t) + pr.sigma(t) * pr.sigma(t) == Approx(1.0).epsilon(1e-14));  // VP
    }
  };
  const vec taus{0.05, 0.2, 0.5, 0.8, 0.95};
  check(stork::vp_linear{}, taus);
  check(stork::vp_linear{.beta_min = 0.5, .beta_max = 5.0}, taus);
  check(stork::vp_scaled_linear{}, taus);
  check(stork::vp_scaled_linear{.beta_start = 1e-4, .beta_end = 0.03, .num_train_timesteps = 500}, taus);
  // Tables: differences inside a segment (the derivative jumps at the nodes τ_i = (i+1)/T).
  check(stork::vp_discrete::linear(1000, 1e-4, 0.02), {0.0505, 0.2005, 0.5005, 0.8005, 0.9505});
  check(stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012), {0.0505, 0.2005, 0.5005, 0.8005, 0.9505});
  check(stork::vp_discrete{{0.1, 0.2, 0.3, 0.4}}, {0.1, 0.3, 0.6, 0.9});
}

TEST_CASE("adapters: vp_scaled_linear log alpha is minus half the integral of beta", "[adapters][process]") {
  const stork::vp_scaled_linear sl{};
  // Endpoints of the rate: β(0) = Tβ_s, β(1) = Tβ_e.
  REQUIRE(sl.beta(0.0) == Approx(0.85).epsilon(1e-14));
  REQUIRE(sl.beta(1.0) == Approx(12.0).epsilon(1e-14));
  // Composite Simpson on 2000 panels (β is a quadratic: Simpson is exact up to round-off).
  for (double tau : {0.1, 0.5, 1.0}) {
    const int n = 2000;
    const double h = tau / n;
    double s = sl.beta(0.0) + sl.beta(tau);
    for (int i = 1; i < n; ++i) s += (i % 2 ? 4.0 : 2.0) * sl.beta(i * h);
    REQUIRE(sl.log_alpha(tau) == Approx(-0.5 * s * h / 3.0).epsilon(1e-12));
  }
  // β_s = β_e: a constant rate, log α = −½Tβτ.
  const stork::vp_scaled_linear flat{.beta_start = 0.01, .beta_end = 0.01, .num_train_timesteps = 100};
  REQUIRE(flat.log_alpha(0.7) == Approx(-0.35).epsilon(1e-14));
}

TEST_CASE("adapters: vp_discrete reproduces the cumulative products of its beta table",
          "[adapters][process]") {
  const stork::vp_discrete ddpm = stork::vp_discrete::linear(1000, 1e-4, 0.02);
  const stork::vp_discrete sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  REQUIRE(ddpm.betas().size() == 1000);
  REQUIRE(ddpm.betas().front() == 1e-4);
  REQUIRE(ddpm.betas()[500] == Approx(1e-4 + 500.0 / 999.0 * (0.02 - 1e-4)).epsilon(1e-15));
  REQUIRE(ddpm.betas().back() == Approx(0.02).epsilon(1e-15));
  REQUIRE(sd.betas().front() == Approx(0.00085).epsilon(1e-15));
  REQUIRE(
      std::sqrt(sd.betas()[300]) ==
      Approx(std::sqrt(0.00085) + 300.0 / 999.0 * (std::sqrt(0.012) - std::sqrt(0.00085))).epsilon(1e-15));
  REQUIRE(sd.betas().back() == Approx(0.012).epsilon(1e-15));

  // At the nodes α² = ᾱ_i = Π_{j≤i}(1 − β_j), here multiplied out directly.
  for (const stork::vp_discrete* d : {&ddpm, &sd}) {
    double abar = 1.0;
    for (std::size_t i = 0; i < 1000; ++i) {
      abar *= 1.0 - d->betas()[i];
      if (i % 111 == 0 || i == 999) {
        INFO("i = " << i);
        REQUIRE(d->alpha(d->time_of(i)) * d->alpha(d->time_of(i)) == Approx(abar).epsilon(1e-12));
        REQUIRE(d->alpha_bar(i) == Approx(abar).epsilon(1e-12));
      }
    }
  }
  // ᾱ_999 from an independent Python script (stdlib, double: the same product loop in Python):
  // DDPM linear 4.0358297653756754e-05; Stable Diffusion scaled_linear √ᾱ_999 = 0.06826491421716749.
  REQUIRE(ddpm.alpha_bar(999) == Approx(4.0358297653756754e-05).epsilon(1e-11));
  REQUIRE(sd.alpha(1.0) == Approx(0.06826491421716749).epsilon(1e-11));

  // log α is linear between nodes, continuous at them, and linear from (0, 0) below τ_0 = 1/T.
  const stork::vp_discrete small{{0.1, 0.2, 0.3, 0.4}};
  REQUIRE(small.log_alpha(0.125) == Approx(0.5 * 0.5 * std::log(0.9)).epsilon(1e-15));
  REQUIRE(small.log_alpha(0.5) == Approx(0.5 * std::log(0.9 * 0.8)).epsilon(1e-15));
  REQUIRE(small.log_alpha(0.625) ==
          Approx(0.5 * (0.5 * std::log(0.9 * 0.8) + 0.5 * std::log(0.9 * 0.8 * 0.7))).epsilon(1e-15));
  REQUIRE(small.log_alpha(0.5 - 1e-12) == Approx(small.log_alpha(0.5)).epsilon(1e-10));
  REQUIRE(small.log_alpha(0.5 + 1e-12) == Approx(small.log_alpha(0.5)).epsilon(1e-10));
  // At a node the slope of the segment below it: d log α/dτ = ½T·log(1 − β_1) at τ_1 = 0.5.
  REQUIRE(small.dalpha(0.5) / small.alpha(0.5) == Approx(2.0 * std::log(0.8)).epsilon(1e-14));
  REQUIRE(small.dalpha(0.5 + 1e-9) / small.alpha(0.5 + 1e-9) == Approx(2.0 * std::log(0.7)).epsilon(1e-14));
  // A node computed with round-off still counts as the node: 0.1 + 0.2 = 0.30000000000000004 is τ_2 of T
  // = 10.
  const stork::vp_discrete ten = stork::vp_discrete::linear(10, 0.02, 0.4);
  REQUIRE(ten.dalpha(0.1 + 0.2) / ten.alpha(0.1 + 0.2) ==
          Approx(5.0 * std::log1p(-ten.betas()[2])).epsilon(1e-14));
}

TEST_CASE("adapters: the DDPM table is close to vp_linear, Stable Diffusion's to vp_scaled_linear",
          "[adapters][process]") {
  const stork::vp_discrete ddpm = stork::vp_discrete::linear(1000, 1e-4, 0.02);
  const stork::vp_discrete sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  const stork::vp_linear lin{};  // β_min = Tβ_s = 0.1, β_max = Tβ_e = 20
  const stork::vp_scaled_linear sl{};
  double d_lin = 0, d_sl = 0;
  for (int i = 1; i <= 1000; ++i) {
    const double tau = i / 1000.0;
    d_lin = std::max(d_lin, std::abs(ddpm.alpha(tau) - lin.alpha(tau)));
    d_sl = std::max(d_sl, std::abs(sd.alpha(tau) - sl.alpha(tau)));
  }
  INFO("max |alpha difference|: DDPM vs vp_linear " << d_lin << ", SD vs vp_scaled_linear " << d_sl);
  REQUIRE(d_lin < 1e-3);
  REQUIRE(d_sl < 1e-3);
  REQUIRE(d_lin > 1e-6);  // they are different processes (the test can fail)
}

TEST_CASE("adapters: every VP adapter gives the analytic probability-flow drift and posterior mean",
          "[adapters][vp]") {
  const gaussian_mixture g = three_blobs();
  const auto check = [&g](const auto& pr, const char* process) {
    using process_t = std::decay_t<decltype(pr)>;
    for (prediction p : all_predictions) {
      const stork::vp_model<process_t> m{pr, p};
      auto f = stork::vp_field(
          [&g, &pr, p](const vec& y, double t, vec& out) { analytic_output(g, pr, p, y, t, out); }, pr, p);
      for (double t : vp_times) {
        for (unsigned seed : {1u, 2u, 3u}) {
          INFO(process << ", " << name(p) << ", tau = " << t << ", seed " << seed);
          const vec x = sample_points(seed);
          vec o(x.size()), truth(x.size()), mean(x.size()), v(x.size());
          analytic_output(g, pr, p, x, t, o);
          g.probability_flow(pr.alpha(t), pr.sigma(t), pr.dalpha(t), pr.dsigma(t), x, truth);
          g.posterior_quantity(quantity::mean, pr.alpha(t), pr.sigma(t), x, mean);
          REQUIRE(rel_diff(apply(m.affine(t), x, o), truth) < 1e-12);
          if (p == prediction::velocity) REQUIRE((m.affine(t).state == 0.0 && m.affine(t).output == 1.0));
          REQUIRE(rel_diff(apply(m.denoise(t), x, o), mean) < 1e-12);
          f(x, t, v);  // the field called directly computes the drift
          REQUIRE(rel_diff(v, truth) < 1e-12);
        }
      }
    }
  };
  check(stork::vp_linear{}, "vp_linear");
  check(stork::vp_scaled_linear{}, "vp_scaled_linear");
  check(stork::vp_discrete::linear(1000, 1e-4, 0.02), "vp_discrete::linear");
  check(stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012), "vp_discrete::scaled_linear");
  check(stork::vp_discrete{{0.1, 0.2, 0.3, 0.4}}, "vp_discrete{4 betas}");
}

TEST_CASE("adapters: epsilon under vp_linear reduces to vp_linear::affine and to vp_epsilon",
          "[adapters][vp]") {
  const stork::vp_linear lin{.beta_min = 0.1, .beta_max = 20.0};
  const stork::vp_model<stork::vp_linear> m{lin, prediction::epsilon};
  for (double t : vp_times) {
    INFO("tau = " << t);
    const stork::affine_velocity a = m.affine(t), b = lin.affine(t);
    REQUIRE(a.state == Approx(b.state).epsilon(1e-14));    // −β/2
    REQUIRE(a.output == Approx(b.output).epsilon(1e-14));  // β/(2σ)
    REQUIRE(m.denoise(t).state == lin.denoise(t).state);
    REQUIRE(m.denoise(t).output == lin.denoise(t).output);
  }
  const gaussian_mixture g = single_gaussian(1.0, 2.0);
  const auto eps = [&](const vec& y, double t, vec& e) { g.epsilon(lin, y, t, e); };
  const vec taus = uniform_grid(0.9, 0.1, 16);
  const auto run = [&](const auto& method) {
    vec a{0.4}, b{0.4};
    const stork::stats ra = stork::integrate(method, stork::vp_field(eps, lin, prediction::epsilon), a, taus);
    const stork::stats rb = stork::integrate(method, stork::vp_epsilon(eps, lin), b, taus);
    REQUIRE(ra.nfe == rb.nfe);
    REQUIRE(a[0] == Approx(b[0]).epsilon(1e-12));
  };
  run(stork::stork4{});
  run(stork::rock4{.stages = 5});
}

TEST_CASE("adapters: the engine-owned loop with vp_model is integrate with vp_field", "[adapters][vp]") {
  const gaussian_mixture g = three_blobs();
  const stork::vp_scaled_linear sl{};
  const auto model = [&](const vec& y, double t, vec& out) {
    analytic_output(g, sl, prediction::v, y, t, out);
  };
  const vec taus = stork::vp_taus(12);
  vec a = sample_points(4), b = a, out(a.size());
  const stork::stats r =
      stork::integrate(stork::stork4{}, stork::vp_field(model, sl, prediction::v), a, taus);
  auto sch = stork::make_scheduler(stork::stork4{}, taus, b,
                                   stork::vp_model<stork::vp_scaled_linear>{sl, prediction::v});
  while (!sch.done()) {
    model(b, sch.time(), out);
    sch.step(out, b);
  }
  REQUIRE(a == b);
  REQUIRE(sch.nfe() == r.nfe);
}

TEST_CASE("adapters: every flow adapter gives the rectified-flow velocity of design.md §5",
          "[adapters][flow]") {
  const gaussian_mixture g = three_blobs();
  const stork::rectified_flow rf{};
  for (double sigma : {0.02, 0.3, 0.6, 0.9, 0.98}) {
    for (unsigned seed : {1u, 2u, 3u}) {
      const vec x = sample_points(seed);
      vec truth(x.size()), score_form(x.size());
      g.flow_velocity(x, sigma, truth);  // the closed form of design.md §5
      // The score-form probability flow used for the VP tests agrees with it (α = 1 − σ, σ).
      g.probability_flow(rf.alpha(sigma), rf.sigma(sigma), rf.dalpha(sigma), rf.dsigma(sigma), x, score_form);
      REQUIRE(rel_diff(score_form, truth) < 1e-12);
      for (prediction p : all_predictions) {
        INFO(name(p) << ", sigma = " << sigma << ", seed " << seed);
        vec o(x.size()), v(x.size());
        auto f = stork::flow_field(
            [&g, &rf, p](const vec& y, double s, vec& out) { analytic_output(g, rf, p, y, s, out); }, p);
        f(x, sigma, v);
        REQUIRE(rel_diff(v, truth) < 1e-12);
        analytic_output(g, rf, p, x, sigma, o);
        REQUIRE(rel_diff(apply(stork::flow_model{p}.affine(sigma), x, o), truth) < 1e-12);
        REQUIRE(f.flow().prediction == p);
      }
    }
  }
  // prediction::velocity passes the model output through untouched.
  const vec x{0.3, -0.7};
  vec v(2);
  stork::flow_field([](const vec&, double, vec& out) { out = {0.1, 0.2}; })(x, 0.5, v);
  REQUIRE(v == vec{0.1, 0.2});
}

namespace {

/// |error| at the end of integrating the single Gaussian N(μ, s²) from x0 at times.front() through the
/// adapter of `p` under `pr`: against the exact flow map, or (STORK on a VP field, which ends with a
/// denoise) against the exact posterior mean at the exact end point.
template <class Method, class Process>
double vp_end_error(const Method& m, const Process& pr, prediction p, const vec& taus) {
  const double mu = 1.0, s = 0.5, x0 = 0.4;
  const gaussian_mixture g = single_gaussian(mu, s);
  auto f =
      stork::vp_field([&](const vec& y, double t, vec& out) { analytic_output(g, pr, p, y, t, out); }, pr, p);
  vec x{x0};
  stork::integrate(m, f, x, taus);
  const double t1 = taus.back(), xe = gaussian_process_map(pr, mu, s, x0, taus.front(), t1);
  if constexpr (requires { Method::family; }) {
    const double al = pr.alpha(t1), var = al * al * s * s + pr.sigma(t1) * pr.sigma(t1);
    return std::abs(x[0] - (mu + al * s * s / var * (xe - al * mu)));  // E[x0 | x(t1)]
  } else {
    return std::abs(x[0] - xe);
  }
}

template <class Method>
double flow_end_error(const Method& m, prediction p, const vec& sigmas) {
  const double mu = 1.0, s = 0.5, x0 = 0.4;
  const gaussian_mixture g = single_gaussian(mu, s);
  auto f = stork::flow_field(
      [&](const vec& y, double t, vec& out) { analytic_output(g, stork::rectified_flow{}, p, y, t, out); },
      p);
  vec x{x0};
  stork::integrate(m, f, x, sigmas);
  return std::abs(x[0] - gaussian_flow_map(mu, s, x0, sigmas.front(), sigmas.back()));
}

}  // namespace

TEST_CASE("adapters: stork4 and rock4 through every adapter reach the exact single-Gaussian map",
          "[adapters][integrate]") {
  // Errors measured (single Gaussian N(1, 0.5²), x = 0.4 at τ = 0.9 → 0.1; σ = 0.95 → 0 for the flow):
  // stork4 40 steps ≤ 6.5e-5 (order ≈ 2–3 between 20 and 40 steps), rock4 16 steps ≤ 1.9e-7.
  const auto check = [](const auto& pr, const char* process, double tol_stork, double tol_rock) {
    for (prediction p : all_predictions) {
      INFO(process << ", " << name(p));
      const double e_s20 = vp_end_error(stork::stork4{}, pr, p, uniform_grid(0.9, 0.1, 20));
      const double e_s40 = vp_end_error(stork::stork4{}, pr, p, uniform_grid(0.9, 0.1, 40));
      const double e_r = vp_end_error(stork::rock4{.stages = 5}, pr, p, uniform_grid(0.9, 0.1, 16));
      INFO("stork4 20/40 steps " << e_s20 << " " << e_s40 << ", rock4 16 steps " << e_r);
      REQUIRE(e_s40 < tol_stork);
      REQUIRE(e_r < tol_rock);
      if (tol_stork < 1e-3) REQUIRE(e_s40 < e_s20 / 3);  // converging at order > 1.5
    }
  };
  check(stork::vp_linear{}, "vp_linear", 1e-4, 1e-6);
  check(stork::vp_scaled_linear{}, "vp_scaled_linear", 1e-4, 1e-6);
  // Tables with T = 1000: d log α/dτ is a staircase (it jumps at every node τ_i = (i+1)/T), so the drift
  // jumps 800 times on this grid and the error stalls (measured: stork4 40 steps 7e-5 for ε, 6e-4 for
  // prediction::velocity, whose output is the jumping drift itself; rock4 16 steps 2.2e-5).
  check(stork::vp_discrete::linear(1000, 1e-4, 0.02), "vp_discrete::linear", 2e-3, 1e-4);
  check(stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012), "vp_discrete::scaled_linear", 2e-3, 1e-4);
  // A short table on a grid that contains every node: the drift is smooth inside each step and rock4 is
  // accurate again (measured 1.1e-10). STORK is not: it extrapolates outputs from past steps across the
  // kinks (for prediction::velocity, across the jumps of the drift itself).
  for (prediction p : all_predictions) {
    INFO("vp_discrete::linear(10), grid through the nodes, " << name(p));
    REQUIRE(vp_end_error(stork::rock4{.stages = 5}, stork::vp_discrete::linear(10, 0.02, 0.4), p,
                         uniform_grid(0.9, 0.1, 16)) < 1e-8);
  }

  for (prediction p : all_predictions) {
    INFO("rectified flow, " << name(p));
    const double e_s20 = flow_end_error(stork::stork4{}, p, uniform_grid(0.95, 0.0, 20));
    const double e_s40 = flow_end_error(stork::stork4{}, p, uniform_grid(0.95, 0.0, 40));
    const double e_r = flow_end_error(stork::rock4{.stages = 5}, p, uniform_grid(0.95, 0.0, 10));
    INFO("stork4 20/40 steps " << e_s20 << " " << e_s40 << ", rock4 10 steps " << e_r);
    REQUIRE(e_s40 < 5e-5);
    REQUIRE(e_s40 < e_s20 / 3);
    REQUIRE(e_r < 1e-6);
  }
}

TEST_CASE("adapters: the scheduler's NaN/Inf check reports a flow adapter's singular point",
          "[adapters][flow]") {
  const gaussian_mixture g = single_gaussian(1.0, 0.5);
  const stork::rectified_flow rf{};
  auto eps = stork::flow_field(
      [&](const vec& y, double t, vec& o) { analytic_output(g, rf, prediction::epsilon, y, t, o); },
      prediction::epsilon);
  auto x0hat = stork::flow_field(
      [&](const vec& y, double t, vec& o) { analytic_output(g, rf, prediction::sample, y, t, o); },
      prediction::sample);
  vec x{0.4};
  // ε at σ = 1 (x = ε says nothing about x0): the first evaluation of a grid that starts at 1.
  REQUIRE_STORK_ERROR(stork::integrate(stork::euler{}, eps, x, vec{1.0, 0.5, 0.0}),
                      "t = 1 contains NaN or Inf");
  // x̂0 at σ = 0: heun evaluates at the end of the last interval.
  REQUIRE_STORK_ERROR(stork::integrate(stork::heun{}, x0hat, x, vec{0.5, 0.0}), "t = 0 contains NaN or Inf");
  REQUIRE(x == vec{0.4});
  // With the check off nothing stops the non-finite value: it is the check that reports it.
  stork::integrate(stork::euler{}, eps, x, vec{1.0, 0.5, 0.0}, stork::sampler_options{.check_finite = false});
  REQUIRE_FALSE(std::isfinite(x[0]));
  // Methods that never evaluate at σ = 0 run x̂0 models to the end of a flow grid.
  vec y{0.4};
  stork::integrate(stork::stork4{}, x0hat, y, stork::flow_sigmas(20));
  REQUIRE(std::isfinite(y[0]));
}

TEST_CASE("adapters: invalid processes, tables, grids and predictions throw stork::error",
          "[adapters][errors]") {
  const auto model = [](const vec& y, double, vec& o) { o = y; };
  using stork::vp_discrete;
  using stork::vp_scaled_linear;
  REQUIRE_STORK_ERROR(stork::vp_field(model, vp_scaled_linear{.beta_start = -1.0}),
                      "vp_scaled_linear: beta_start = -1");
  REQUIRE_STORK_ERROR(stork::vp_field(model, vp_scaled_linear{.beta_start = NAN}), "beta_start = nan");
  REQUIRE_STORK_ERROR(stork::vp_field(model, vp_scaled_linear{.beta_end = 1e-4}), "beta_end = 0.0001");
  REQUIRE_STORK_ERROR(stork::vp_field(model, vp_scaled_linear{.beta_end = 1.0}), "beta_end = 1");
  REQUIRE_STORK_ERROR(stork::vp_field(model, vp_scaled_linear{.num_train_timesteps = 0}),
                      "num_train_timesteps = 0");
  REQUIRE_STORK_ERROR(stork::vp_field(model, stork::vp_linear{.beta_min = -0.1}),
                      "vp_linear: beta_min = -0.1");

  REQUIRE_STORK_ERROR(vp_discrete(vec{0.1, 1.0}), "vp_discrete: betas[1] = 1");
  REQUIRE_STORK_ERROR(vp_discrete(vec{0.0, 0.1}), "betas[0] = 0");
  REQUIRE_STORK_ERROR(vp_discrete(vec{0.1, NAN}), "betas[1] = nan");
  REQUIRE_STORK_ERROR(vp_discrete(vec{-0.2}), "betas[0] = -0.2");
  REQUIRE_STORK_ERROR(stork::vp_field(model, vp_discrete{}), "vp_discrete: betas.size() = 0");
  REQUIRE_STORK_ERROR(vp_discrete::linear(0, 1e-4, 0.02), "vp_discrete::linear: num_train_timesteps = 0");
  REQUIRE_STORK_ERROR(vp_discrete::linear(1000, 0.0, 0.02), "vp_discrete::linear: beta_start = 0");
  REQUIRE_STORK_ERROR(vp_discrete::scaled_linear(1000, 1e-4, 1.5),
                      "vp_discrete::scaled_linear: beta_end = 1.5");
  REQUIRE_STORK_ERROR(vp_discrete::scaled_linear(1000, 1e-4, INFINITY), "beta_end = inf");
  REQUIRE(vp_discrete::linear(1, 0.01, 0.02).betas() == vec{0.01});  // T = 1: torch.linspace gives [start]

  // Grid times outside the process's domain, checked before anything runs; x unchanged.
  vec x{0.3};
  REQUIRE_STORK_ERROR(
      stork::integrate(stork::stork4{}, stork::vp_field(model, vp_scaled_linear{}), x, vec{1.5, 0.5}),
      "vp_scaled_linear: times[0] = 1.5");
  REQUIRE_STORK_ERROR(
      stork::integrate(stork::rock4{}, stork::vp_field(model, vp_discrete::linear(10, 1e-3, 0.2)), x,
                       vec{0.5, 0.0}),
      "vp_discrete: times[1] = 0");
  REQUIRE_STORK_ERROR(
      stork::integrate(stork::euler{}, stork::vp_field(model, stork::vp_linear{}, prediction::v), x,
                       vec{0.5, -0.1}),
      "vp_linear: times[1] = -0.1");
  REQUIRE_STORK_ERROR(stork::make_scheduler(stork::euler{}, vec{1.2, 0.0}, x, stork::flow_model{}),
                      "rectified_flow: times[0] = 1.2");
  REQUIRE(x == vec{0.3});

  // Unknown prediction values.
  const auto bad = static_cast<prediction>(7);
  REQUIRE_STORK_ERROR(stork::vp_field(model, stork::vp_linear{}, bad), "vp_model: prediction = 7");
  REQUIRE_STORK_ERROR(stork::flow_field(model, bad), "flow_field: prediction = 7");
  REQUIRE_STORK_ERROR(stork::make_scheduler(stork::stork4{}, vec{0.9, 0.5, 0.1}, x,
                                            stork::vp_model<stork::vp_linear>{{}, bad}),
                      "vp_model: prediction = 7");
  REQUIRE_STORK_ERROR(stork::make_scheduler(stork::heun{}, vec{0.9, 0.0}, x, stork::flow_model{bad}),
                      "flow_model: prediction = 7");

  // The reference variant handles vp_linear ε models through vp_epsilon only.
  REQUIRE_STORK_ERROR(stork::integrate(stork::stork4{.variant = stork::variant::reference},
                                       stork::vp_field(model, stork::vp_linear{}), x, vec{0.9, 0.5, 0.1}),
                      "variant = reference is invalid with this parameterisation");
  REQUIRE(x == vec{0.3});
}
