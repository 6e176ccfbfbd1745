// Distribution quality of the stochastic samplers against model calls, beside a few ODE samplers: every
// stochastic method of the run-time menu (docs/menu.md), each by the name and options its users type
// (`stork::method_from_name`) and on the grid its users run it on, on Gaussian mixtures whose model output
// is exact (tests/support/gaussian_mixture.hpp), in d = 2 (three blobs, 20 000 samples) and d = 64 (four
// components, 5 000 samples), in two settings:
//  - ve_*: Stable Diffusion's / k-diffusion's VE σ space, the exact denoiser D(x, σ) = E[x₀ | x], start
//    x = σ_max·z. Grids: `karras` (σ 14.6146 → 0.0292, ρ = 7, then 0: k-diffusion's "Karras" and
//    stable-diffusion.cpp's `--scheduler karras`) for every method but three: lcm and tcd get
//    stable-diffusion.cpp's `lcm` scheduler (its default for them), ddim_trailing its `simple` one (its
//    default), both from `stork::sigmas_from_name` on SD's σ table (`vp_discrete::scaled_linear(1000,
//    0.00085, 0.012)`, the same σ range 14.6146 → 0.0292).
//  - rf_*_shift{1,3}: rectified flow x = (1 − σ)x₀ + σε, the exact velocity of the same mixtures, start
//    x = ε at the grid's first σ; the stochastic methods follow their flow rules (docs/stochastic.md).
//    The menu gives DPM++ 2M SDE (and its Brownian-tree form) stable-diffusion.cpp's flow rule under its
//    spellings (dpm++2m_sde, dpm++2m_sde_bt: its VE formula on the flow σ) and ComfyUI's under ComfyUI's
//    (dpmpp_2m_sde, dpmpp_2m_sde_gpu: in the flow's log-SNR); both run, each on its engine's grid.
//    Grids: stable-diffusion.cpp's `discrete` flow schedule (σ(t) of a discrete flow model with the shift,
//    t from 999 to 0, then 0: FlowMatchEuler's grid) for the methods run by stable-diffusion.cpp's names,
//    its `simple` one (ComfyUI's "simple" on a flow model) for ComfyUI's (dpmpp_2m_sde(_gpu),
//    dpm++2m_sde_heun, dpm++3m_sde, res_multistep_ancestral, euler_ancestral_cfg_pp), `lcm` for lcm and tcd,
//    `simple` for ddim_trailing; the ODE samplers as in bench/quality: euler on `flow_sigmas`, dpm++2m on
//    `use_flow_sigmas`, stork4 on `flow_beta` (docs/flow_grid.md).
// euler_a_cfg_pp without guidance (the exact model gives cond = uncond) is euler_a bit for bit in VE, so it
// runs in the flow setting only, under ComfyUI's spelling euler_ancestral_cfg_pp, whose rule (ComfyUI's, in
// the flow's log-SNR) is another sampler than euler_a's (stable-diffusion.cpp's flow rule); under
// stable-diffusion.cpp's spelling it takes sd.cpp's VE formula on the flow σ, which does not sample the data
// distribution (docs/stochastic.md), so that one is left out. res_2s and tcd add no noise with their default
// eta (0, as stable-diffusion.cpp): they run with it (kind ODE) and with noise (res_2s eta=1, tcd eta=0.3,
// TCD's published γ).
//
// For every method and NFE budget in {5, 8, 10, 15, 20, 30, 50} (the largest number of steps whose model
// calls fit the budget) it reports SW2, the sliced Wasserstein-2 distance (128 random directions) between
// the samples and as many fresh samples of the true mixture. Stochastic samplers do not converge to the
// ODE's per-sample solution: only the distribution can be compared, which is what SW2 measures. Two floors
// frame it, each averaged over 4 pairs of sample sets: `sw2_floor`, the distance between two independent
// true sample sets (sampling noise, mostly the ~√n difference in component counts), and, in VE,
// `sw2_grid_floor`, the distance from the true mixture of exact samples at σ_min passed through the final
// denoise x = D(x, σ_min) — where a perfect sampler on these grids ends (they stop at σ_min = 0.0292, as
// k-diffusion's). In VE all methods start from the same x = σ_max·z (not the exact marginal at σ_max: the
// ODE samplers carry that mismatch to the end, the SDE samplers forget most of it); the flow grids end at
// σ = 0 and start at σ = 1 with the exact x = ε (use_flow_sigmas at F(0.999), as diffusers). All are
// compared with the same true sample set; the SDE samplers draw from stork::normal_noise{2024}, except
// dpm++2m_sde_bt and dpmpp_2m_sde_gpu, which draw from a stork::brownian_tree_noise seeded 2024 over the grid
// (their users' noise).
//
// Usage: stochastic_quality [OUT_DIR] [--quick]   writes OUT_DIR/stochastic_quality.csv and prints a table.
// --quick: 300 samples, NFE 5 and 10 (the ctest smoke run; a few seconds). The full run takes about
// 9 minutes on two busy cores (520 s wall, 320 s CPU; measured).
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
using model_fn = std::function<void(const vec&, double, vec&)>;

