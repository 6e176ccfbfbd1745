// STORK's start-up against NFE: where the Runge–Kutta start-up's extra model calls pay for themselves
// against the cheap multistep start (docs/startup.md).
//
// For stork4 (s = 5) and stork2 (s = 50), derivative_order 2 and 3, each start-up (`multistep`: no extra
// call, the first step is an Euler step; `runge_kutta`: +1 call (one Heun step) at derivative_order 2, +4
// (two Kutta RK3 steps) at 3) runs the most grid intervals whose model calls fit each NFE budget, and the
// error of the end state is measured:
//  - smooth flows with exact solutions: the flow toy of docs/reference.md §2.7 (v = −x + σ², x(1) = 2) on a
//    uniform σ grid from 1 to 0, a shift-3 grid and the beta-spaced flow_sigmas, and one Gaussian N(1, 2²)
//    from x(1) = 0.4 on the uniform grid;
//  - the Gaussian mixtures of tests/support (three_blobs, a ring of 8, a random 4-component mixture in
//    d = 64), 400 samples each, median of |x − x_ref|/√d against a ROCK4 solution of the same ODE from the
//    same noise: rectified flow (exact velocity) at shift 1 and 3 on `flow_sigmas`, `use_flow_sigmas` and
//    the beta-spaced `flow_sigmas` (STORK's flow grid, docs/flow_grid.md),
//    and VE (exact denoiser) on `karras_sigmas` (14.6146 → 0.0292, ρ = 7, then 0; the reference ends with
//    x = D at σ_min, as the run does).
// Printed: per setting and configuration the error of each start-up and their ratio at each budget, then
// the crossover table: the smallest budget from which the Runge–Kutta start-up is at least as accurate at
// every larger budget (">100": never in the range).
//
// Usage: startup [--csv FILE]
#include <stork/stork.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

