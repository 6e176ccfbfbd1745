// Samples the trained flow_mlp (a real network, trained by train.cpp on two moons) with STORK and the
// baselines at several model-call budgets, and measures how close the samples are to the data.
//
//   flow_mlp_demo [output dir, default .] [weights file, default the committed one] [samples, default 1000]
//
// Writes <dir>/flow_mlp_demo.csv (method, grid, steps, target NFE, actual NFE, distances) and one SVG per
// method (<dir>/flow_mlp_<method>.svg: held-out data, then the samples at each budget).
//
// Every method runs on the grid it is run on in practice, as in bench/quality (docs/results/README.md), at
// shift 1: FM = `flow_sigmas` (diffusers' FlowMatchEulerDiscreteScheduler, with its σ_min tail: Euler,
// Heun, and the STORK reference variants, as the paper's code runs them), B = the same with
// use_beta_sigmas (`flow_sigmas` with `.spacing = stork::sigma_spacing::beta`: STORK's flow grid,
// docs/flow_grid.md), UF = `use_flow_sigmas` (DPM-Solver++ and UniPC with use_flow_sigmas=True), U =
// σ = 1 − i/N (ComfyUI's "simple" scheduler: iPNDM). A grid that starts below σ = 1 (UF: 0.999) starts
// from the same noise there, as diffusers does.
//
// Distance: sliced 2-Wasserstein distance SW2 = (mean over directions θ of W2²(θ·X, θ·Y))^½ between the
// samples and a held-out two-moons set of the same size (seed 2), over 128 evenly spaced directions in
// [0, π); the 1-D W2 of equal-size sets is the distance of the sorted projections. The noise floor is
// the SW2 between two independent held-out sets (seeds 2 and 3): differences below it are not
// resolved. "rms to ODE" is the root-mean-square distance of each sample to the solution of the same
// ODE from the same noise (classic RK4 on 64 steps refined toward σ = 0): the sampler's own error,
// separated from the model's.
#include <stork/eigen.hpp>
#include <stork/stork.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "flow_mlp.hpp"

#ifndef FLOW_MLP_WEIGHTS
#define FLOW_MLP_WEIGHTS "weights.txt"
#endif

