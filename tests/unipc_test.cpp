// Tests of <stork/methods/unipc.hpp>: UniPC-bh2 against a line-by-line transcription of the published
// algorithm, exactness of its order conditions, observed orders, the final steps, NFE, the two fronts,
// errors.
#include <stork/methods/dpmpp.hpp>
#include <stork/methods/unipc.hpp>
#include <stork/scheduler.hpp>
#include <stork/stork.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <functional>

#include "support/alloc_counter.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/multistep.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace {

const gaussian_mixture two_bumps{1, {0.4, 0.6}, {{-1.0}, {1.5}}, {0.3, 0.7}};

// Determinant of a 2×2 or 3×3 matrix, for Cramer's rule (independent of the library's elimination).
double det(const std::vector<vec>& a) {
  if (a.size() == 1) return a[0][0];
  if (a.size() == 2) return a[0][0] * a[1][1] - a[0][1] * a[1][0];
  return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
         a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
         a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
}
vec cramer(const std::vector<vec>& a, const vec& b) {
  vec x(b.size());
  for (std::size_t c = 0; c < b.size(); ++c) {
    std::vector<vec> m = a;
    for (std::size_t r = 0; r < b.size(); ++r) m[r][c] = b[r];
    x[c] = det(m) / det(a);
  }
  return x;
}

// diffusers' UniPCMultistepScheduler (solver_type "bh2", predict_x0 = True) transcribed for a scalar
// state: multistep_uni_p_bh_update, multistep_uni_c_bh_update and step(), in their notation.
struct reference_unipc {
  int solver_order;
  bool lower_order_final;
  std::function<double(double)> alpha, sigma;
  vec t;              // the grid
  vec model_outputs;  // converted (x̂₀) outputs, all of them
  double last_sample = 0;
  int this_order = 0, lower_order_nums = 0;

  double lambda(std::size_t i) const { return std::log(alpha(t[i])) - std::log(sigma(t[i])); }

  // Coefficients b and matrix R of the UniPC order conditions for base index s0, target index tt.
  void conditions(std::size_t s0, std::size_t tt, int order, vec& rks, std::vector<vec>& R, vec& b, double& h,
                  double& h_phi_1, double& B_h) const {
    h = lambda(tt) - lambda(s0);
    rks.clear();
    for (int i = 1; i < order; ++i) rks.push_back((lambda(s0 - std::size_t(i)) - lambda(s0)) / h);
    rks.push_back(1.0);
    const double hh = -h;
    h_phi_1 = std::expm1(hh);
    double h_phi_k = h_phi_1 / hh - 1.0, factorial_i = 1.0;
    B_h = std::expm1(hh);
    R.clear(), b.clear();
    for (int i = 1; i <= order; ++i) {
      vec row;
      for (double r : rks) row.push_back(std::pow(r, i - 1));
      R.push_back(row);
      b.push_back(h_phi_k * factorial_i / B_h);
      factorial_i *= i + 1;
      h_phi_k = h_phi_k / hh - 1.0 / factorial_i;
    }
  }

  double predictor(std::size_t s0, double x, int order) const {
    vec rks, b;
    std::vector<vec> R;
    double h, h_phi_1, B_h;
    conditions(s0, s0 + 1, order, rks, R, b, h, h_phi_1, B_h);
    const double m0 = model_outputs[s0];
    double pred_res = 0.0;
    if (order >= 2) {
      vec rhos_p{0.5};
      if (order == 3) rhos_p = cramer({{R[0][0], R[0][1]}, {R[1][0], R[1][1]}}, {b[0], b[1]});
      for (int i = 1; i < order; ++i)
        pred_res +=
            rhos_p[std::size_t(i - 1)] * (model_outputs[s0 - std::size_t(i)] - m0) / rks[std::size_t(i - 1)];
    }
    const double x_t_ = sigma(t[s0 + 1]) / sigma(t[s0]) * x - alpha(t[s0 + 1]) * h_phi_1 * m0;
    return x_t_ - alpha(t[s0 + 1]) * B_h * pred_res;
  }

