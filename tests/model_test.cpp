// Tests of include/stork/model/: the noise processes (derivatives, tables, the σ ↔ timestep conversion),
// `stork::model<Process>` for every process × prediction type against the analytic Gaussian-mixture
// outputs (docs/test-problems.md), `stork::field`, integration to the exact single-Gaussian map, the
// σ = 0 end of VE and flow grids, and errors.
#include <stork/stork.hpp>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <tuple>
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

vec apply(const stork::affine_velocity& c, const vec& x, const vec& o) {
  vec r(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) r[i] = c.state * x[i] + c.output * o[i];
  return r;
}

/// Three points of the 2-D mixture (six numbers), spread like noise.
vec sample_points(unsigned seed, double scale = 1.3) {
  vec x = fixed_noise(6, seed);
  for (double& v : x) v *= scale;
  return x;
}

/// Every process with times inside its domain (away from singular ends).
auto all_processes() {
  return std::make_tuple(
      std::make_tuple("rectified_flow", stork::rectified_flow{}, vec{0.02, 0.3, 0.6, 0.9, 0.98}),
      std::make_tuple("ve", stork::ve{}, vec{0.01, 0.3, 1.0, 5.0, 80.0}),
      std::make_tuple("vp_linear", stork::vp_linear{}, vec{0.02, 0.1, 0.35, 0.6, 0.9, 1.0}),
      std::make_tuple("vp_scaled_linear", stork::vp_scaled_linear{}, vec{0.02, 0.1, 0.35, 0.6, 0.9, 1.0}),
      std::make_tuple("vp_discrete::scaled_linear", stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012),
                      vec{0.02, 0.1, 0.35, 0.6, 0.9, 1.0}),
      std::make_tuple("vp_discrete{4 betas}", stork::vp_discrete{{0.1, 0.2, 0.3, 0.4}},
                      vec{0.1, 0.3, 0.6, 0.9}));
}

template <class F>
void for_each_process(F&& f) {
  std::apply([&f](const auto&... p) { (std::apply(f, p), ...); }, all_processes());
}

}  // namespace

static_assert(stork::NoiseProcess<stork::vp_linear>);
static_assert(stork::NoiseProcess<stork::vp_scaled_linear>);
static_assert(stork::NoiseProcess<stork::vp_discrete>);
static_assert(stork::NoiseProcess<stork::rectified_flow>);
static_assert(stork::NoiseProcess<stork::ve>);
static_assert(!stork::NoiseProcess<int>);
static_assert(!stork::Parameterisation<stork::vp_linear>);  // a process: make_scheduler wraps it in model<>
static_assert(stork::Parameterisation<stork::model<stork::ve>>);
static_assert(stork::Parameterisation<stork::flow_velocity>);
static_assert(std::is_same_v<stork::vp_model<stork::vp_discrete>, stork::model<stork::vp_discrete>>);
static_assert(std::is_same_v<stork::flow_model, stork::model<stork::rectified_flow>>);
static_assert(stork::model<stork::ve>{}.prediction == prediction::sample);          // a denoiser
static_assert(stork::model<stork::vp_linear>{}.prediction == prediction::epsilon);  // the ε path
static_assert(stork::model<stork::rectified_flow>{}.prediction == prediction::velocity);
static_assert(stork::detail::ends_with_denoise_v<stork::model<stork::vp_scaled_linear>>);
static_assert(!stork::detail::ends_with_denoise_v<stork::model<stork::ve>>);  // VE/flow grids reach σ = 0
static_assert(!stork::detail::ends_with_denoise_v<stork::flow_velocity>);
namespace {
using fn = void (*)(const vec&, double, vec&);
using ve_field_t = decltype(stork::field(std::declval<fn>(), stork::ve{}, prediction::sample));
}  // namespace
static_assert(stork::VelocityField<ve_field_t, vec>);
static_assert(stork::detail::parameterised_field<ve_field_t>);  // integrate hands the raw output over
static_assert(!stork::detail::parameterised_field<fn>);