constexpr double sigma_min = 0.0292, sigma_max = 14.6146, rho = 7.0;

enum class kind { ve, flow };

struct problem {
  std::string name;
  kind k;
  gaussian_mixture gm;
  std::size_t samples;
  std::size_t seed_index;  // noise, truth and floor seeds: one set per mixture (shift 1 and 3 share it)
  double shift = 1.0;
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

/// A menu entry: the name and options its users type, and the grid they run it on in each setting (empty:
/// not run there).
struct method_entry {
  std::string name, options;
  std::string ve_grid, flow_grid;
  std::string label() const { return options.empty() ? name : name + " " + options; }
  const std::string& grid(kind k) const { return k == kind::ve ? ve_grid : flow_grid; }
};

std::vector<method_entry> methods() {
  return {
      // ODE samplers (bench/quality's own grids; on flows DPM-Solver++ as diffusers runs it, in log-SNR).
      {"euler", "", "karras", "flow_sigmas"},
      {"dpm++2m", "", "karras", ""},
      {"dpm++2m", "flow_rule=log_snr", "", "use_flow_sigmas"},
      {"ipndm", "", "karras", ""},
      {"stork4", "", "karras", "flow_beta"},
      // The stochastic methods of the menu; res_2s and tcd with their default eta add no noise.
      {"res_2s", "", "karras", "discrete"},
      {"tcd", "", "lcm", "lcm"},
      {"euler_a", "", "karras", "discrete"},
      {"dpm++2s_a", "", "karras", "discrete"},
      // stable-diffusion.cpp's spelling takes its flow rule, ComfyUI's spelling ComfyUI's (the same in VE).
      {"dpm++2m_sde", "", "karras", "discrete"},
      {"dpmpp_2m_sde", "", "", "simple"},
      {"dpm++2m_sde_heun", "", "karras", "simple"},
      {"dpm++2m_sde_bt", "", "karras", "discrete"},
      {"dpmpp_2m_sde_gpu", "", "", "simple"},
      {"dpm++3m_sde", "", "karras", "simple"},
      {"res_multistep_ancestral", "", "karras", "simple"},
      {"res_2s", "eta=1", "karras", "discrete"},
      {"er_sde", "", "karras", "discrete"},
      {"lcm", "", "lcm", "lcm"},
      {"tcd", "eta=0.3", "lcm", "lcm"},
      {"ddim_trailing", "eta=1", "simple", "simple"},
      {"euler_ancestral_cfg_pp", "", "", "simple"},
  };
}

/// Stable Diffusion's σ table: the `lcm` and `simple` schedules of the VE setting.
const stork::vp_discrete& sd_table() {
  static const stork::vp_discrete t = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  return t;
}

vec grid_of(const std::string& name, const problem& p, int steps) {
  if (p.k == kind::ve) {
    if (name == "karras")
      return stork::karras_sigmas(steps, {.sigma_min = sigma_min, .sigma_max = sigma_max, .rho = rho});
    return stork::sigmas_from_name(name, steps, stork::schedule_context{.table = &sd_table()});
  }
  if (name == "flow_sigmas") return stork::flow_sigmas(steps, {.shift = p.shift});
  if (name == "use_flow_sigmas") return stork::use_flow_sigmas(steps, p.shift);
  if (name == "flow_beta")
    return stork::flow_sigmas(steps, {.shift = p.shift, .spacing = stork::sigma_spacing::beta});
  return stork::sigmas_from_name(name, steps, stork::schedule_context{.flow_shift = p.shift});
}

/// integrate on the problem's model: the exact VE denoiser, or the flow velocity (with itself as the
/// unconditional prediction for a CFG++ method: no guidance).
template <class Noise>
stork::stats run(const stork::any_method& m, kind k, const model_fn& f, vec& x, const vec& grid,
                 Noise&& noise) {
  if (k == kind::ve)
    return stork::integrate(m, stork::field(f, stork::ve{}, stork::prediction::sample), x, grid, noise);
  if (m.needs_unconditional()) {
    const std::function<void(const vec&, double, vec&, vec&)> g = [&f](const vec& y, double t, vec& o,
                                                                       vec& u) {
      f(y, t, o);
      u = o;
    };
    return stork::integrate(m, g, x, grid, noise);
  }
  return stork::integrate(m, f, x, grid, noise);
}

/// Model calls of a method on a grid (a one-value run on a zero model).
std::size_t nfe_of(const stork::any_method& m, kind k, const vec& grid) {
  vec x{0.1};
  const model_fn zero = [](const vec&, double, vec& o) { o[0] = 0.0; };
  return run(m, k, zero, x, grid, stork::normal_noise{0}).nfe;
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
  const gaussian_mixture d64 = random_mixture(64, {0.5, 0.3, 0.4, 0.2}, 5);
  std::vector<problem> problems{{"ve_d2", kind::ve, blobs, 20000, 0},
                                {"ve_d64", kind::ve, d64, 5000, 1},
                                {"rf_d2_shift1", kind::flow, blobs, 20000, 0, 1.0},
                                {"rf_d2_shift3", kind::flow, blobs, 20000, 0, 3.0},
                                {"rf_d64_shift1", kind::flow, d64, 5000, 1, 1.0},
                                {"rf_d64_shift3", kind::flow, d64, 5000, 1, 3.0}};
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
  std::fprintf(csv, "problem,setting,dim,shift,method,kind,grid,nfe,steps,sw2,sw2_floor,sw2_grid_floor\n");

  for (const problem& p : problems) {
    const std::size_t d = p.gm.dim, pi = p.seed_index;
    vec noise(p.samples * d);
    stork::normal_noise{1000 + pi}(noise);
    const vec truth = true_samples(p.gm, p.samples, 2000 + pi);
    // The floors, over 4 independent pairs of sample sets each.
    const spread floor = repeat(4, [&](std::uint64_t k) {
      return sliced_w2(true_samples(p.gm, p.samples, 3000 + 10 * pi + 2 * k),
                       true_samples(p.gm, p.samples, 3001 + 10 * pi + 2 * k), d);
    });
    spread grid_floor;
    if (p.k == kind::ve)
      grid_floor = repeat(4, [&](std::uint64_t k) {
        return sliced_w2(grid_floor_samples(p.gm, p.samples, 5000 + 10 * pi + 2 * k),
                         true_samples(p.gm, p.samples, 7000 + 10 * pi + k), d);
      });
    const model_fn model =
        p.k == kind::ve ? model_fn([&p](const vec& y, double s, vec& o) {
          p.gm.posterior_quantity(gaussian_mixture::quantity::mean, 1.0, s, y, o);
        })
                        : model_fn([&p](const vec& y, double s, vec& o) { p.gm.flow_velocity(y, s, o); });
    if (p.k == kind::ve)
      std::printf("\n%s (d = %zu, %zu samples), VE, exact denoiser: SW2 to the true mixture\n",
                  p.name.c_str(), d, p.samples);
    else
      std::printf(
          "\n%s (d = %zu, %zu samples), rectified flow, shift %g, exact velocity: SW2 to the true mixture\n",
          p.name.c_str(), d, p.samples, p.shift);
    std::printf("%-26s %-4s %-16s", "method", "kind", "grid");
    for (int b : budgets) std::printf("  NFE %-4d", b);
    std::printf("\n");
    for (const method_entry& e : ms) {
      const std::string& gname = e.grid(p.k);
      if (gname.empty()) continue;
      const stork::any_method m = stork::method_from_name(e.name, e.options);
      const char* kind_name = m.stochastic() ? "SDE" : "ODE";
      std::printf("%-26s %-4s %-16s", e.label().c_str(), kind_name, gname.c_str());
      for (int budget : budgets) {
        int best = -1;
        std::size_t best_nfe = 0;
        for (int steps = 1; steps <= budget; ++steps) {
          const std::size_t n = nfe_of(m, p.k, grid_of(gname, p, steps));
          if (n <= std::size_t(budget) && n >= best_nfe) best = steps, best_nfe = n;
        }
        if (best < 0) {
          std::printf("  %-8s", "-");
          continue;
        }
        const vec grid = grid_of(gname, p, best);
        vec x = noise;
        if (p.k == kind::ve)
          for (double& v : x) v *= grid.front();  // x = σ_max·z; flow: x = ε
        stork::stats st;
        if (m.get_if<stork::dpmpp_2m_sde_bt>()) {
          stork::brownian_tree_noise tree(x, grid, 2024);
          st = run(m, p.k, model, x, grid, std::ref(tree));
        } else {
          st = run(m, p.k, model, x, grid, stork::normal_noise{2024});
        }
        const double sw = sliced_w2(x, truth, d);
        std::fprintf(csv, "%s,%s,%zu,%g,%s,%s,%s,%zu,%d,%.6e,%.6e,%.6e\n", p.name.c_str(),
                     p.k == kind::ve ? "ve" : "flow", d, p.shift, e.label().c_str(),
                     m.stochastic() ? "sde" : "ode", gname.c_str(), st.nfe, best, sw, floor.mean,
                     p.k == kind::ve ? grid_floor.mean : std::nan(""));
        std::printf("  %-8.4f", sw);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
    std::printf("%-26s  %.4f (%.4f..%.4f over 4 pairs of true sample sets)\n", "floor", floor.mean, floor.lo,
                floor.hi);
    if (p.k == kind::ve)
      std::printf("%-26s  %.4f (%.4f..%.4f: exact samples at sigma_min, denoised, vs true)\n", "grid floor",
                  grid_floor.mean, grid_floor.lo, grid_floor.hi);
  }
  std::fclose(csv);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\nwrote %s/stochastic_quality.csv in %.1f s\n", out_dir.c_str(), secs);
  return 0;
}