  double corrector(std::size_t tt, double model_t, double x, int order) const {
    const std::size_t s0 = tt - 1;
    vec rks, b;
    std::vector<vec> R;
    double h, h_phi_1, B_h;
    conditions(s0, tt, order, rks, R, b, h, h_phi_1, B_h);
    const double m0 = model_outputs[s0];
    const vec rhos_c = order == 1 ? vec{0.5} : cramer(R, b);
    double corr_res = 0.0;
    for (int i = 1; i < order; ++i)
      corr_res +=
          rhos_c[std::size_t(i - 1)] * (model_outputs[s0 - std::size_t(i)] - m0) / rks[std::size_t(i - 1)];
    const double x_t_ = sigma(t[tt]) / sigma(t[s0]) * x - alpha(t[tt]) * h_phi_1 * m0;
    return x_t_ - alpha(t[tt]) * B_h * (corr_res + rhos_c.back() * (model_t - m0));
  }

  // step(): `converted` is x̂₀ of the model output at `sample`.
  double step(std::size_t step_index, double converted, double sample) {
    if (step_index > 0) sample = corrector(step_index, converted, last_sample, this_order);
    model_outputs.push_back(converted);
    const int steps = static_cast<int>(t.size()) - 1;
    int order =
        lower_order_final ? std::min(solver_order, steps - static_cast<int>(step_index)) : solver_order;
    this_order = std::min(order, lower_order_nums + 1);
    last_sample = sample;
    const double prev = predictor(step_index, sample, this_order);
    if (lower_order_nums < solver_order) ++lower_order_nums;
    return prev;
  }
};

double cubic(double l) { return 0.3 - 0.7 * l + 0.45 * l * l - 0.2 * l * l * l; }
// ∫ e^λ cubic(λ) dλ, by parts.
double cubic_antiderivative(double l) {
  return std::exp(l) * (0.3 - 0.7 * (l - 1.0) + 0.45 * (l * l - 2.0 * l + 2.0) -
                        0.2 * (l * l * l - 3.0 * l * l + 6.0 * l - 6.0));
}
double quadratic(double l) { return 0.3 - 0.7 * l + 0.45 * l * l; }
double quadratic_antiderivative(double l) {
  return std::exp(l) * (0.3 - 0.7 * (l - 1.0) + 0.45 * (l * l - 2.0 * l + 2.0));
}

}  // namespace

TEST_CASE("unipc: every step matches a transcription of diffusers' UniPC-bh2 (VP eps and flow)",
          "[unipc][golden]") {
  const stork::vp_linear vp{};
  for (int order : {1, 2, 3})
    for (bool lof : {true, false})
      for (bool flow : {false, true}) {
        const vec grid = flow ? vec{0.95, 0.8, 0.62, 0.5, 0.33, 0.2, 0.1, 0.04}
                              : vec{0.9, 0.72, 0.55, 0.41, 0.3, 0.2, 0.12, 0.06};
        reference_unipc ref{order, lof, {}, {}, grid, {}};
        if (flow)
          ref.alpha = [](double s) { return 1.0 - s; }, ref.sigma = [](double s) { return s; };
        else
          ref.alpha = [&](double t) { return vp.alpha(t); },
          ref.sigma = [&](double t) { return vp.sigma(t); };
        vec x{0.8}, out{0.0};
        double xr = 0.8;
        const stork::unipc m{.order = order, .lower_order_final = lof};
        auto check = [&](auto& sch, auto model, auto to_data) {
          for (std::size_t n = 0; !sch.done(); ++n) {
            model(x, grid[n], out);
            const double converted = to_data(x[0], out[0], grid[n]);
            sch.step(out, x);
            xr = ref.step(n, converted, xr);
            INFO("order " << order << ", lof " << lof << (flow ? ", flow" : ", vp") << ", step " << n);
            REQUIRE(x[0] == Approx(xr).epsilon(1e-12));
          }
        };
        if (flow) {
          const gaussian_mixture& g = two_bumps;
          auto sch = stork::make_scheduler(m, grid, x);
          check(
              sch, [&](const vec& y, double s, vec& v) { g.flow_velocity(y, s, v); },
              [](double y, double v, double s) { return y - s * v; });
        } else {
          auto sch = stork::make_scheduler(m, grid, x, vp);
          check(
              sch, [&](const vec& y, double t, vec& e) { two_bumps.epsilon(vp, y, t, e); },
              [&](double y, double e, double t) { return (y - vp.sigma(t) * e) / vp.alpha(t); });
        }
      }
}