namespace {

using vec = std::vector<double>;
using stork_test::cosine_grid;
using stork_test::gaussian_mixture;
using stork_test::ring8;

const std::vector<int> budgets{5, 6, 8, 10, 12, 14, 16, 18, 20, 25, 30, 35, 40, 45, 50, 60, 80, 100};

/// One configuration of STORK: a method with a given start-up.
struct config {
  std::string name;
  std::function<stork::stats(const std::function<void(const vec&, double, vec&)>&, bool ve, vec&, const vec&)>
      run[3];  // [0] multistep, [1] runge_kutta, [2] automatic
};

template <class M>
config make_config(std::string name, M m) {
  config c{std::move(name), {}};
  for (int k = 0; k < 3; ++k) {
    M mk = m;
    mk.startup = k == 0   ? stork::startup::multistep
                 : k == 1 ? stork::startup::runge_kutta
                          : stork::startup::automatic;
    c.run[k] = [mk](const std::function<void(const vec&, double, vec&)>& f, bool ve, vec& x,
                    const vec& grid) {
      auto call = [&f](const vec& y, double t, vec& o) { f(y, t, o); };
      if (ve)
        return stork::integrate(mk, stork::field(call, stork::ve{}, stork::prediction::sample), x, grid);
      return stork::integrate(mk, call, x, grid);
    };
  }
  return c;
}

std::vector<config> configs() {
  return {make_config("stork4 d2", stork::stork4{.derivative_order = 2}),
          make_config("stork4 d3", stork::stork4{.derivative_order = 3}),
          make_config("stork2 d2", stork::stork2{.derivative_order = 2}),
          make_config("stork2 d3", stork::stork2{.derivative_order = 3})};
}

/// A setting: a grid family, a model and the error of an end state.
struct setting {
  std::string name;
  bool ve = false;
  std::function<vec(int)> grid;                         // intervals → grid
  std::function<void(const vec&, double, vec&)> model;  // velocity (flow) or denoiser (VE)
  std::function<vec(double)> start;                     // the start state at the grid's first time
  std::function<double(const vec&, double)> error;      // error of an end state (start time given)
  bool mixture = true;                                  // false: the smooth flows
};

vec uniform(int n) { return stork_test::uniform_grid(1.0, 0.0, std::size_t(n)); }

double median_error(const vec& a, const vec& b, std::size_t d) {
  const std::size_t n = a.size() / d;
  vec per(n);
  for (std::size_t p = 0; p < n; ++p) {
    double s = 0;
    for (std::size_t i = 0; i < d; ++i) s += (a[p * d + i] - b[p * d + i]) * (a[p * d + i] - b[p * d + i]);
    per[p] = std::sqrt(s / double(d));
  }
  std::nth_element(per.begin(), per.begin() + long(n / 2), per.end());
  return per[n / 2];
}

constexpr double ve_min = 0.0292, ve_max = 14.6146;

/// A mixture setting: references are ROCK4 solutions (400 graded steps, 9 calls each) from each start time.
enum class flow_grid { fm, uf, beta };

setting mixture(std::string name, const gaussian_mixture& g, bool ve, double shift, flow_grid fg,
                std::size_t samples, unsigned seed) {
  auto gm = std::make_shared<gaussian_mixture>(g);
  auto noise = std::make_shared<vec>(stork_test::fixed_noise(samples * g.dim, seed));
  setting s;
  s.name = std::move(name);
  s.ve = ve;
  if (ve)
    s.grid = [](int n) {
      return stork::karras_sigmas(n, {.sigma_min = ve_min, .sigma_max = ve_max, .rho = 7.0});
    };
  else if (fg == flow_grid::uf)
    s.grid = [shift](int n) { return stork::use_flow_sigmas(n, shift); };
  else if (fg == flow_grid::beta)
    s.grid = [shift](int n) {
      return stork::flow_sigmas(n, {.shift = shift, .spacing = stork::sigma_spacing::beta});
    };
  else
    s.grid = [shift](int n) { return stork::flow_sigmas(n, {.shift = shift}); };
  if (ve)
    s.model = [gm](const vec& x, double t, vec& o) {
      gm->model_output(stork::ve{}, stork::prediction::sample, x, t, o);
    };
  else
    s.model = [gm](const vec& x, double t, vec& o) { gm->flow_velocity(x, t, o); };
  s.start = [noise, ve](double t0) {
    vec x = *noise;
    if (ve)
      for (double& v : x) v *= t0;
    return x;
  };
  auto refs = std::make_shared<std::vector<std::pair<double, vec>>>();
  s.error = [gm, refs, s_start = s.start, ve](const vec& x, double t0) {
    auto it = std::find_if(refs->begin(), refs->end(), [t0](const auto& r) { return r.first == t0; });
    if (it == refs->end()) {
      vec y = s_start(t0);
      auto vel = [gm, ve](const vec& z, double t, vec& v) {
        if (ve)
          gm->model_output(stork::ve{}, stork::prediction::velocity, z, t, v);
        else
          gm->flow_velocity(z, t, v);
      };
      if (ve) {
        vec grid(401);
        for (std::size_t i = 0; i <= 400; ++i)
          grid[i] = std::exp(std::log(t0) + (std::log(ve_min) - std::log(t0)) * double(i) / 400.0);
        grid.back() = ve_min;
        stork::integrate(stork::rock4{.stages = 5}, vel, y, grid);
        vec d(y.size());
        gm->model_output(stork::ve{}, stork::prediction::sample, y, ve_min, d);
        y = d;
      } else {
        stork::integrate(stork::rock4{.stages = 5}, vel, y, cosine_grid(400, t0, 0.0));
      }
      refs->emplace_back(t0, y);
      it = refs->end() - 1;
    }
    return median_error(x, it->second, gm->dim);
  };
  return s;
}

std::vector<setting> settings() {
  std::vector<setting> ss;
  for (int g = 0; g < 3; ++g) {  // uniform, shift 3, beta spacing
    setting s;
    s.name = g == 0 ? "flow toy, uniform" : g == 1 ? "flow toy, shift 3" : "flow toy, beta spacing";
    s.mixture = false;
    s.grid =
        g == 0 ? std::function<vec(int)>(uniform)
        : g == 1
            ? std::function<vec(int)>([](int n) { return stork_test::shifted_grid(std::size_t(n), 3.0); })
            : std::function<vec(int)>(
                  [](int n) { return stork::flow_sigmas(n, {.spacing = stork::sigma_spacing::beta}); });
    s.model = stork_test::flow_toy;
    s.start = [](double) { return vec{2.0}; };
    s.error = [](const vec& x, double) { return std::abs(x[0] - stork_test::flow_toy_exact(0.0)); };
    ss.push_back(s);
  }
  {
    setting s;
    s.name = "one Gaussian, uniform";
    s.mixture = false;
    s.grid = uniform;
    const gaussian_mixture g = stork_test::single_gaussian(1.0, 2.0);
    s.model = [g](const vec& x, double t, vec& v) { g.flow_velocity(x, t, v); };
    s.start = [](double) { return vec{0.4}; };
    s.error = [](const vec& x, double) {
      return std::abs(x[0] - stork_test::gaussian_flow_map(1.0, 2.0, 0.4, 1.0, 0.0));
    };
    ss.push_back(s);
  }
  const gaussian_mixture blobs = stork_test::three_blobs(), ring = ring8(),
                         d64 = stork_test::random_mixture(64, {0.5, 0.3, 0.4, 0.2}, 5);
  unsigned seed = 10;
  for (flow_grid fg : {flow_grid::fm, flow_grid::uf, flow_grid::beta})
    for (double shift : {1.0, 3.0}) {
      const std::string grid = std::string(fg == flow_grid::fm   ? "flow_sigmas"
                                           : fg == flow_grid::uf ? "use_flow_sigmas"
                                                                 : "flow_sigmas beta") +
                               ", shift " + (shift == 1.0 ? "1" : "3");
      ss.push_back(mixture("flow blobs, " + grid, blobs, false, shift, fg, 400, seed++));
      ss.push_back(mixture("flow ring8, " + grid, ring, false, shift, fg, 400, seed++));
      ss.push_back(mixture("flow d64, " + grid, d64, false, shift, fg, 400, seed++));
    }
  ss.push_back(mixture("VE blobs, karras", blobs, true, 1.0, flow_grid::fm, 400, seed++));
  ss.push_back(mixture("VE ring8, karras", ring, true, 1.0, flow_grid::fm, 400, seed++));
  ss.push_back(mixture("VE d64, karras", d64, true, 1.0, flow_grid::fm, 400, seed++));
  return ss;
}

/// The most intervals whose calls fit `budget` (0: none).
int intervals_for(const config& c, int k, const setting& s, int budget) {
  const auto zero = [](const vec&, double, vec& v) { std::fill(v.begin(), v.end(), 0.0); };
  int best = 0;
  for (int n = 1; n <= budget; ++n) {
    vec x{0.1};
    if (c.run[k](zero, s.ve, x, s.grid(n)).nfe <= std::size_t(budget)) best = n;
  }
  return best;
}

/// A group of mixture settings, by name.
using group = std::function<bool(const std::string&)>;
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

/// Geometric mean of a/b over the mixture settings of group `in`.
double geo_mean(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b,
                const std::vector<setting>& ss, const group& in, std::size_t bi) {
  double sum = 0;
  int n = 0;
  for (std::size_t si = 0; si < ss.size(); ++si) {
    if (!ss[si].mixture || !in(ss[si].name)) continue;
    sum += std::log(a[si][bi] / b[si][bi]);
    ++n;
  }
  return std::exp(sum / n);
}

}  // namespace