TEST_CASE("model: dalpha and dsigma of every process match centred differences", "[model][process]") {
  for_each_process([](const char* process, const auto& pr, const vec& times) {
    const double h = 1e-6;
    for (double t : times) {
      const double u = std::min(t, 1.0 - 2 * h);  // inside the domain on both sides
      INFO(process << ", t = " << u);
      const double fa = (pr.alpha(u + h) - pr.alpha(u - h)) / (2 * h);
      const double fs = (pr.sigma(u + h) - pr.sigma(u - h)) / (2 * h);
      REQUIRE(pr.dalpha(u) == Approx(fa).epsilon(1e-7).margin(1e-9));
      REQUIRE(pr.dsigma(u) == Approx(fs).epsilon(1e-7).margin(1e-9));
    }
  });
  // VP: α² + σ² = 1; VE: α = 1, σ = t.
  for (double t : {0.05, 0.5, 1.0}) {
    const stork::vp_discrete sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
    REQUIRE(sd.alpha(t) * sd.alpha(t) + sd.sigma(t) * sd.sigma(t) == Approx(1.0).epsilon(1e-14));
  }
  REQUIRE(stork::ve::alpha(3.0) == 1.0);
  REQUIRE(stork::ve::sigma(3.0) == 3.0);
}

TEST_CASE("model: vp_scaled_linear log alpha is minus half the integral of beta", "[model][process]") {
  const stork::vp_scaled_linear sl{};
  REQUIRE(sl.beta(0.0) == Approx(0.85).epsilon(1e-14));  // β(0) = Tβ_s, β(1) = Tβ_e
  REQUIRE(sl.beta(1.0) == Approx(12.0).epsilon(1e-14));
  for (double tau : {0.1, 0.5, 1.0}) {  // composite Simpson (β is a quadratic: exact up to round-off)
    const int n = 2000;
    const double h = tau / n;
    double s = sl.beta(0.0) + sl.beta(tau);
    for (int i = 1; i < n; ++i) s += (i % 2 ? 4.0 : 2.0) * sl.beta(i * h);
    REQUIRE(sl.log_alpha(tau) == Approx(-0.5 * s * h / 3.0).epsilon(1e-12));
  }
  const stork::vp_scaled_linear flat{.beta_start = 0.01, .beta_end = 0.01, .num_train_timesteps = 100};
  REQUIRE(flat.log_alpha(0.7) == Approx(-0.35).epsilon(1e-14));  // a constant rate: log α = −½Tβτ
}

TEST_CASE("model: vp_discrete reproduces the cumulative products of its beta table", "[model][process]") {
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
}