TEST_CASE("unipc weights: UniP-3 exact for quadratics, UniC-2 for quadratics, UniC-3 for cubics",
          "[unipc][exact]") {
  const std::array<double, 3> lam{0.4, -0.35, -1.6};  // λ_s, λ_{s−1}, λ_{s−2}
  for (double lt : {0.45, 0.9, 2.5}) {
    auto integral = [&](auto anti) { return std::exp(-lt) * (anti(lt) - anti(lam[0])); };
    auto pred = [&](int p, auto d) {
      const auto w = stork::detail::unipc_weights(p, lt, lam).pred;
      double s = 0.0;
      for (std::size_t j = 0; j < std::size_t(p); ++j) s += w[j] * d(lam[j]);
      return s;
    };
    auto corr = [&](int p, auto d) {
      const auto w = stork::detail::unipc_weights(p, lt, lam).corr;
      double s = w[0] * d(lt);
      for (std::size_t j = 0; j < std::size_t(p); ++j) s += w[j + 1] * d(lam[j]);
      return s;
    };
    const double q = integral(quadratic_antiderivative), c = integral(cubic_antiderivative);
    const double one = 1.0 - std::exp(-(lt - lam[0]));  // ∫ e^{λ−λt} dλ
    auto constant = [](double) { return 1.0; };
    INFO("lambda_t = " << lt);
    REQUIRE(pred(3, quadratic) == Approx(q).epsilon(1e-12));
    REQUIRE(corr(2, quadratic) == Approx(q).epsilon(1e-12));
    REQUIRE(corr(3, cubic) == Approx(c).epsilon(1e-12));
    REQUIRE(std::abs(pred(3, cubic) - c) > 1e-6);
    REQUIRE(std::abs(corr(2, cubic) - c) > 1e-6);
    // The published ρ = ½ shortcuts (UniP-2, UniC-1) keep constants exact only.
    REQUIRE(pred(2, constant) == Approx(one).epsilon(1e-14));
    REQUIRE(corr(1, constant) == Approx(one).epsilon(1e-14));
    REQUIRE(std::abs(pred(2, quadratic) - q) > 1e-6);
  }
}

TEST_CASE("unipc: without the corrector UniP-2 is DPM-Solver++(2M) and UniP-3 the exact-weight 3M",
          "[unipc][exact]") {
  const gaussian_mixture g = three_blobs();
  auto f = [&g](const vec& y, double s, vec& v) { g.flow_velocity(y, s, v); };
  const stork::vp_linear vp{};
  auto eps = stork::vp_epsilon([&](const vec& y, double t, vec& e) { g.epsilon(vp, y, t, e); }, vp);
  auto same = [&](auto a, auto b) {
    for (int k = 0; k < 2; ++k) {
      vec x = fixed_noise(6), y = x;
      const vec grid = k == 0 ? cosine_grid(13) : cosine_grid(13, 1.0, 1e-3);
      if (k == 0)
        stork::integrate(a, f, x, grid), stork::integrate(b, f, y, grid);
      else
        stork::integrate(a, eps, x, grid), stork::integrate(b, eps, y, grid);
      for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(x[i] == Approx(y[i]).epsilon(1e-11).margin(1e-13));
    }
  };
  same(stork::unipc{.order = 2, .corrector = false}, stork::dpmpp_2m{});
  same(stork::unipc{.order = 3, .corrector = false}, stork::dpmpp_3m{});
  same(stork::unipc{.order = 3, .lower_order_final = false, .corrector = false},
       stork::dpmpp_3m{.lower_order_final = false});
}