int main(int argc, char** argv) {
  std::FILE* csv = nullptr;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--csv") == 0) csv = std::fopen(argv[i + 1], "w");
  if (csv) std::fprintf(csv, "setting,config,budget,startup,intervals,nfe,error\n");
  const char* startup_name[3] = {"multistep", "runge_kutta", "automatic"};
  const std::vector<config> cs = configs();
  const std::vector<setting> ss = settings();
  // err[c][k][s][b]: configuration, start-up, setting, budget.
  std::vector<std::vector<std::vector<std::vector<double>>>> err(
      cs.size(), std::vector<std::vector<std::vector<double>>>(
                     3, std::vector<std::vector<double>>(ss.size(), std::vector<double>(budgets.size()))));
  for (std::size_t si = 0; si < ss.size(); ++si) {
    const setting& s = ss[si];
    std::fprintf(stderr, "%s\n", s.name.c_str());
    for (std::size_t ci = 0; ci < cs.size(); ++ci)
      for (std::size_t bi = 0; bi < budgets.size(); ++bi)
        for (int k = 0; k < 3; ++k) {
          const int n = intervals_for(cs[ci], k, s, budgets[bi]);
          const vec grid = s.grid(n);
          vec x = s.start(grid.front());
          const std::size_t nfe = cs[ci].run[k](s.model, s.ve, x, grid).nfe;
          err[ci][std::size_t(k)][si][bi] = s.error(x, grid.front());
          if (csv)
            std::fprintf(csv, "\"%s\",%s,%d,%s,%d,%zu,%.6e\n", s.name.c_str(), cs[ci].name.c_str(),
                         budgets[bi], startup_name[k], n, nfe, err[ci][std::size_t(k)][si][bi]);
        }
  }
  auto header = [](const char* first) {
    std::printf("| %s |", first);
    for (int b : budgets) std::printf(" %d |", b);
    std::printf("\n|---|");
    for (std::size_t i = 0; i < budgets.size(); ++i) std::printf("---:|");
    std::printf("\n");
  };
  const group all = [](const std::string&) { return true; },
              full =
                  [](const std::string&s) { return (has(s, "shift 1") && !has(s, "beta")) || has(s, "VE"); },
              shift1 = [](const std::string&s) { return has(s, "shift 1") && !has(s, "beta"); },
              shift3 = [](const std::string&s) { return has(s, "shift 3") && !has(s, "beta"); },
              beta = [](const std::string&s) { return has(s, "beta"); },
              ve = [](const std::string&s) { return has(s, "VE"); };
  const std::pair<const char*, group> groups[] = {
      {"all 21 mixture settings", all},
      {"a full-size first step (9): flow at shift 1 on flow_sigmas and use_flow_sigmas, VE", full},
      {"flow, shift 1, flow_sigmas and use_flow_sigmas (6)", shift1},
      {"flow, shift 3, flow_sigmas and use_flow_sigmas (6)", shift3},
      {"flow, beta-spaced flow_sigmas, shift 1 and 3 (6)", beta},
      {"VE, karras (3)", ve}};
  std::printf("# STORK's start-up against NFE (bench/startup.cpp)\n");
  for (std::size_t ci = 0; ci < cs.size(); ++ci) {
    std::printf(
        "\n## %s: error of multistep / error of runge_kutta at equal NFE (> 1: runge_kutta better)\n\n",
        cs[ci].name.c_str());
    header("geometric mean over / NFE");
    for (const auto& [label, in] : groups) {
      std::printf("| %s |", label);
      for (std::size_t bi = 0; bi < budgets.size(); ++bi)
        std::printf(" %.2f |", geo_mean(err[ci][0], err[ci][1], ss, in, bi));
      std::printf("\n");
    }
    for (std::size_t si = 0; si < ss.size(); ++si) {
      if (ss[si].mixture) continue;
      std::printf("| %s |", ss[si].name.c_str());
      for (std::size_t bi = 0; bi < budgets.size(); ++bi)
        std::printf(" %.3g |", err[ci][0][si][bi] / err[ci][1][si][bi]);
      std::printf("\n");
    }
    for (int other = 0; other < 2; ++other) {  // the rule against always one start-up
      std::printf("| automatic / %s, all mixtures (< 1: the rule is better) |", startup_name[other]);
      for (std::size_t bi = 0; bi < budgets.size(); ++bi)
        std::printf(" %.2f |", geo_mean(err[ci][2], err[ci][std::size_t(other)], ss, all, bi));
      std::printf("\n");
    }
  }
  std::printf(
      "\n## Per setting: the smallest NFE from which runge_kutta is at least as accurate at every larger "
      "NFE up to 100\n\n| setting |");
  for (const config& c : cs) std::printf(" %s |", c.name.c_str());
  std::printf("\n|---|");
  for (std::size_t i = 0; i < cs.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (std::size_t si = 0; si < ss.size(); ++si) {
    std::printf("| %s |", ss[si].name.c_str());
    for (std::size_t ci = 0; ci < cs.size(); ++ci) {
      std::size_t from = budgets.size();
      while (from > 0 && err[ci][0][si][from - 1] >= err[ci][1][si][from - 1]) --from;
      std::printf(" %s |", from == budgets.size() ? "never" : std::to_string(budgets[from]).c_str());
    }
    std::printf("\n");
  }
  if (csv) std::fclose(csv);
  return 0;
}
