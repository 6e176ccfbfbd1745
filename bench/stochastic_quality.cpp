// Distribution quality of the stochastic samplers against model calls, beside the ODE samplers, in the VE
// Karras setting of Stable Diffusion / k-diffusion: σ from 14.6146 to 0.0292 (ρ = 7) then 0, start
// x = σ_max·z, the exact denoiser D(x, σ) = E[x₀ | x] of a Gaussian mixture
// (tests/support/gaussian_mixture.hpp) in d = 2 and d = 64.
//
// For every method and NFE budget in {5, 8, 10, 15, 20, 30, 50} (the largest number of steps whose model
// calls fit the budget) it reports SW2, the sliced Wasserstein-2 distance (128 random directions) between
// the samples and as many fresh samples of the true mixture. Stochastic samplers do not converge to the
// ODE's per-sample solution: only the distribution can be compared, which is what SW2 measures. Two floors
// frame it, each averaged over 4 pairs of sample sets: `sw2_floor`, the distance between two independent
// true sample sets (sampling noise, mostly the ~√n difference in component counts), and `sw2_grid_floor`,
// the distance from the true mixture of exact samples at σ_min passed through the final denoise
// x = D(x, σ_min) — where a perfect sampler on these grids ends (they stop at σ_min = 0.0292, as
// k-diffusion's). All methods start from the same x = σ_max·z (not the exact marginal at σ_max: the ODE
// samplers carry that mismatch to the end, the SDE samplers forget most of it) and are compared with the
// same true sample set; the SDE samplers draw from stork::normal_noise{2024}.
//
// Usage: stochastic_quality [OUT_DIR] [--quick]   writes OUT_DIR/stochastic_quality.csv and prints a table.
#include <stork/stork.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support/gaussian_mixture.hpp"