namespace {

using mat = Eigen::MatrixXd;
using field = std::function<void(const mat&, double, mat&)>;

/// The flow grids of the comparison (file comment), at shift 1; grid_name is bench/quality's name.
enum class grid_kind { fm, beta, uf, u };
const char* grid_label(grid_kind g) {
  return g == grid_kind::fm ? "FM" : g == grid_kind::beta ? "B" : g == grid_kind::uf ? "UF" : "U";
}
const char* grid_name(grid_kind g) {
  return g == grid_kind::fm     ? "flow_sigmas"
         : g == grid_kind::beta ? "flow_beta"
         : g == grid_kind::uf   ? "use_flow_sigmas"
                                : "uniform";
}

std::vector<double> grid(grid_kind g, int steps) {
  switch (g) {
    case grid_kind::fm:
      return stork::flow_sigmas(steps, {.shift = 1.0});
    case grid_kind::beta:
      return stork::flow_sigmas(steps, {.shift = 1.0, .spacing = stork::sigma_spacing::beta});
    case grid_kind::uf:
      return stork::use_flow_sigmas(steps, 1.0);
    case grid_kind::u:
      break;
  }
  std::vector<double> sigmas(static_cast<std::size_t>(steps) + 1);
  for (int i = 0; i <= steps; ++i) sigmas[static_cast<std::size_t>(i)] = 1.0 - static_cast<double>(i) / steps;
  sigmas.back() = 0.0;
  return sigmas;
}

/// A sampler in the comparison: its name, its grid and a call of stork::integrate with it.
struct method_entry {
  std::string name;
  grid_kind g;
  std::function<stork::stats(const field&, mat&, const std::vector<double>&)> run;
};

template <class Method>
method_entry entry(std::string name, grid_kind g, Method m) {
  return {std::move(name), g, [m](const field& f, mat& x, const std::vector<double>& sigmas) {
            return stork::integrate(m, f, x, sigmas);
          }};
}

/// THE list of compared samplers: append one line to add a method.
std::vector<method_entry> compared_methods() {
  using stork::variant;
  constexpr grid_kind stork_grid = grid_kind::beta;  // STORK's flow grid (docs/flow_grid.md)
  return {
      entry("stork4_s5", stork_grid, stork::stork4{.stages = 5}),
      entry("stork4_s50", stork_grid, stork::stork4{.stages = 50}),
      entry("stork4_reference_s5", grid_kind::fm, stork::stork4{.stages = 5, .variant = variant::reference}),
      entry("stork2_s50", stork_grid, stork::stork2{.stages = 50}),
      entry("stork2_reference_s50", grid_kind::fm,
            stork::stork2{.stages = 50, .variant = variant::reference}),
      entry("euler", grid_kind::fm, stork::euler{}),
      entry("heun", grid_kind::fm, stork::heun{}),
      entry("dpmpp_2m", grid_kind::uf, stork::dpmpp_2m{}),
      entry("dpmpp_3m", grid_kind::uf, stork::dpmpp_3m{}),
      entry("unipc", grid_kind::uf, stork::unipc{}),
      entry("ipndm", grid_kind::u, stork::ipndm{}),
  };
}

const std::vector<int> nfe_budgets{5, 8, 10, 15, 20, 30, 50};
constexpr int directions = 128;

/// The step count whose actual NFE is closest to `budget` (ties: the cheaper one), found by running the
/// method on a zero field with one sample; {steps, nfe}, or {0, 0} if no step count works.
std::pair<int, std::size_t> steps_for(const method_entry& m, int budget) {
  const field zero = [](const mat&, double, mat& v) { v.setZero(); };
  std::pair<int, std::size_t> best{0, 0};
  for (int steps = 1; steps <= budget; ++steps) {
    mat x = mat::Zero(2, 1);
    std::size_t nfe = 0;
    try {
      nfe = m.run(zero, x, grid(m.g, steps)).nfe;
    } catch (const stork::error&) {
      continue;  // e.g. the reference variant needs at least 2 intervals
    }
    const auto dist = [budget](std::size_t n) { return std::abs(static_cast<long>(n) - budget); };
    if (best.first == 0 || dist(nfe) < dist(best.second)) best = {steps, nfe};
    if (nfe >= static_cast<std::size_t>(budget)) break;
  }
  return best;
}

/// Sorted projections of a 2×n point set on the `directions` directions θ_k = π(k + ½)/directions.
std::vector<std::vector<double>> sorted_projections(const mat& a) {
  std::vector<std::vector<double>> p(directions, std::vector<double>(static_cast<std::size_t>(a.cols())));
  for (int k = 0; k < directions; ++k) {
    const double th = std::numbers::pi * (k + 0.5) / directions, c = std::cos(th), s = std::sin(th);
    std::vector<double>& pk = p[static_cast<std::size_t>(k)];
    for (Eigen::Index j = 0; j < a.cols(); ++j) pk[static_cast<std::size_t>(j)] = c * a(0, j) + s * a(1, j);
    std::sort(pk.begin(), pk.end());
  }
  return p;
}

/// Sliced 2-Wasserstein distance between two point sets of equal size, from their sorted projections:
/// SW2² = mean over directions of the 1-D W2², which for equal sizes pairs the sorted values.
double sliced_w2(const std::vector<std::vector<double>>& pa, const std::vector<std::vector<double>>& pb) {
  double sum = 0.0;
  for (std::size_t k = 0; k < pa.size(); ++k) {
    double w = 0.0;
    for (std::size_t j = 0; j < pa[k].size(); ++j) w += (pa[k][j] - pb[k][j]) * (pa[k][j] - pb[k][j]);
    sum += w / static_cast<double>(pa[k].size());
  }
  return std::sqrt(sum / static_cast<double>(pa.size()));
}

/// Classic fourth-order Runge–Kutta from σ = sigma0 to 0 on σ_i = sigma0·(1 − i/steps)², steps that shrink
/// toward σ = 0 where the trained velocity is sharpest. Written here, independent of stork.
mat rk4(const field& f, mat x, int steps, double sigma0 = 1.0) {
  mat k1(x.rows(), x.cols()), k2 = k1, k3 = k1, k4 = k1;
  auto sigma = [steps, sigma0](int i) { return sigma0 * std::pow(1.0 - static_cast<double>(i) / steps, 2); };
  for (int i = 0; i < steps; ++i) {
    const double t = sigma(i), h = sigma(i + 1) - t;
    f(x, t, k1);
    f(x + 0.5 * h * k1, t + 0.5 * h, k2);
    f(x + 0.5 * h * k2, t + 0.5 * h, k3);
    f(x + h * k3, t + h, k4);
    x += (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
  }
  return x;
}

double rms(const mat& a, const mat& b) { return std::sqrt((a - b).colwise().squaredNorm().mean()); }

/// One SVG: a row of panels (held-out data, then one per budget), at most 1000 points each.
void write_svg(const std::filesystem::path& path, const std::string& title, const mat& data,
               const std::vector<std::pair<std::string, mat>>& panels) {
  const int w = 200, h = 160, pad = 24;
  const int n = static_cast<int>(panels.size()) + 1;
  std::ofstream os(path);
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << n * w << "' height='" << h + pad + 8
     << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
     << "<text x='6' y='15'>" << title << "</text>\n";
  auto panel = [&](int i, const std::string& label, const mat& pts, const char* colour) {
    const int x0 = i * w;
    os << "<rect x='" << x0 + 4 << "' y='" << pad << "' width='" << w - 8 << "' height='" << h - 8
       << "' fill='none' stroke='#bbb'/>\n<text x='" << x0 + 10 << "' y='" << pad + 16 << "'>" << label
       << "</text>\n<path stroke='" << colour << "' stroke-width='2.2' stroke-linecap='round' d='";
    char buf[48];
    for (Eigen::Index j = 0; j < std::min<Eigen::Index>(pts.cols(), 1000); ++j) {
      // Data window [−2, 2] × [−1.3, 1.3] (the moons lie in about [−1.6, 1.6] × [−0.85, 0.85]).
      const double px = x0 + 4 + (pts(0, j) + 2.0) / 4.0 * (w - 8),
                   py = pad + (1.3 - pts(1, j)) / 2.6 * (h - 8);
      if (px < x0 + 4 || px > x0 + w - 4 || py < pad || py > pad + h - 8) continue;
      std::snprintf(buf, sizeof buf, "M%.1f %.1fh0", px, py);
      os << buf;
    }
    os << "'/>\n";
  };
  panel(0, "held-out data", data, "#555");
  for (int i = 1; i < n; ++i)
    panel(i, panels[static_cast<std::size_t>(i - 1)].first, panels[static_cast<std::size_t>(i - 1)].second,
          "#c33");
  os << "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
  const std::filesystem::path weights = argc > 2 ? argv[2] : FLOW_MLP_WEIGHTS;
  const Eigen::Index n = argc > 3 ? std::stol(argv[3]) : 1000;
  std::filesystem::create_directories(dir);

  const flow_mlp::model model = flow_mlp::model::load(weights);
  std::size_t model_calls = 0;
  flow_mlp::model::workspace work;
  const field f = [&](const mat& x, double sigma, mat& v) {
    ++model_calls;
    model(x, sigma, v, work);
  };
  const mat held_out = flow_mlp::two_moons(n, 2);
  const auto held_proj = sorted_projections(held_out);
  auto sw_to_data = [&](const mat& x) { return sliced_w2(sorted_projections(x), held_proj); };
  flow_mlp::rng noise_rng(4);
  const mat noise = noise_rng.normal_matrix(2, n);  // x at the grid's first σ, the same for every method
  const double floor = sw_to_data(flow_mlp::two_moons(n, 3));

  // The ODE's solution from this noise, for the "rms to ODE" column: classic RK4 on 64 steps; the same on
  // 32 steps estimates its error (≈ difference / 15 for a fourth-order method). UF starts at σ = 0.999:
  // its runs are measured against the ODE from there.
  const mat exact = rk4(f, noise, 64), check = rk4(f, noise, 32);
  const double uf_start = grid(grid_kind::uf, 1).front();
  const mat exact_uf = rk4(f, noise, 64, uf_start);
  auto exact_for = [&](grid_kind g) -> const mat& { return g == grid_kind::uf ? exact_uf : exact; };

  std::printf(
      "flow_mlp demo: %lld parameters (%s), %lld samples, shift 1; each method on its own grid: FM = "
      "flow_sigmas, B = flow_sigmas with beta spacing, UF = use_flow_sigmas (from σ = %.3f), U = uniform "
      "σ = 1 − i/N\n",
      static_cast<long long>(model.parameter_count()), weights.filename().string().c_str(),
      static_cast<long long>(n), uf_start);
  std::printf(
      "SW2 over %d directions vs held-out two moons (%lld points, seed 2); noise floor (a second "
      "held-out set, seed 3): %.4f\n",
      directions, static_cast<long long>(n), floor);
  std::printf(
      "SW2 of the ODE's solution: %.4f (the model's own error); that solution's rms error: %.1e (RK4, "
      "64 steps: rms(RK4 64 − RK4 32)/15)\n\n",
      sw_to_data(exact), rms(exact, check) / 15.0);

  std::ofstream csv(dir / "flow_mlp_demo.csv");
  csv << "method,grid,steps,nfe_budget,nfe,sw2,rms_to_ode,noise_floor\n";
  std::printf("%-27s", "SW2 (actual NFE)");
  for (int b : nfe_budgets) std::printf("  NFE %-10d", b);
  std::printf("\n");
  // Sanity of the run itself: the trained model is close to the data, the reference solution is accurate.
  bool ok = std::isfinite(floor) && sw_to_data(exact) < 2.0 * floor && rms(exact, check) / 15.0 < 1e-4;
  std::vector<std::pair<std::string, std::vector<double>>> rms_rows;
  for (const method_entry& m : compared_methods()) {
    const std::string label = m.name + " (" + grid_label(m.g) + ")";
    std::printf("%-27s", label.c_str());
    std::vector<std::pair<std::string, mat>> panels;
    std::vector<double> rms_row;
    for (int budget : nfe_budgets) {
      const auto [steps, nfe_expected] = steps_for(m, budget);
      if (steps == 0) {
        std::printf("  %-14s", "n/a");
        rms_row.push_back(NAN);
        continue;
      }
      mat x = noise;
      const std::size_t before = model_calls;
      const stork::stats r = m.run(f, x, grid(m.g, steps));
      const double sw = sw_to_data(x), e = rms(x, exact_for(m.g));
      ok = ok && r.nfe == model_calls - before && r.nfe == nfe_expected && std::isfinite(sw);
      std::printf("  %.4f (%2zu)   ", sw, r.nfe);
      csv << m.name << ',' << grid_name(m.g) << ',' << steps << ',' << budget << ',' << r.nfe << ',' << sw
          << ',' << e << ',' << floor << '\n';
      panels.emplace_back("NFE " + std::to_string(r.nfe) + "  SW2 " + std::to_string(sw).substr(0, 5), x);
      rms_row.push_back(e);
    }
    std::printf("\n");
    ok = ok && rms_row.back() < rms_row.front();  // more model calls, closer to the ODE's solution
    write_svg(dir / ("flow_mlp_" + m.name + ".svg"),
              m.name + " on " + grid_name(m.g) + " (shift 1), the trained flow_mlp (two moons)", held_out,
              panels);
    rms_rows.emplace_back(label, rms_row);
  }
  std::printf("\n%-27s", "rms to ODE");
  for (int b : nfe_budgets) std::printf("  NFE %-10d", b);
  std::printf("\n");
  for (const auto& [name, row] : rms_rows) {
    std::printf("%-27s", name.c_str());
    for (double e : row) std::printf("  %-14.2e", e);
    std::printf("\n");
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n%zu model calls in %.1f s; wrote %s and one SVG per method in %s\n", model_calls, secs,
              "flow_mlp_demo.csv", dir.string().c_str());
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "flow_mlp_demo: %s\n", e.what());
  return 1;
}
