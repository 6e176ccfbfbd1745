// Quality against model calls on problems whose velocity is exact (docs/test-problems.md): rectified-flow and
// VP Gaussian mixtures in d = 2, 64 and 3072, one stiff, with shift 1 and 3.
//
// For every method and NFE budget in {5, 6, 8, 10, 15, 20, 30, 40, 50} it reports
//  (a) terminal error: RMS over samples of |x − x_ref|/√d against a high-accuracy solution from the same
//      noise (ROCK4 m = 5, 300 steps graded towards both ends; 120 for d = 3072);
//  (b) SW2: sliced Wasserstein-2 distance (64 random directions) between the samples and as many fresh
//      samples of the true mixture; `sw2_floor` is the same distance between two true sample sets;
//  (c) the smallest NFE reaching a median terminal error of 1e-2 and 1e-3 (log–log interpolation).
//  Terminal errors are per sample, |x − x_ref|/√d; the CSV has their RMS and their median (the RMS is
//  dominated by the few samples that end in another mixture component than the reference).
// VP problems use vp_epsilon on uniform τ grids from 1 to ε_stop = 1e-3: STORK ends with its Tweedie denoise
// and is compared with the exactly denoised reference; other methods stop at ε_stop and are compared there.
//
// Usage: quality [OUT_DIR] [--quick]   writes OUT_DIR/quality.csv, nfe_to_target.csv, samples_2d.csv.
#include <stork/stork.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "support/gaussian_mixture.hpp"