TEST_CASE("unipc: observed orders p + 1 with the corrector, p without (flow and VP eps, cosine grid)",
          "[unipc][order]") {
  const std::vector<std::size_t> n = {128, 256, 512, 1024};
  const double want[] = {2.0, 3.0, 4.0};
  for (int p : {1, 2, 3}) {
    const double fc = flow_order(stork::unipc{.order = p}, n), vc = vp_order(stork::unipc{.order = p}, n);
    const double fp = flow_order(stork::unipc{.order = p, .corrector = false}, n);
    const double vpp = vp_order(stork::unipc{.order = p, .corrector = false}, n);
    INFO("UniPC-" << p << ": with corrector " << fc << " / " << vc << ", predictor only " << fp << " / "
                  << vpp);
    const double margin = p == 3 ? 0.3 : 0.15;  // UniPC-3 measures 3.8 (flow) and 4.0 (VP) here
    REQUIRE(fc == Approx(want[p - 1]).margin(margin));
    REQUIRE(vc == Approx(want[p - 1]).margin(margin));
    REQUIRE(fp == Approx(p).margin(0.15));
    REQUIRE(vpp == Approx(p).margin(0.2));
  }
}

TEST_CASE("unipc: lower_order_final changes the last step only; sigma = 0 ends with x0-hat",
          "[unipc][final]") {
  const stork::vp_linear vp{};
  auto eps = [&](const vec& y, double t, vec& e) { two_bumps.epsilon(vp, y, t, e); };
  const vec grid = cosine_grid(7, 0.9, 0.05);
  for (int p : {2, 3}) {
    vec a{0.8}, b{0.8};
    const auto ta = scheduler_trace(stork::unipc{.order = p}, eps, a, grid, vp);
    const auto tb = scheduler_trace(stork::unipc{.order = p, .lower_order_final = false}, eps, b, grid, vp);
    const std::size_t first_lower = grid.size() - 1 - std::size_t(p - 1);  // min(p, N − n) < p from here
    for (std::size_t k = 0; k < first_lower; ++k) REQUIRE(ta[k] == tb[k]);
    REQUIRE(std::abs(ta[first_lower][0] - tb[first_lower][0]) > 1e-7);
  }
  const gaussian_mixture g = three_blobs();
  auto f = [&g](const vec& y, double s, vec& v) { g.flow_velocity(y, s, v); };
  const vec flow_grid = stork::flow_sigmas(9, stork::flow_schedule{.shift = 3.0});
  for (bool lof : {true, false}) {
    vec x = fixed_noise(8), v(8);
    const auto tr = scheduler_trace(stork::unipc{.order = 3, .lower_order_final = lof}, f, x, flow_grid);
    const vec& last = tr[tr.size() - 2];
    const double s = flow_grid[flow_grid.size() - 2];
    f(last, s, v);
    for (std::size_t i = 0; i < x.size(); ++i)
      REQUIRE(x[i] == Approx(last[i] - s * v[i]).epsilon(1e-15).margin(1e-15));
  }
}

TEST_CASE(
    "unipc: one model call per interval; integrate equals the scheduler loop bit for bit; no allocation",
    "[unipc][nfe]") {
  for (int p : {1, 2, 3}) {
    require_one_call_per_interval_and_loop_equality(stork::unipc{.order = p});
  }
  const vec grid = cosine_grid(20);
  vec x(1000, 1.0), v(1000);
  auto sch = stork::make_scheduler(stork::unipc{.order = 3}, grid, x);
  const std::size_t before = allocation_count();
  while (!sch.done()) {
    for (std::size_t i = 0; i < x.size(); ++i) v[i] = (x[i] - 0.5) / (1.0 + sch.time());
    sch.step(v, x);
  }
  REQUIRE(allocation_count() - before == 0);
}

TEST_CASE("unipc: invalid order and grids throw stork::error, x unchanged", "[unipc][error]") {
  auto f = [](const vec& y, double, vec& v) { v = y; };
  vec x{1.0};
  const vec grid = stork::flow_sigmas(5);
  REQUIRE_THROWS_WITH(stork::integrate(stork::unipc{.order = 0}, f, x, grid), Catch::Contains("order = 0"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::unipc{.order = 4}, f, x, grid),
                      Catch::Contains("unipc: order = 4"));
  REQUIRE_THROWS_AS(stork::make_scheduler(stork::unipc{.order = -1}, grid, x), stork::error);
  REQUIRE_THROWS_WITH(stork::integrate(stork::unipc{}, f, x, vec{0.0, 0.5, 1.0}), Catch::Contains("lambda"));
  REQUIRE(x[0] == 1.0);
}