TEST_CASE("model: vp_discrete interpolates log alpha with a C1 cubic through the nodes", "[model][process]") {
  const stork::vp_discrete small{{0.1, 0.2, 0.3, 0.4}};  // nodes at τ = 0, 1/4, 1/2, 3/4, 1
  const vec g{0.0, 0.5 * std::log(0.9), 0.5 * std::log(0.9 * 0.8), 0.5 * std::log(0.9 * 0.8 * 0.7),
              0.5 * std::log(0.9 * 0.8 * 0.7 * 0.6)};
  auto slope = [&](double t) { return small.dalpha(t) / small.alpha(t); };  // g′ = d log α/dτ
  for (std::size_t j = 0; j < g.size(); ++j)
    REQUIRE(small.log_alpha(0.25 * double(j)) == Approx(g[j]).margin(1e-15));
  // Interior node slopes: the mean of the two neighbouring secant slopes 4·(g_j − g_{j−1}); ends: (3m₁ −
  // m₂)/2.
  for (std::size_t j = 1; j < 4; ++j)
    REQUIRE(slope(0.25 * double(j)) == Approx(2.0 * (g[j + 1] - g[j - 1])).epsilon(1e-13));
  REQUIRE(slope(1e-300) == Approx(1.5 * 4 * (g[1] - g[0]) - 0.5 * 4 * (g[2] - g[1])).epsilon(1e-13));
  REQUIRE(slope(1.0) == Approx(1.5 * 4 * (g[4] - g[3]) - 0.5 * 4 * (g[3] - g[2])).epsilon(1e-13));
  // C¹: value and slope continuous across every node (the old piecewise-linear interpolant jumped here).
  for (double node : {0.25, 0.5, 0.75}) {
    INFO("node " << node);
    const double e = 1e-10;
    REQUIRE(small.log_alpha(node - e) == Approx(small.log_alpha(node + e)).margin(1e-9));
    REQUIRE(slope(node - e) == Approx(slope(node + e)).epsilon(1e-8));
  }
  // Accuracy: a table sampled from a smooth, non-polynomial log α (a cosine schedule, g = log cos(0.45πτ);
  // the cubic reproduces polynomials up to degree 2 exactly) is interpolated with a third-order error
  // between the nodes, and the slope g′ = −0.45π·tan(0.45πτ) with a second-order error.
  const double w = 0.45 * 3.141592653589793;
  auto g_true = [w](double t) { return std::log(std::cos(w * t)); };
  auto table_of = [&](int n) {
    vec b(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      b[std::size_t(i)] = 1.0 - std::exp(2.0 * (g_true((i + 1.0) / n) - g_true(double(i) / n)));
    return stork::vp_discrete(b);
  };
  auto max_errors = [&](int n) {
    const stork::vp_discrete d = table_of(n);
    double eg = 0, eslope = 0;
    for (int k = 0; k < 4000; ++k) {
      const double t = (k + 0.37) / 4000.0;
      eg = std::max(eg, std::abs(d.log_alpha(t) - g_true(t)));
      eslope = std::max(eslope, std::abs(d.dalpha(t) / d.alpha(t) + w * std::tan(w * t)));
    }
    return std::pair{eg, eslope};
  };
  const auto [g50, s50] = max_errors(50);
  const auto [g100, s100] = max_errors(100);
  INFO("log-alpha error " << g50 << " -> " << g100 << ", slope error " << s50 << " -> " << s100);
  REQUIRE(std::log2(g50 / g100) > 2.7);
  REQUIRE(std::log2(s50 / s100) > 1.6);  // measured 1.79 (tan grows fast near τ = 1)
}

TEST_CASE("model: the DDPM table is close to vp_linear, Stable Diffusion's to vp_scaled_linear",
          "[model][process]") {
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

TEST_CASE("model: vp_discrete converts between VE sigma and fractional timesteps like k-diffusion",
          "[model][process][ve]") {
  const stork::vp_discrete sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  // σ_i = √((1 − ᾱ_i)/ᾱ_i) with ᾱ multiplied out here. The ends are Stable Diffusion's published σ range
  // (k-diffusion / ComfyUI / stable-diffusion.cpp use sigma_min 0.0292, sigma_max 14.6146).
  double abar = 1.0;
  for (std::size_t i = 0; i < 1000; ++i) {
    abar *= 1.0 - sd.betas()[i];
    if (i % 97 == 0 || i == 999)
      REQUIRE(sd.ve_sigma(i) == Approx(std::sqrt((1 - abar) / abar)).epsilon(1e-12));
  }
  REQUIRE(sd.ve_sigma(0) == Approx(0.0292).epsilon(2e-3));
  REQUIRE(sd.ve_sigma(999) == Approx(14.6146).epsilon(1e-5));
  // Integer timesteps map to their σ and back; between them log σ is linear in the timestep.
  for (std::size_t i : {0u, 1u, 250u, 998u, 999u}) {
    REQUIRE(sd.sigma_of_timestep(double(i)) == sd.ve_sigma(i));
    REQUIRE(sd.timestep_of_sigma(sd.ve_sigma(i)) == Approx(double(i)).margin(1e-9));
  }
  for (std::size_t i : {0u, 17u, 500u, 998u}) {
    const double mid = std::sqrt(sd.ve_sigma(i) * sd.ve_sigma(i + 1));  // the log-midpoint
    REQUIRE(sd.timestep_of_sigma(mid) == Approx(double(i) + 0.5).epsilon(1e-12));
    REQUIRE(sd.sigma_of_timestep(double(i) + 0.25) ==
            Approx(std::exp(0.75 * std::log(sd.ve_sigma(i)) + 0.25 * std::log(sd.ve_sigma(i + 1))))
                .epsilon(1e-14));
  }
  for (double s : {0.03, 0.5, 1.0, 7.3, 14.0})
    REQUIRE(sd.sigma_of_timestep(sd.timestep_of_sigma(s)) == Approx(s).epsilon(1e-13));
  // The VE σ of the continuous process at a node τ_i = (i+1)/T is the table's σ_i.
  REQUIRE(sd.sigma(sd.time_of(400)) / sd.alpha(sd.time_of(400)) == Approx(sd.ve_sigma(400)).epsilon(1e-12));
  // Outside the table: an error (k-diffusion clamps silently); within 1e-9 of an end: that end.
  REQUIRE(sd.timestep_of_sigma(sd.ve_sigma(999) * (1 + 1e-12)) == 999.0);
  REQUIRE_STORK_ERROR(sd.timestep_of_sigma(20.0), "sigma = 20");
  REQUIRE_STORK_ERROR(sd.timestep_of_sigma(0.01), "sigma = 0.01");
  REQUIRE_STORK_ERROR(sd.timestep_of_sigma(NAN), "sigma = nan");
  REQUIRE_STORK_ERROR(sd.sigma_of_timestep(999.5), "t = 999.5");
  REQUIRE_STORK_ERROR(sd.sigma_of_timestep(-1.0), "t = -1");
  REQUIRE_STORK_ERROR(stork::vp_discrete{}.timestep_of_sigma(1.0), "betas.size() = 0");
}

TEST_CASE("model: every process and prediction gives the analytic velocity and posterior mean",
          "[model][predictions]") {
  const gaussian_mixture g = three_blobs();
  for_each_process([&g](const char* process, const auto& pr, const vec& times) {
    for (prediction p : all_predictions) {
      const auto m = stork::model<std::decay_t<decltype(pr)>>{pr, p};
      auto f = stork::field(
          [&g, &pr, p](const vec& y, double t, vec& out) { g.model_output(pr, p, y, t, out); }, pr, p);
      REQUIRE(m.output_is_velocity() == (p == prediction::velocity));
      for (double t : times) {
        for (unsigned seed : {1u, 2u, 3u}) {
          INFO(process << ", " << name(p) << ", t = " << t << ", seed " << seed);
          const vec x = sample_points(seed, std::max(1.3, pr.sigma(t)));
          vec o(x.size()), truth(x.size()), mean(x.size()), v(x.size());
          g.model_output(pr, p, x, t, o);
          g.probability_flow(pr.alpha(t), pr.sigma(t), pr.dalpha(t), pr.dsigma(t), x, truth);
          g.posterior_quantity(quantity::mean, pr.alpha(t), pr.sigma(t), x, mean);
          REQUIRE(rel_diff(apply(m.affine(t), x, o), truth) < 1e-11);
          REQUIRE(rel_diff(apply(m.denoise(t), x, o), mean) < 1e-11);
          f(x, t, v);  // the field called directly computes the velocity
          REQUIRE(rel_diff(v, truth) < 1e-11);
          REQUIRE(m.callable_at(t));
        }
      }
    }
  });
  // The rectified-flow probability flow (score form) is the closed-form velocity of docs/test-problems.md.
  for (double sigma : {0.02, 0.5, 0.98}) {
    const vec x = sample_points(7);
    vec a(x.size()), b(x.size());
    g.flow_velocity(x, sigma, a);
    g.probability_flow(1 - sigma, sigma, -1.0, 1.0, x, b);
    REQUIRE(rel_diff(a, b) < 1e-12);
  }
  // The usual forms: VP ε drift −½β·x + β/(2σ)·ε̂; VE denoiser (x − D)/σ; the same v model in VP and VE.
  const stork::vp_linear lin{};
  const auto eps = stork::model<stork::vp_linear>{}.affine(0.4);
  REQUIRE(eps.state == Approx(-0.5 * lin.beta(0.4)).epsilon(1e-14));
  REQUIRE(eps.output == Approx(0.5 * lin.beta(0.4) / lin.sigma(0.4)).epsilon(1e-14));
  const auto den = stork::model<stork::ve>{}.affine(2.0);
  REQUIRE((den.state == 0.5 && den.output == -0.5));
  REQUIRE((stork::model<stork::ve>{.prediction = prediction::epsilon}.affine(2.0).state == 0.0));
  // At σ = 0 only a velocity model may be called.
  REQUIRE_FALSE(stork::model<stork::ve>{}.callable_at(0.0));
  REQUIRE_FALSE(stork::flow_model{.prediction = prediction::v}.callable_at(0.0));
  REQUIRE(stork::flow_model{}.callable_at(0.0));
}

TEST_CASE("model: the engine-owned loop with model<P> is integrate with field()", "[model]") {
  const gaussian_mixture g = three_blobs();
  const stork::vp_scaled_linear sl{};
  const auto out_fn = [&](const vec& y, double t, vec& out) { g.model_output(sl, prediction::v, y, t, out); };
  const vec taus = stork::vp_taus(12);
  vec a = sample_points(4), b = a, out(a.size());
  const stork::stats r = stork::integrate(stork::stork4{}, stork::field(out_fn, sl, prediction::v), a, taus);
  auto sch = stork::make_scheduler(
      stork::stork4{}, taus, b,
      stork::model<stork::vp_scaled_linear>{.process = sl, .prediction = prediction::v});
  while (!sch.done()) {
    out_fn(b, sch.time(), out);
    sch.step(out, b);
  }
  REQUIRE(a == b);
  REQUIRE(sch.nfe() == r.nfe);
  // A bare process means its usual prediction: vp_scaled_linear{} is an ε model, ve{} a denoiser.
  static_assert(
      std::is_same_v<decltype(stork::make_scheduler(stork::euler{}, taus, b, stork::vp_scaled_linear{})),
                     stork::scheduler<stork::euler, vec, stork::model<stork::vp_scaled_linear>>>);
  auto ve_sch = stork::make_scheduler(stork::dpmpp_2m{}, stork::karras_sigmas(5), b, stork::ve{});
  REQUIRE(ve_sch.time() == Approx(14.6146));
}

namespace {

/// |error| at the end of integrating the single Gaussian N(μ, s²) from x0 at times.front() to
/// times.back() > 0 with a model of prediction p under process pr: against the exact flow map, or (STORK on
/// a VP process, which ends with a denoise) against the exact posterior mean at the exact end point.
template <class Method, class Process>
double end_error(const Method& m, const Process& pr, prediction p, const vec& times, double x0 = 0.4) {
  const double mu = 1.0, s = 0.5;
  const gaussian_mixture g = single_gaussian(mu, s);
  auto f = stork::field([&](const vec& y, double t, vec& out) { g.model_output(pr, p, y, t, out); }, pr, p);
  vec x{x0};
  stork::integrate(m, f, x, times);
  const double t1 = times.back(), xe = gaussian_process_map(pr, mu, s, x0, times.front(), t1);
  if constexpr (requires { Method::family; }) {
    if (stork::detail::ends_with_denoise_v<stork::model<Process>>) {
      const double al = pr.alpha(t1), var = al * al * s * s + pr.sigma(t1) * pr.sigma(t1);
      return std::abs(x[0] - (mu + al * s * s / var * (xe - al * mu)));  // E[x0 | x(t1)]
    }
  }
  return std::abs(x[0] - xe);
}

}  // namespace

TEST_CASE("model: stork4 and rock4 with every process and prediction reach the exact single-Gaussian map",
          "[model][integrate]") {
  // Grids stop short of the singular ends (σ = 0 is tested below). Single Gaussian N(1, 0.5²), x = 0.4.
  const auto check = [](const char* process, const auto& pr, const vec& grid20, const vec& grid40,
                        const vec& grid16, double x0, double tol = 1e-4) {
    for (prediction p : all_predictions) {
      INFO(process << ", " << name(p));
      const double e_s20 = end_error(stork::stork4{}, pr, p, grid20, x0);
      const double e_s40 = end_error(stork::stork4{}, pr, p, grid40, x0);
      const double e_r = end_error(stork::rock4{.stages = 5}, pr, p, grid16, x0);
      INFO("stork4 20/40 steps " << e_s20 << " " << e_s40 << ", rock4 16 steps " << e_r);
      REQUIRE(e_s40 < tol);
      REQUIRE(e_s40 < e_s20 / 3);  // converging at order > 1.5
      REQUIRE(e_r < 1e-6);
    }
  };
  const auto vp = [&](const char* n, const auto& pr) {
    check(n, pr, uniform_grid(0.9, 0.1, 20), uniform_grid(0.9, 0.1, 40), uniform_grid(0.9, 0.1, 16), 0.4);
  };
  vp("vp_linear", stork::vp_linear{});
  vp("vp_scaled_linear", stork::vp_scaled_linear{});
  // The trained tables (T = 1000): with the C¹ interpolant the drift has no jumps, so the errors keep
  // falling like those of the continuous processes (the piecewise-linear one stalled near 1e-4).
  vp("vp_discrete::linear", stork::vp_discrete::linear(1000, 1e-4, 0.02));
  vp("vp_discrete::scaled_linear", stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012));
  check("rectified_flow", stork::rectified_flow{}, uniform_grid(0.95, 0.05, 20), uniform_grid(0.95, 0.05, 40),
        uniform_grid(0.95, 0.05, 16), 0.4);
  // VE on geometric grids σ_i = 10·100^(−i/n), the spacing its users run (Karras, exponential).
  auto geometric = [](std::size_t n) {
    vec grid(n + 1);
    for (std::size_t i = 0; i <= n; ++i) grid[i] = 10.0 * std::pow(0.01, double(i) / double(n));
    return grid;
  };
  // (An ε model in VE is its own velocity; its 40-step error, 1.2e-4, is the largest of the lot.)
  check("ve", stork::ve{}, geometric(20), geometric(40), geometric(16), 4.0, 3e-4);
}

TEST_CASE("model: vp_discrete errors keep shrinking at the method's order below 1e-4", "[model][integrate]") {
  // rock4 (order 4) on Stable Diffusion's table, single Gaussian, τ from 1 to 0.05, ε model. Measured:
  // 3.6e-7, 2.6e-8, 7.5e-9, 5.3e-9 for 8..64 steps (order 4 down to the floor the C¹ interpolant's
  // second-derivative kinks at the 1000 nodes leave); the piecewise-linear log ᾱ stalled near 1e-4.
  const stork::vp_discrete sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  vec errs;
  const std::vector<std::size_t> ns{8, 16, 32, 64};
  for (std::size_t n : ns)
    errs.push_back(end_error(stork::rock4{.stages = 5}, sd, prediction::epsilon, uniform_grid(1.0, 0.05, n)));
  INFO("errors " << errs[0] << " " << errs[1] << " " << errs[2] << " " << errs[3]);
  REQUIRE(errs.back() < 1e-8);
  const double slope = fitted_slope({8, 16}, {errs[0], errs[1]});
  INFO("observed order from 8 to 16 steps " << slope);
  REQUIRE(slope > 3.5);
  for (std::size_t i = 1; i < errs.size(); ++i) REQUIRE(errs[i] < errs[i - 1]);
}

TEST_CASE("model: an interval ending at sigma = 0 is a step to x0-hat for non-velocity models",
          "[model][ve]") {
  // heun, rkg2, rock4 and STORK (output form) take one Euler step on the last interval of a VE or flow grid,
  // from the last model call; for rectified flow and VE that step lands exactly on x̂₀ = D(x, σ_{N−1}).
  const gaussian_mixture g = three_blobs();
  auto check = [&g](const char* process, const auto& pr, const vec& grid) {
    for (prediction p : {prediction::epsilon, prediction::sample, prediction::v}) {
      auto model = [&g, &pr, p](const vec& y, double t, vec& out) { g.model_output(pr, p, y, t, out); };
      auto f = stork::field(model, pr, p);
      const vec head(grid.begin(), grid.end() - 1);  // the same run without the last interval
      auto run = [&](const auto& method) {
        INFO(process << ", " << name(p));
        vec x = sample_points(2, grid.front()), y = x;
        const stork::stats r = stork::integrate(method, f, x, grid);
        stork::integrate(method, f, y, head);
        vec d(y.size());
        g.posterior_quantity(quantity::mean, pr.alpha(head.back()), pr.sigma(head.back()), y, d);
        REQUIRE(rel_diff(x, d) < 1e-12);
        return r.nfe;
      };
      run(stork::heun{});
      run(stork::rkg2{.stages = 4});
      run(stork::rock4{.stages = 3});
      // One call per interval (the automatic start-up is multistep on grids this short), none at σ = 0; the
      // Heun start-up adds its one call.
      REQUIRE(run(stork::stork4{}) == grid.size() - 1);
      REQUIRE(run(stork::stork4{.startup = stork::startup::runge_kutta}) == grid.size());
      run(stork::stork2{.stages = 7});
      run(stork::euler{});  // Euler's last step is that step anyway
    }
  };
  check("ve", stork::ve{}, stork::karras_sigmas(6));
  check("rectified_flow", stork::rectified_flow{}, vec{0.9, 0.6, 0.3, 0.1, 0.0});
  // A flow velocity is evaluated at σ = 0 as usual: heun makes 2 calls on the last interval.
  vec x{0.4};
  REQUIRE(stork::integrate(stork::heun{}, flow_toy, x, vec{0.5, 0.25, 0.0}).nfe == 4);
}

TEST_CASE("model: a VE grid that stops above 0 ends at the noisy state there, not denoised", "[model][ve]") {
  // Allowed (img2img, or an engine that finishes the last step itself): x ends as the ODE's solution at
  // the last σ, for every method — STORK adds no denoise outside VP processes.
  const gaussian_mixture g = single_gaussian(1.0, 0.5);
  const stork::ve ve{};
  auto f = stork::field(
      [&](const vec& y, double t, vec& o) { g.model_output(ve, prediction::sample, y, t, o); }, ve);
  vec grid = stork::karras_sigmas(40, {.sigma_min = 0.5, .sigma_max = 10.0});
  grid.pop_back();  // ends at σ = 0.5
  const double exact = gaussian_process_map(ve, 1.0, 0.5, 3.0, 10.0, 0.5);
  const double denoised = 1.0 + 0.25 / (0.25 + 0.25) * (exact - 1.0);  // E[x0 | x(0.5)], for contrast
  auto run = [&](const char* name, const auto& m, double tol = 1e-4) {
    vec x{3.0};
    stork::integrate(m, f, x, grid);
    INFO(name << ": " << x[0] << ", ODE solution " << exact << ", its denoise " << denoised);
    REQUIRE(x[0] == Approx(exact).epsilon(tol));
  };
  run("euler", stork::euler{}, 5e-3);  // first order: 1.3e-3 here
  run("heun", stork::heun{});
  run("dpmpp_2m", stork::dpmpp_2m{}, 1e-3);  // its first-order last step (lower_order_final): 1.8e-4
  run("stork4", stork::stork4{});
  run("stork2", stork::stork2{});
  REQUIRE(std::abs(exact - denoised) > 0.05);  // 0.07: far beyond every tolerance above
}

TEST_CASE("model: the scheduler reports a parameterisation's singular point", "[model][errors]") {
  const gaussian_mixture g = single_gaussian(1.0, 0.5);
  const stork::rectified_flow rf{};
  auto eps =
      stork::field([&](const vec& y, double t, vec& o) { g.model_output(rf, prediction::epsilon, y, t, o); },
                   rf, prediction::epsilon);
  vec x{0.4};
  // ε at σ = 1 (x = ε says nothing about x0): the first evaluation of a grid that starts at 1.
  REQUIRE_STORK_ERROR(stork::integrate(stork::euler{}, eps, x, vec{1.0, 0.5, 0.0}), "t = 1 is invalid");
  // A denoiser at σ = 0: a grid that rises from 0.
  auto den = stork::field([&](const vec& y, double, vec& o) { o = y; }, stork::ve{});
  REQUIRE_STORK_ERROR(stork::integrate(stork::euler{}, den, x, vec{0.0, 1.0}), "t = 0 is invalid");
  REQUIRE(x == vec{0.4});
}

TEST_CASE("model: invalid processes, tables, grids and predictions throw stork::error", "[model][errors]") {
  const auto model = [](const vec& y, double, vec& o) { o = y; };
  using stork::vp_discrete;
  using stork::vp_scaled_linear;
  REQUIRE_STORK_ERROR(stork::field(model, vp_scaled_linear{.beta_start = -1.0}),
                      "vp_scaled_linear: beta_start = -1");
  REQUIRE_STORK_ERROR(stork::field(model, vp_scaled_linear{.beta_start = NAN}), "beta_start = nan");
  REQUIRE_STORK_ERROR(stork::field(model, vp_scaled_linear{.beta_end = 1e-4}), "beta_end = 0.0001");
  REQUIRE_STORK_ERROR(stork::field(model, vp_scaled_linear{.beta_end = 1.0}), "beta_end = 1");
  REQUIRE_STORK_ERROR(stork::field(model, vp_scaled_linear{.num_train_timesteps = 0}),
                      "num_train_timesteps = 0");
  REQUIRE_STORK_ERROR(stork::vp_field(model, stork::vp_linear{.beta_min = -0.1}),
                      "vp_linear: beta_min = -0.1");

  REQUIRE_STORK_ERROR(vp_discrete(vec{0.1, 1.0}), "vp_discrete: betas[1] = 1");
  REQUIRE_STORK_ERROR(vp_discrete(vec{0.0, 0.1}), "betas[0] = 0");
  REQUIRE_STORK_ERROR(vp_discrete(vec{0.1, NAN}), "betas[1] = nan");
  REQUIRE_STORK_ERROR(vp_discrete(vec{-0.2}), "betas[0] = -0.2");
  REQUIRE_STORK_ERROR(stork::field(model, vp_discrete{}), "vp_discrete: betas.size() = 0");
  REQUIRE_STORK_ERROR(vp_discrete::linear(0, 1e-4, 0.02), "vp_discrete::linear: num_train_timesteps = 0");
  REQUIRE_STORK_ERROR(vp_discrete::linear(1000, 0.0, 0.02), "vp_discrete::linear: beta_start = 0");
  REQUIRE_STORK_ERROR(vp_discrete::scaled_linear(1000, 1e-4, 1.5),
                      "vp_discrete::scaled_linear: beta_end = 1.5");
  REQUIRE_STORK_ERROR(vp_discrete::scaled_linear(1000, 1e-4, INFINITY), "beta_end = inf");
  REQUIRE(vp_discrete::linear(1, 0.01, 0.02).betas() == vec{0.01});  // T = 1: torch.linspace gives [start]

  // Grid times outside the process's domain, checked before anything runs; x unchanged.
  vec x{0.3};
  REQUIRE_STORK_ERROR(
      stork::integrate(stork::stork4{}, stork::field(model, vp_scaled_linear{}), x, vec{1.5, 0.5}),
      "vp_scaled_linear: times[0] = 1.5");
  REQUIRE_STORK_ERROR(
      stork::integrate(stork::rock4{}, stork::field(model, vp_discrete::linear(10, 1e-3, 0.2)), x,
                       vec{0.5, 0.0}),
      "vp_discrete: times[1] = 0");
  REQUIRE_STORK_ERROR(stork::make_scheduler(stork::euler{}, vec{1.2, 0.0}, x, stork::flow_model{}),
                      "rectified_flow: times[0] = 1.2");
  REQUIRE_STORK_ERROR(stork::integrate(stork::euler{}, stork::field(model, stork::ve{}), x, vec{2.0, -0.5}),
                      "ve: times[1] = -0.5");
  REQUIRE_STORK_ERROR(
      stork::integrate(stork::euler{}, stork::field(model, stork::ve{}), x, vec{INFINITY, 1.0}),
      "times[0] = inf");
  REQUIRE(x == vec{0.3});

  // Unknown prediction values.
  const auto bad = static_cast<prediction>(7);
  REQUIRE_STORK_ERROR(stork::field(model, stork::ve{}, bad), "model: prediction = 7");
  REQUIRE_STORK_ERROR(stork::flow_field(model, bad), "model: prediction = 7");
  REQUIRE_STORK_ERROR(stork::make_scheduler(stork::stork4{}, vec{0.9, 0.5, 0.1}, x,
                                            stork::model<stork::vp_linear>{.prediction = bad}),
                      "model: prediction = 7");

  // The reference variant handles flow velocities and the ε of a vp_linear model only.
  const auto reference = stork::stork4{.variant = stork::variant::reference};
  REQUIRE_STORK_ERROR(stork::integrate(reference, stork::field(model, stork::vp_linear{}, prediction::v), x,
                                       vec{0.9, 0.5, 0.1}),
                      "variant = reference is invalid with this model");
  REQUIRE_STORK_ERROR(stork::integrate(reference, stork::field(model, stork::ve{}), x, vec{9.0, 0.5, 0.0}),
                      "variant = reference is invalid with this model");
  REQUIRE(x == vec{0.3});
  vec y{0.3};  // vp_field of an ε model is vp_epsilon: the reference runs it
  REQUIRE(
      stork::integrate(reference, stork::vp_field(model, stork::vp_linear{}), y, vec{0.9, 0.5, 0.1}).nfe ==
      5);
}