namespace {

using vec = std::vector<double>;
using stork_test::gaussian_mixture;

struct problem {
  std::string name;
  gaussian_mixture gm;
  bool vp = false;
  double shift = 1.0;
  std::size_t samples = 2000;
};

gaussian_mixture random_mixture(std::size_t dim, const std::vector<double>& spreads, unsigned seed) {
  gaussian_mixture g{dim, {}, {}, spreads};
  const vec z = stork_test::fixed_noise(dim * spreads.size(), seed);
  for (std::size_t k = 0; k < spreads.size(); ++k) {
    g.weight.push_back(1.0 / double(spreads.size()));
    g.mean.emplace_back(z.begin() + long(k * dim), z.begin() + long((k + 1) * dim));
  }
  return g;
}

/// A method, run through integrate with a flow field or with an ε field.
struct method_entry {
  std::string name;
  std::function<stork::stats(const gaussian_mixture&, vec&, const vec&)> flow;
  std::function<stork::stats(const gaussian_mixture&, vec&, const vec&)> vp;
  std::function<std::size_t(const vec&, bool)> nfe;  // model calls on a grid, without running the model
};

template <class M>
method_entry entry(std::string name, M m) {
  method_entry e;
  e.name = std::move(name);
  e.flow = [m](const gaussian_mixture& g, vec& x, const vec& grid) {
    return stork::integrate(
        m, [&g](const vec& y, double s, vec& v) { g.flow_velocity(y, s, v); }, x, grid);
  };
  e.vp = [m](const gaussian_mixture& g, vec& x, const vec& grid) {
    const stork::vp_linear vp{};
    return stork::integrate(
        m, stork::vp_epsilon([&g, vp](const vec& y, double t, vec& o) { g.epsilon(vp, y, t, o); }, vp), x,
        grid);
  };
  e.nfe = [m](const vec& grid, bool vp) -> std::size_t {
    vec x{0.1};
    auto zero = [](const vec&, double, vec& v) { v[0] = 0.0; };
    try {
      if (vp) return stork::integrate(m, stork::vp_epsilon(zero, stork::vp_linear{}), x, grid).nfe;
      return stork::integrate(m, zero, x, grid).nfe;
    } catch (const stork::error&) {
      return 0;  // e.g. too few grid points for the reference variant
    }
  };
  return e;
}

std::vector<method_entry> methods() {
  using stork::variant;
  return {
      entry("euler", stork::euler{}),
      entry("heun", stork::heun{}),
      entry("stork2_s50", stork::stork2{.stages = 50}),
      entry("stork2_s50_reference", stork::stork2{.stages = 50, .variant = variant::reference}),
      entry("stork4_s5", stork::stork4{.stages = 5}),
      entry("stork4_s50", stork::stork4{.stages = 50}),
      entry("stork4_s5_d3", stork::stork4{.stages = 5, .derivative_order = 3}),
      entry("stork4_s5_reference", stork::stork4{.stages = 5, .variant = variant::reference}),
      entry("stork4_s50_reference", stork::stork4{.stages = 50, .variant = variant::reference}),
      entry("dpmpp_2m", stork::dpmpp_2m{}),
      entry("dpmpp_3m", stork::dpmpp_3m{}),
      entry("dpmpp_3m_diffusers", stork::dpmpp_3m{.diffusers_parity = true}),
      entry("unipc_2", stork::unipc{.order = 2}),
      entry("unipc_3", stork::unipc{.order = 3}),
      entry("ipndm", stork::ipndm{}),
  };
}

constexpr double vp_start = 1.0, vp_stop = 1e-3;

/// Flow: diffusers' sigmas with the problem's shift. VP: uniform τ from 1 to ε_stop = 1e-3, the same
/// interval for every budget (the reference's vp_taus grid starts at (N−1)/N, which moves with N).
vec grid_for(const problem& p, int steps) {
  if (!p.vp) return stork::flow_sigmas(steps, {.shift = p.shift});
  vec g(std::size_t(steps) + 1);
  for (std::size_t i = 0; i < g.size(); ++i)
    g[i] = vp_start + (vp_stop - vp_start) * double(i) / double(steps);
  return g;
}

/// Exact Tweedie denoise x̂₀ = E[x0 | x_τ] of the mixture (the target of STORK's final denoise).
vec posterior_mean_vp(const gaussian_mixture& g, const vec& x, double tau) {
  const stork::vp_linear vp{};
  vec e(x.size()), out(x.size());
  g.epsilon(vp, x, tau, e);
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = (x[i] - vp.sigma(tau) * e[i]) / vp.alpha(tau);
  return out;
}

vec reference_solution(const problem& p, const vec& noise) {
  vec x = noise;
  const std::size_t n = p.gm.dim > 1000 ? 120 : 300;  // ROCK4 steps (fewer for the expensive d = 3072 field)
  vec grid(n + 1);
  const double t0 = p.vp ? vp_start : 1.0, t1 = p.vp ? vp_stop : 0.0;
  for (std::size_t i = 0; i <= n; ++i) {
    const double u = (1.0 + std::cos(std::numbers::pi * double(i) / double(n))) / 2.0;  // graded at both ends
    grid[i] = t1 + (t0 - t1) * u;
  }
  const stork::rock4 m{.stages = 5};
  if (p.vp) {
    const stork::vp_linear vp{};
    stork::integrate(
        m, stork::vp_epsilon([&p, vp](const vec& y, double t, vec& o) { p.gm.epsilon(vp, y, t, o); }, vp), x,
        grid);
  } else {
    stork::integrate(
        m, [&p](const vec& y, double s, vec& v) { p.gm.flow_velocity(y, s, v); }, x, grid);
  }
  return x;
}

vec true_samples(const gaussian_mixture& g, std::size_t n, unsigned seed) {
  const vec z = stork_test::fixed_noise(n * (g.dim + 1), seed);
  vec out(n * g.dim);
  for (std::size_t p = 0; p < n; ++p) {
    const double u = 0.5 * (1.0 + std::erf(z[p * (g.dim + 1)] / std::sqrt(2.0)));  // uniform from a normal
    std::size_t k = 0;
    for (double acc = g.weight[0]; k + 1 < g.weight.size() && u > acc; acc += g.weight[++k]) {
    }
    for (std::size_t i = 0; i < g.dim; ++i)
      out[p * g.dim + i] = g.mean[k][i] + g.spread[k] * z[p * (g.dim + 1) + 1 + i];
  }
  return out;
}

/// Sliced Wasserstein-2 between two equally sized point sets (64 fixed random directions).
double sliced_w2(const vec& a, const vec& b, std::size_t dim) {
  const std::size_t n = a.size() / dim, dirs = 64;
  const vec theta = stork_test::fixed_noise(dirs * dim, 99);
  vec pa(n), pb(n);
  double total = 0;
  for (std::size_t d = 0; d < dirs; ++d) {
    double norm = 0;
    for (std::size_t i = 0; i < dim; ++i) norm += theta[d * dim + i] * theta[d * dim + i];
    norm = std::sqrt(norm);
    for (std::size_t p = 0; p < n; ++p) {
      double sa = 0, sb = 0;
      for (std::size_t i = 0; i < dim; ++i)
        sa += a[p * dim + i] * theta[d * dim + i], sb += b[p * dim + i] * theta[d * dim + i];
      pa[p] = sa / norm, pb[p] = sb / norm;
    }
    std::sort(pa.begin(), pa.end());
    std::sort(pb.begin(), pb.end());
    double s = 0;
    for (std::size_t p = 0; p < n; ++p) s += (pa[p] - pb[p]) * (pa[p] - pb[p]);
    total += s / double(n);
  }
  return std::sqrt(total / double(dirs));
}

/// Per-sample errors |x_p − ref_p|/√d: their RMS and their median. The RMS is dominated by the few samples
/// that end in another mixture component than the reference; the median shows the typical sample.
std::pair<double, double> errors(const vec& a, const vec& b, std::size_t dim) {
  const std::size_t n = a.size() / dim;
  vec per(n);
  double total = 0;
  for (std::size_t p = 0; p < n; ++p) {
    double s = 0;
    for (std::size_t i = 0; i < dim; ++i)
      s += (a[p * dim + i] - b[p * dim + i]) * (a[p * dim + i] - b[p * dim + i]);
    per[p] = std::sqrt(s / double(dim));
    total += s / double(dim);
  }
  std::nth_element(per.begin(), per.begin() + long(n / 2), per.end());
  return {std::sqrt(total / double(n)), per[n / 2]};
}

/// Smallest NFE reaching `target` by log–log interpolation between measured points; −1 if never.
double nfe_to_reach(const std::vector<std::pair<double, double>>& pts, double target) {
  for (std::size_t i = 0; i < pts.size(); ++i) {
    if (pts[i].second > target || !std::isfinite(pts[i].second)) continue;
    if (i == 0) return pts[0].first;
    const auto [n0, e0] = pts[i - 1];
    const auto [n1, e1] = pts[i];
    if (!std::isfinite(e0)) return n1;
    const double f = (std::log(target) - std::log(e0)) / (std::log(e1) - std::log(e0));
    return std::exp(std::log(n0) + f * (std::log(n1) - std::log(n0)));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = ".";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else
      out_dir = argv[i];
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<problem> problems;
  const gaussian_mixture blobs = stork_test::three_blobs();
  gaussian_mixture blobs_wide = blobs;
  blobs_wide.spread = {0.3, 0.2, 0.25};
  gaussian_mixture blobs_stiff = blobs;
  blobs_stiff.spread = {0.02, 0.05, 0.01};
  for (double shift : {1.0, 3.0}) {
    problems.push_back({"rf_d2", blobs_wide, false, shift});
    problems.push_back({"rf_d2_stiff", blobs_stiff, false, shift});
    problems.push_back({"rf_d64", random_mixture(64, {0.5, 0.3, 0.4, 0.2}, 5), false, shift});
    // CIFAR-sized: 1000 samples (not 2000) to keep the whole run within minutes on 2 cores.
    if (!quick)
      problems.push_back({"rf_d3072", random_mixture(3072, {0.5, 0.3, 0.4, 0.2}, 6), false, shift, 1000});
  }
  problems.push_back({"vp_d2", blobs_wide, true, 1.0});
  problems.push_back({"vp_d64", random_mixture(64, {0.5, 0.3, 0.4, 0.2}, 5), true, 1.0});
  if (quick)
    for (auto& p : problems) p.samples = 200;

  const std::vector<int> budgets{5, 6, 8, 10, 15, 20, 30, 40, 50};
  const std::vector<method_entry> ms = methods();
  std::FILE* csv = std::fopen((out_dir + "/quality.csv").c_str(), "w");
  std::FILE* tgt = std::fopen((out_dir + "/nfe_to_target.csv").c_str(), "w");
  std::FILE* sm = std::fopen((out_dir + "/samples_2d.csv").c_str(), "w");
  if (!csv || !tgt || !sm) {
    std::fprintf(stderr, "quality: cannot write into %s\n", out_dir.c_str());
    return 1;
  }
  std::fprintf(csv, "problem,dim,shift,method,nfe,steps,terminal_rms,terminal_median,sw2,sw2_floor\n");
  std::fprintf(tgt, "problem,shift,method,nfe_for_median_1e-2,nfe_for_median_1e-3\n");
  std::fprintf(sm, "problem,shift,method,nfe,x,y\n");

  for (std::size_t pi = 0; pi < problems.size(); ++pi) {
    const problem& p = problems[pi];
    const std::size_t d = p.gm.dim;
    const vec noise = stork_test::fixed_noise(p.samples * d, 1000 + unsigned(pi));
    std::fprintf(stderr, "[%zu/%zu] %s shift %g: reference solution...\r", pi + 1, problems.size(),
                 p.name.c_str(), p.shift);
    const double eps_stop = vp_stop;
    vec ref = reference_solution(p, noise);
    const vec ref_denoised = p.vp ? posterior_mean_vp(p.gm, ref, eps_stop) : ref;
    const vec truth = true_samples(p.gm, p.samples, 2000 + unsigned(pi)),
              truth2 = true_samples(p.gm, p.samples, 3000 + unsigned(pi));
    const double floor = sliced_w2(truth, truth2, d);
    for (const method_entry& m : ms) {
      std::vector<std::pair<double, double>> curve;
      for (int budget : budgets) {
        int best = -1;
        std::size_t best_nfe = 0;
        for (int steps = 1; steps <= budget; ++steps) {
          const std::size_t n = m.nfe(grid_for(p, steps), p.vp);
          if (n > 0 && n <= std::size_t(budget) && n >= best_nfe) best = steps, best_nfe = n;
        }
        if (best < 0) continue;
        std::fprintf(stderr, "[%zu/%zu] %s shift %g: %-22s NFE %2zu        \r", pi + 1, problems.size(),
                     p.name.c_str(), p.shift, m.name.c_str(), best_nfe);
        vec x = noise;
        const vec grid = grid_for(p, best);
        const stork::stats st = p.vp ? m.vp(p.gm, x, grid) : m.flow(p.gm, x, grid);
        const bool denoised = p.vp && m.name.rfind("stork", 0) == 0;
        const auto [err, median] = errors(x, denoised ? ref_denoised : ref, d);
        const double sw = p.vp && !denoised ? sliced_w2(posterior_mean_vp(p.gm, x, eps_stop), truth, d)
                                            : sliced_w2(x, truth, d);
        std::fprintf(csv, "%s,%zu,%g,%s,%zu,%d,%.6e,%.6e,%.6e,%.6e\n", p.name.c_str(), d, p.shift,
                     m.name.c_str(), st.nfe, best, err, median, sw, floor);
        if (curve.empty() || curve.back().first != double(st.nfe)) curve.emplace_back(double(st.nfe), median);
        if (d == 2 && (st.nfe == 10 || st.nfe == 20))
          for (std::size_t s = 0; s < std::min<std::size_t>(p.samples, 1000); ++s)
            std::fprintf(sm, "%s,%g,%s,%zu,%.5f,%.5f\n", p.name.c_str(), p.shift, m.name.c_str(), st.nfe,
                         x[2 * s], x[2 * s + 1]);
      }
      std::fprintf(tgt, "%s,%g,%s,%.1f,%.1f\n", p.name.c_str(), p.shift, m.name.c_str(),
                   nfe_to_reach(curve, 1e-2), nfe_to_reach(curve, 1e-3));
    }
    if (!quick || pi == 0) {
      // The true mixture as its own "method" for the scatter plots.
      for (std::size_t s = 0; d == 2 && s < std::min<std::size_t>(p.samples, 1000); ++s)
        std::fprintf(sm, "%s,%g,%s,%d,%.5f,%.5f\n", p.name.c_str(), p.shift, "true", 0, truth[2 * s],
                     truth[2 * s + 1]);
    }
  }
  std::fclose(csv);
  std::fclose(tgt);
  std::fclose(sm);
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - start;
  std::fprintf(
      stderr,
      "\nquality: %zu problems, %zu methods in %.0f s; wrote %s/{quality,nfe_to_target,samples_2d}.csv\n",
      problems.size(), ms.size(), dt.count(), out_dir.c_str());
  return 0;
}