namespace {

using vec = std::vector<double>;
using stork_test::gaussian_mixture;
using stork_test::random_mixture;

constexpr double sigma_min = 0.0292, sigma_max = 14.6146, rho = 7.0;

struct problem {
  std::string name;
  gaussian_mixture gm;
  std::size_t samples;
};

/// n samples of the mixture: a component by its weight, then its Gaussian.
vec true_samples(const gaussian_mixture& g, std::size_t n, std::uint64_t seed) {
  stork::normal_noise rng{seed};
  vec out(n * g.dim);
  for (std::size_t p = 0; p < n; ++p) {
    const double u = 0.5 * (1.0 + std::erf(rng.next() / std::sqrt(2.0)));  // uniform from a normal
    std::size_t k = 0;
    for (double acc = g.weight[0]; k + 1 < g.weight.size() && u > acc; acc += g.weight[++k]) {
    }
    for (std::size_t i = 0; i < g.dim; ++i) out[p * g.dim + i] = g.mean[k][i] + g.spread[k] * rng.next();
  }
  return out;
}

/// Sliced Wasserstein-2 between two equally sized point sets: the root mean over 128 fixed random unit
/// directions of the squared W2 distance of the projections (sorted samples).
double sliced_w2(const vec& a, const vec& b, std::size_t dim) {
  const std::size_t n = a.size() / dim, dirs = 128;
  vec theta(dirs * dim);
  stork::normal_noise{99}(theta);
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

/// A method run through integrate on the exact VE denoiser (with a seeded noise source when stochastic).
struct method_entry {
  std::string name;
  bool stochastic;
  std::function<stork::stats(const gaussian_mixture&, vec&, const vec&)> run;
  std::function<std::size_t(const vec&)> nfe;  // model calls on a grid, without the mixture
};

template <class M>
method_entry entry(std::string name, M m) {
  constexpr bool stochastic = stork::detail::is_stochastic_v<M>;
  auto go = [m](auto&& field, vec& x, const vec& sigmas) {
    if constexpr (stochastic)
      return stork::integrate(m, field, x, sigmas, stork::normal_noise{2024});
    else
      return stork::integrate(m, field, x, sigmas);
  };
  method_entry e{std::move(name), stochastic, {}, {}};
  e.run = [go](const gaussian_mixture& g, vec& x, const vec& sigmas) {
    auto den = [&g](const vec& y, double s, vec& o) {
      g.posterior_quantity(gaussian_mixture::quantity::mean, 1.0, s, y, o);
    };
    return go(stork::field(den, stork::ve{}, stork::prediction::sample), x, sigmas);
  };
  e.nfe = [go](const vec& sigmas) {
    vec x{0.1};
    auto zero = [](const vec&, double, vec& o) { o[0] = 0.0; };
    return go(stork::field(zero, stork::ve{}, stork::prediction::sample), x, sigmas).nfe;
  };
  return e;
}

std::vector<method_entry> methods() {
  using stork::sde_solver;
  return {
      entry("euler", stork::euler{}),
      entry("dpmpp_2m", stork::dpmpp_2m{}),
      entry("ipndm", stork::ipndm{}),
      entry("stork4_s5", stork::stork4{.stages = 5}),
      entry("euler_ancestral", stork::euler_ancestral{.eta = 1.0}),
      entry("dpmpp_2m_sde", stork::dpmpp_2m_sde{.eta = 1.0, .solver = sde_solver::midpoint}),
      entry("dpmpp_2m_sde_heun", stork::dpmpp_2m_sde{.eta = 1.0, .solver = sde_solver::heun}),
      entry("dpmpp_3m_sde", stork::dpmpp_3m_sde{.eta = 1.0}),
  };
}

vec karras(int steps) {
  return stork::karras_sigmas(steps, {.sigma_min = sigma_min, .sigma_max = sigma_max, .rho = rho});
}

/// Where an exact sampler on these grids ends: true samples noised to σ_min, then x = D(x, σ_min).
vec grid_floor_samples(const gaussian_mixture& g, std::size_t n, std::uint64_t seed) {
  vec x = true_samples(g, n, seed), z(x.size()), out(x.size());
  stork::normal_noise{seed + 1}(z);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += sigma_min * z[i];
  g.posterior_quantity(gaussian_mixture::quantity::mean, 1.0, sigma_min, x, out);
  return out;
}

/// Mean and range of a few SW2 values: a floor is itself a noisy estimate (the component counts of two
/// sample sets differ by about √n, which dominates SW2 at these sizes).
struct spread {
  double mean = 0, lo = 1e300, hi = 0;
};
template <class F>
spread repeat(int times, F&& f) {
  spread s;
  for (int i = 0; i < times; ++i) {
    const double v = f(std::uint64_t(i));
    s.mean += v / times, s.lo = std::min(s.lo, v), s.hi = std::max(s.hi, v);
  }
  return s;
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
  gaussian_mixture blobs = stork_test::three_blobs();
  blobs.spread = {0.3, 0.2, 0.25};
  std::vector<problem> problems{{"ve_d2", blobs, 20000},
                                {"ve_d64", random_mixture(64, {0.5, 0.3, 0.4, 0.2}, 5), 5000}};
  if (quick)
    for (auto& p : problems) p.samples = 300;
  const std::vector<int> budgets =
      quick ? std::vector<int>{5, 10} : std::vector<int>{5, 8, 10, 15, 20, 30, 50};
  const std::vector<method_entry> ms = methods();

  std::FILE* csv = std::fopen((out_dir + "/stochastic_quality.csv").c_str(), "w");
  if (!csv) {
    std::fprintf(stderr, "stochastic_quality: cannot write into %s\n", out_dir.c_str());
    return 1;
  }
  std::fprintf(csv, "problem,dim,method,kind,nfe,steps,sw2,sw2_floor,sw2_grid_floor\n");

  for (std::size_t pi = 0; pi < problems.size(); ++pi) {
    const problem& p = problems[pi];
    const std::size_t d = p.gm.dim;
    vec noise(p.samples * d);
    stork::normal_noise{1000 + pi}(noise);
    const vec truth = true_samples(p.gm, p.samples, 2000 + pi);
    // The floors, over 4 independent pairs of sample sets each.
    const spread floor = repeat(4, [&](std::uint64_t k) {
      return sliced_w2(true_samples(p.gm, p.samples, 3000 + 10 * pi + 2 * k),
                       true_samples(p.gm, p.samples, 3001 + 10 * pi + 2 * k), d);
    });
    const spread grid_floor = repeat(4, [&](std::uint64_t k) {
      return sliced_w2(grid_floor_samples(p.gm, p.samples, 5000 + 10 * pi + 2 * k),
                       true_samples(p.gm, p.samples, 7000 + 10 * pi + k), d);
    });
    std::printf("\n%s (d = %zu, %zu samples), VE Karras sigma %g..%g rho %g: SW2 to the true mixture\n",
                p.name.c_str(), d, p.samples, sigma_max, sigma_min, rho);
    std::printf("%-20s %-4s", "method", "kind");
    for (int b : budgets) std::printf("  NFE %-4d", b);
    std::printf("\n");
    for (const method_entry& m : ms) {
      std::printf("%-20s %-4s", m.name.c_str(), m.stochastic ? "SDE" : "ODE");
      for (int budget : budgets) {
        int best = -1;
        std::size_t best_nfe = 0;
        for (int steps = 1; steps <= budget; ++steps) {
          const std::size_t n = m.nfe(karras(steps));
          if (n <= std::size_t(budget) && n >= best_nfe) best = steps, best_nfe = n;
        }
        if (best < 0) {
          std::printf("  %-8s", "-");
          continue;
        }
        vec x = noise;
        for (double& v : x) v *= sigma_max;
        const stork::stats st = m.run(p.gm, x, karras(best));
        const double sw = sliced_w2(x, truth, d);
        std::fprintf(csv, "%s,%zu,%s,%s,%zu,%d,%.6e,%.6e,%.6e\n", p.name.c_str(), d, m.name.c_str(),
                     m.stochastic ? "sde" : "ode", st.nfe, best, sw, floor.mean, grid_floor.mean);
        std::printf("  %-8.4f", sw);
      }
      std::printf("\n");
    }
    std::printf("%-25s  %.4f (%.4f..%.4f over 4 pairs of true sample sets)\n", "floor", floor.mean, floor.lo,
                floor.hi);
    std::printf("%-25s  %.4f (%.4f..%.4f: exact samples at sigma_min, denoised, vs true)\n", "grid floor",
                grid_floor.mean, grid_floor.lo, grid_floor.hi);
  }
  std::fclose(csv);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\nwrote %s/stochastic_quality.csv in %.1f s\n", out_dir.c_str(), secs);
  return 0;
}
