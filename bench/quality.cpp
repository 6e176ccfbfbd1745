// Quality against model calls on Gaussian mixtures whose model outputs are exact (docs/test-problems.md),
// with every method on the grid it is normally run on and on a shared grid (docs/results/README.md).
//
// Settings (a "problem" is a mixture under one process):
//  - rf_*: rectified flow, the model is the velocity (a plain velocity field). Grids: `flow_sigmas`
//    (diffusers' FlowMatchEulerDiscreteScheduler, with its σ_min tail: the STORK reference's grid, and
//    Euler's and Heun's), `use_flow_sigmas` (diffusers' DPMSolverMultistep/UniPC with use_flow_sigmas=True:
//    no tail, starts at F(1 − 1/1000)), `uniform` (σ = F(1 − i/N), i = 0..N: ComfyUI's "simple" scheduler
//    on a flow model and FLUX's reference sampler; the shared grid), `flow_beta` (FlowMatchEuler's grid
//    with use_beta_sigmas=True, α = β = 0.6: STORK's own, chosen by `--flow-grids`, docs/flow_grid.md).
//    Shift 1 and 3.
//  - ve_*: k-diffusion's σ space, the model is an exact denoiser D(x, σ) (prediction::sample), x = σ_max·ε.
//    Grids: `karras` (σ 14.6146 → 0.0292, ρ = 7: "DPM++ 2M Karras", every method's own) and `exponential`
//    (the same range, the shared grid).
//  - vpd_*: Stable Diffusion's scaled-linear β table (vp_discrete, T = 1000), the model is ε in τ time,
//    x = ε at τ = 1. Grids: `uniform_t` (timesteps 999 → 0, τ 1 → 1e-3: STORK's own, as the reference's ε
//    grid; diffusers' default "linspace" spacing) and `karras_t` (the karras σ_VE grid of the table mapped to
//    τ: the k-diffusion "Karras" setting for SD, the other methods' own grid and the shared grid). Every run
//    ends with the denoise x̂₀ at the last grid time: STORK makes it itself; for the others it is one more ε
//    call, counted (the last step x = D of k-diffusion and diffusers with final_sigmas_type="zero").
//
// For every method, grid and NFE budget in {5, 6, 8, 10, 15, 20, 30, 40, 50} (the most steps whose model
// calls fit the budget) it reports
//  (a) terminal error per sample, |x − x_ref|/√d: median and RMS, against a ROCK4 solution of the same ODE
//      from the same start state at the grid's first time (flow: to σ = 0; VP: to τ = 1e-3, then the exact
//      denoise). VE has two: "denoise" (ODE to σ_min, then x = D(x, σ_min): what a method whose last step is
//      x = D converges to) and "x0" (the ODE to σ = 0: what a method taking a normal last step converges
//      to, iPNDM and STORK's velocity form); each method is measured against its own end, the CSV has the
//      other too;
//  (b) sliced Wasserstein-2 (64 directions) to as many fresh samples of the true mixture, the same distance
//      for the reference solution (`sw2_ref`: what an exact solver gets from the same noise) and between two
//      true sample sets (`sw2_floor`). It needs no reference but carries the sampling noise of both sets
//      (in d = 64 with 2000 samples two true sets differ by 0.04 to 0.09 depending on the seeds), so it
//      separates methods only where their errors are large;
//  (c) the smallest NFE reaching a median terminal error of 1e-2 and 1e-3 (log–log interpolation).
//
// Usage: quality [OUT_DIR] [--quick] [-jN]   writes OUT_DIR/quality.csv and nfe_to_target.csv.
// -jN: problems on N threads (default 2, at most the hardware's); progress on stderr.
// --quick: three small problems, 200 samples, three budgets (the ctest smoke run).
// --flow-grids: instead, the study of STORK's flow grid (docs/flow_grid.md): the 2-D and d = 64 flow
// settings, stork4, stork4_d3 and stork2 on every flow grid, with FlowMatchEuler's karras and exponential
// spacings added, the baselines on their own grids and the beta one; writes
// OUT_DIR/flow_grids_quality.csv and flow_grids_nfe_to_target.csv.
// --only m1,m2 / --grids g1,g2: only these methods / grids (every problem, with its usual seeds): to rerun
// what a change touches; tools/update_quality.py merges such a run into the full CSV files.
// --check-reference: instead, compare every reference with one of twice as many steps (median and largest
// per-sample difference, printed), to show the references are far more accurate than what they judge.
#include <stork/stork.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

namespace {

using vec = std::vector<double>;
using stork_test::cosine_grid;
using stork_test::gaussian_mixture;
using stork_test::random_mixture;
using stork_test::ring8;
using model_fn = std::function<void(const vec&, double, vec&)>;

enum class kind { flow, ve, vpd };
constexpr std::size_t kinds = 3;

const char* kind_name(kind k) { return k == kind::flow ? "flow" : k == kind::ve ? "ve" : "vpd"; }

/// Stable Diffusion's scaled-linear table (the vpd problems' process).
const stork::vp_discrete& sd_table() {
  static const stork::vp_discrete t = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  return t;
}

constexpr double ve_sigma_min = 0.0292, ve_sigma_max = 14.6146, karras_rho = 7.0;
constexpr double vpd_tau_end = 1e-3;  // training timestep 0 of the table

struct problem {
  std::string name;
  kind k = kind::flow;
  gaussian_mixture gm;
  double shift = 1.0;
  std::size_t samples = 2000;
  bool all_grids = true;  // false: each method's own grid and the shared grid only
};

/// A method and where it is normally run.
struct method_entry {
  std::string name;
  std::array<std::string, kinds> own;  // its standard grid per kind
  bool stork = false;                  // ends a VP run with its own denoise
  bool normal_last_step = false;       // VE: a normal step from σ_min to 0 (→ x(0)), not x = D(x, σ_min)
  bool output_form = false;            // only where the model output is not the velocity (VE, VP)
  std::function<stork::stats(kind, const model_fn&, vec&, const vec&)> run;
};

template <class M>
stork::stats run_method(const M& m, kind k, const model_fn& f, vec& x, const vec& grid) {
  auto call = [&f](const vec& y, double t, vec& o) { f(y, t, o); };
  switch (k) {
    case kind::flow:
      return stork::integrate(m, call, x, grid);
    case kind::ve:
      return stork::integrate(m, stork::field(call, stork::ve{}, stork::prediction::sample), x, grid);
    case kind::vpd:
      break;
  }
  return stork::integrate(m, stork::field(call, sd_table(), stork::prediction::epsilon), x, grid);
}

template <class M>
method_entry entry(std::string name, std::array<std::string, kinds> own, M m) {
  method_entry e;
  e.name = std::move(name);
  e.own = std::move(own);
  e.stork = e.name.rfind("stork", 0) == 0;
  e.run = [m](kind k, const model_fn& f, vec& x, const vec& grid) { return run_method(m, k, f, x, grid); };
  return e;
}

std::vector<method_entry> methods() {
  using stork::variant;
  // Own grids: {flow, ve, vpd}.
  const std::array<std::string, kinds> tail{"flow_sigmas", "karras", "karras_t"},
      multistep{"use_flow_sigmas", "karras", "karras_t"}, comfy{"uniform", "karras", "karras_t"},
      stork_own{"flow_beta", "karras", "uniform_t"},  // STORK's flow grid: docs/flow_grid.md
      paper{"flow_sigmas", "karras", "uniform_t"};    // the reference variant: the paper's grids
  std::vector<method_entry> ms{
      entry("euler", tail, stork::euler{}),
      entry("heun", tail, stork::heun{}),
      entry("dpmpp_2m", multistep, stork::dpmpp_2m{}),
      entry("dpmpp_3m", multistep, stork::dpmpp_3m{}),
      entry("unipc_3", multistep, stork::unipc{.order = 3}),
      entry("ipndm", comfy, stork::ipndm{.order = 4}),
      entry("stork4", stork_own, stork::stork4{}),
      entry("stork4_d3", stork_own, stork::stork4{.derivative_order = 3}),
      entry("stork4_d3_rk", stork_own,
            stork::stork4{.derivative_order = 3, .startup = stork::startup::runge_kutta}),
      entry("stork4_vel", stork_own, stork::stork4{.extrapolate = stork::extrapolate::velocity}),
      entry("stork4_reference", paper, stork::stork4{.stages = 5, .variant = variant::reference}),
      entry("stork2", stork_own, stork::stork2{.stages = 50}),
      // stable-diffusion.cpp's deterministic menu methods (docs/menu.md), on the grids its users pick for
      // them (FlowMatchEuler's for flows, karras otherwise).
      entry("dpm2", tail, stork::dpm2{}),
      entry("dpmpp_2m_v2", tail, stork::dpmpp_2m_v2{}),
      entry("ipndm_fixed", tail, stork::ipndm{.coefficients = stork::ipndm_coefficients::fixed}),
      entry("ipndm_sd_cpp_v", tail, stork::ipndm{.coefficients = stork::ipndm_coefficients::sd_cpp_v}),
      entry("lms", tail, stork::lms{}),
      entry("res_multistep", tail, stork::res_multistep{}),
  };
  for (method_entry& e : ms) {
    e.normal_last_step = e.name == "ipndm" || e.name == "stork4_vel";
    e.output_form = e.name == "stork4_vel";  // the same as stork4 on a velocity
  }
  return ms;
}

vec linspace(double a, double b, std::size_t n) {
  vec v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = n == 1 ? a : a + (b - a) * double(i) / double(n - 1);
  return v;
}

/// τ of a VE σ of the SD table: σ(τ)/α(τ) = sigma (bisection; σ/α increases with τ).
double tau_of_ve_sigma(double sigma) {
  const stork::vp_discrete& sd = sd_table();
  double lo = 0.0, hi = 1.0;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = 0.5 * (lo + hi);
    (sd.sigma(mid) / sd.alpha(mid) < sigma ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// --flow-grids: the study of STORK's flow grid (docs/flow_grid.md).
bool flow_grid_study = false;
/// --grids a,b: only these grids (empty: all).
std::vector<std::string> only_grids;

/// "a,b,c" → {"a", "b", "c"}.
std::vector<std::string> split(const char* list) {
  std::vector<std::string> out;
  for (const char* p = list; *p;) {
    const char* q = std::strchr(p, ',');
    out.emplace_back(p, q ? q : p + std::strlen(p));
    p = q ? q + 1 : p + std::strlen(p);
  }
  return out;
}

struct grid_def {
  std::string name;
  std::function<vec(int)> make;  // steps (intervals) → grid
};

std::vector<grid_def> grids_for(const problem& p) {
  const double shift = p.shift;
  switch (p.k) {
    case kind::flow: {
      std::vector<grid_def> gs{
          {"flow_sigmas", [shift](int n) { return stork::flow_sigmas(n, {.shift = shift}); }},
          {"use_flow_sigmas", [shift](int n) { return stork::use_flow_sigmas(n, shift); }},
          {"uniform",
           [shift](int n) {
             stork::flow_schedule s{.shift = shift};
             s.sigmas = linspace(1.0, 1.0 / double(n), std::size_t(n));
             return stork::flow_sigmas(n, s);
           }},
          {"flow_beta",
           [shift](int n) {
             return stork::flow_sigmas(n, {.shift = shift, .spacing = stork::sigma_spacing::beta});
           }},
      };
      if (flow_grid_study)  // FlowMatchEuler's other spacings (use_karras_sigmas, use_exponential_sigmas)
        for (auto [name, sp] : {std::pair{"flow_karras", stork::sigma_spacing::karras},
                                std::pair{"flow_exponential", stork::sigma_spacing::exponential}})
          gs.push_back({name, [shift, sp = sp](int n) {
                          return stork::flow_sigmas(n, {.shift = shift, .spacing = sp});
                        }});
      if (flow_grid_study)  // the beta spacing applied before the shift (ComfyUI's "beta" scheduler keeps it)
        gs.push_back({"flow_beta_shifted", [shift](int n) {
                        stork::flow_schedule s{.shift = shift};
                        s.sigmas = stork::flow_sigmas(n, {.spacing = stork::sigma_spacing::beta});
                        s.sigmas.pop_back();  // the final 0
                        return stork::flow_sigmas(n, s);
                      }});
      return gs;
    }
    case kind::ve:
      return {
          {"karras",
           [](int n) {
             return stork::karras_sigmas(
                 n, {.sigma_min = ve_sigma_min, .sigma_max = ve_sigma_max, .rho = karras_rho});
           }},
          {"exponential",
           [](int n) {
             return stork::exponential_sigmas(n, {.sigma_min = ve_sigma_min, .sigma_max = ve_sigma_max});
           }},
      };
    case kind::vpd:
      break;
  }
  return {
      {"uniform_t", [](int n) { return linspace(1.0, vpd_tau_end, std::size_t(n) + 1); }},
      {"karras_t",
       [](int n) {
         const stork::vp_discrete& sd = sd_table();
         vec s = stork::karras_sigmas(
             n + 1, {.sigma_min = sd.ve_sigma(0), .sigma_max = sd.ve_sigma(999), .rho = karras_rho});
         s.pop_back();  // the final 0: the run ends with x̂₀ at the last τ instead
         for (double& v : s) v = tau_of_ve_sigma(v);
         s.front() = 1.0, s.back() = vpd_tau_end;  // the table's ends exactly
         return s;
       }},
  };
}

/// The grid every method also runs on, per kind.
std::string shared_grid(kind k) {
  return k == kind::flow ? "uniform" : k == kind::ve ? "exponential" : "karras_t";
}

/// α, σ and their time derivatives of the problem's process at t (x = α·x0 + σ·ε).
struct process_point {
  double al, sg, dal, dsg;
};
process_point process_at(kind k, double t) {
  switch (k) {
    case kind::flow:
      return {1.0 - t, t, -1.0, 1.0};
    case kind::ve:
      return {1.0, t, 0.0, 1.0};
    case kind::vpd:
      break;
  }
  const stork::vp_discrete& sd = sd_table();
  return {sd.alpha(t), sd.sigma(t), sd.dalpha(t), sd.dsigma(t)};
}

/// The closed forms of tests/support/gaussian_mixture.hpp (docs/test-problems.md) in an affine form per
/// point: with posterior weights w_k and v_k = α²s_k² + σ², a·E[x0|x] + b·E[ε|x] = A·x + Σ_k c_k·μ_k, so one
/// pass over the components gives the weights and one more the output — several times faster than the test
/// helper in d = 3072. `matches_test_helper` checks the two agree.
class fast_mixture {
 public:
  explicit fast_mixture(const gaussian_mixture& g) : g_(g) {}

  /// out = a·E[x0|x] + b·E[ε|x] for x = α·x0 + σ·ε, for a batch of points stored one after another.
  void operator()(double al, double sg, double a, double b, const vec& x, vec& out) const {
    const std::size_t d = g_.dim, K = g_.weight.size();
    std::vector<double> w(K), var(K);
    for (std::size_t p = 0; p + d <= x.size(); p += d) {
      double mx = -1e300;
      for (std::size_t k = 0; k < K; ++k) {
        var[k] = al * al * g_.spread[k] * g_.spread[k] + sg * sg;
        double r2 = 0;
        for (std::size_t i = 0; i < d; ++i) {
          const double e = x[p + i] - al * g_.mean[k][i];
          r2 += e * e;
        }
        w[k] = std::log(g_.weight[k]) - 0.5 * double(d) * std::log(var[k]) - 0.5 * r2 / var[k];
        mx = std::max(mx, w[k]);
      }
      double sum = 0, A = 0;
      for (std::size_t k = 0; k < K; ++k) sum += (w[k] = std::exp(w[k] - mx));
      for (std::size_t k = 0; k < K; ++k) {
        const double s2 = g_.spread[k] * g_.spread[k];
        w[k] /= sum;
        A += w[k] * (a * al * s2 + b * sg) / var[k];
        w[k] *= a * (1.0 - al * al * s2 / var[k]) - b * sg * al / var[k];  // c_k
      }
      for (std::size_t i = 0; i < d; ++i) out[p + i] = A * x[p + i];
      for (std::size_t k = 0; k < K; ++k)
        for (std::size_t i = 0; i < d; ++i) out[p + i] += w[k] * g_.mean[k][i];
    }
  }

 private:
  const gaussian_mixture& g_;
};

/// What the problem's model predicts (velocity, denoiser, ε), the probability-flow velocity, or x̂₀.
enum class quantity { model, velocity, mean };

void evaluate(const problem& p, quantity q, const vec& x, double t, vec& out) {
  const process_point c = process_at(p.k, t);
  double a = 0, b = 0;  // out = a·x̂₀ + b·ε̂
  if (q == quantity::velocity || (q == quantity::model && p.k == kind::flow))
    a = c.dal, b = c.dsg;
  else if (q == quantity::mean || (q == quantity::model && p.k == kind::ve))
    a = 1.0;
  else
    b = 1.0;  // the ε model of the vpd problems
  fast_mixture(p.gm)(c.al, c.sg, a, b, x, out);
}

/// The exact model output of the problem's model (velocity, denoiser or ε).
model_fn exact_model(const problem& p) {
  return [&p](const vec& x, double t, vec& out) { evaluate(p, quantity::model, x, t, out); };
}

/// x̂₀ = E[x0 | x_t] of the mixture, under the problem's process.
vec posterior_mean(const problem& p, const vec& x, double t) {
  vec out(x.size());
  evaluate(p, quantity::mean, x, t, out);
  return out;
}

/// The largest difference between `evaluate` and tests/support's gaussian_mixture (model output, velocity
/// and x̂₀ on a few points and times), relative to the output's size.
double matches_test_helper(const problem& p) {
  const vec x = stork_test::fixed_noise(8 * p.gm.dim, 7);
  double worst = 0;
  const double t_max = p.k == kind::ve ? ve_sigma_max : 1.0;
  for (double u : {0.97, 0.5, 0.1, 0.01}) {
    const double t = u * t_max;
    for (quantity q : {quantity::model, quantity::velocity, quantity::mean}) {
      vec mine(x.size()), theirs(x.size());
      evaluate(p, q, x, t, mine);
      const stork::prediction pred = q == quantity::mean       ? stork::prediction::sample
                                     : q == quantity::velocity ? stork::prediction::velocity
                                     : p.k == kind::flow       ? stork::prediction::velocity
                                     : p.k == kind::ve         ? stork::prediction::sample
                                                               : stork::prediction::epsilon;
      if (p.k == kind::flow && pred == stork::prediction::velocity)
        p.gm.flow_velocity(x, t, theirs);
      else if (p.k == kind::flow)
        p.gm.model_output(stork::rectified_flow{}, pred, x, t, theirs);
      else if (p.k == kind::ve)
        p.gm.model_output(stork::ve{}, pred, x, t, theirs);
      else
        p.gm.model_output(sd_table(), pred, x, t, theirs);
      double diff = 0, norm = 0;
      for (std::size_t i = 0; i < x.size(); ++i)
        diff = std::max(diff, std::abs(mine[i] - theirs[i])), norm = std::max(norm, std::abs(theirs[i]));
      worst = std::max(worst, diff / std::max(norm, 1e-300));
    }
  }
  return worst;
}

/// High-accuracy solutions from one start state: `x0` is the ODE to the data end (σ = 0 for flow and VE),
/// `denoise` the ODE to the last noise level then the exact denoise (VE: σ_min; VP: τ = 1e-3).
struct reference {
  double start = 0;
  vec x0, denoise;
};

/// ROCK4 (m = 5) on `grid` with the probability-flow velocity of the problem's process (a plain field).
void rock4_solve(const problem& p, vec& x, const vec& grid) {
  stork::integrate(
      stork::rock4{.stages = 5},
      [&p](const vec& y, double t, vec& v) { evaluate(p, quantity::velocity, y, t, v); }, x, grid);
}

/// `n` ROCK4 steps (9 calls each); 0: the default, 300 (120 for d > 1000).
reference solve_reference(const problem& p, const vec& start_state, double start, std::size_t n = 0) {
  reference r{start, start_state, {}};
  if (n == 0) n = p.gm.dim > 1000 ? 120 : 300;
  switch (p.k) {
    case kind::flow:
      rock4_solve(p, r.x0, cosine_grid(n, start, 0.0));
      break;
    case kind::ve: {  // uniform in log σ down to σ_min, then uniform in σ to 0 (the velocity is −σ·score)
      vec grid(n + 1);
      for (std::size_t i = 0; i <= n; ++i)
        grid[i] =
            std::exp(std::log(start) + (std::log(ve_sigma_min) - std::log(start)) * double(i) / double(n));
      grid.back() = ve_sigma_min;
      rock4_solve(p, r.x0, grid);
      r.denoise = posterior_mean(p, r.x0, ve_sigma_min);
      rock4_solve(p, r.x0, linspace(ve_sigma_min, 0.0, n / 8 + 1));
      break;
    }
    case kind::vpd:
      rock4_solve(p, r.x0, cosine_grid(n, start, vpd_tau_end));
      r.denoise = posterior_mean(p, r.x0, vpd_tau_end);
      break;
  }
  return r;
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

/// Sliced Wasserstein-2 distance to a fixed point set (the true samples): 64 fixed random unit directions,
/// the target's sorted projections computed once.
class sliced_w2 {
 public:
  sliced_w2(const vec& target, std::size_t dim) : dim_(dim), n_(target.size() / dim) {
    theta_ = stork_test::fixed_noise(dirs * dim, 99);
    for (std::size_t d = 0; d < dirs; ++d) {
      double norm = 0;
      for (std::size_t i = 0; i < dim; ++i) norm += theta_[d * dim + i] * theta_[d * dim + i];
      for (std::size_t i = 0; i < dim; ++i) theta_[d * dim + i] /= std::sqrt(norm);
    }
    target_ = project(target);
  }
  /// The distance between `a` (as many points as the target) and the target.
  double operator()(const vec& a) const {
    const vec pa = project(a);
    double total = 0;
    for (std::size_t k = 0; k < pa.size(); ++k) total += (pa[k] - target_[k]) * (pa[k] - target_[k]);
    return std::sqrt(total / double(n_ * dirs));
  }

 private:
  static constexpr std::size_t dirs = 64;
  /// Sorted projections on each direction, one direction after another.
  vec project(const vec& a) const {
    vec out(dirs * n_);
    for (std::size_t d = 0; d < dirs; ++d) {
      for (std::size_t p = 0; p < n_; ++p) {
        double s = 0;
        for (std::size_t i = 0; i < dim_; ++i) s += a[p * dim_ + i] * theta_[d * dim_ + i];
        out[d * n_ + p] = s;
      }
      std::sort(out.begin() + long(d * n_), out.begin() + long((d + 1) * n_));
    }
    return out;
  }
  std::size_t dim_, n_;
  vec theta_, target_;
};

/// Per-sample errors |x_p − ref_p|/√d: their median and their RMS. The RMS is dominated by the few samples
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
  return {per[n / 2], std::sqrt(total / double(n))};
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

/// Model calls of a method on a grid, from a run with a zero model (0 if the method rejects the grid or
/// the model: e.g. the reference variant outside flow velocities). VP runs of the other methods get one
/// more call for the final denoise.
std::size_t count_nfe(const method_entry& m, kind k, const vec& grid) {
  vec x{0.1};
  const model_fn zero = [](const vec&, double, vec& v) { v[0] = 0.0; };
  try {
    return m.run(k, zero, x, grid).nfe + (k == kind::vpd && !m.stork ? 1 : 0);
  } catch (const stork::error&) {
    return 0;
  }
}

std::vector<problem> make_problems(bool quick) {
  const gaussian_mixture blobs = stork_test::three_blobs();  // spreads 0.3, 0.2, 0.05
  gaussian_mixture stiff = blobs;
  stiff.spread = {0.02, 0.05, 0.01};
  const gaussian_mixture d64 = random_mixture(64, {0.5, 0.3, 0.4, 0.2}, 5);
  std::vector<problem> ps;
  if (quick) {
    ps.push_back({"rf_blobs_d2", kind::flow, blobs, 1.0, 200});
    ps.push_back({"ve_blobs_d2", kind::ve, blobs, 1.0, 200});
    ps.push_back({"vpd_blobs_d2", kind::vpd, blobs, 1.0, 200});
    return ps;
  }
  for (double shift : {1.0, 3.0}) {
    ps.push_back({"rf_ring8_d2", kind::flow, ring8(), shift});
    ps.push_back({"rf_blobs_d2", kind::flow, blobs, shift});
    ps.push_back({"rf_stiff_d2", kind::flow, stiff, shift});
    ps.push_back({"rf_d64", kind::flow, d64, shift});
  }
  // CIFAR-sized, SD3's shift: 500 samples and no third grid keep the run within minutes on 2 cores.
  ps.push_back({"rf_d3072", kind::flow, random_mixture(3072, {0.5, 0.3, 0.4, 0.2}, 6), 3.0, 500, false});
  ps.push_back({"ve_blobs_d2", kind::ve, blobs});
  ps.push_back({"ve_ring8_d2", kind::ve, ring8()});
  ps.push_back({"ve_d64", kind::ve, d64});
  ps.push_back({"vpd_blobs_d2", kind::vpd, blobs});
  ps.push_back({"vpd_d64", kind::vpd, d64});
  return ps;
}

/// --check-reference: each reference against one with twice the steps.
int check_references(const std::vector<problem>& problems) {
  for (std::size_t pi = 0; pi < problems.size(); ++pi) {
    const problem& p = problems[pi];
    const vec noise = stork_test::fixed_noise(p.samples * p.gm.dim, 1000 + unsigned(pi));
    for (const grid_def& g : grids_for(p)) {
      const double t0 = g.make(10).front();
      vec x0 = noise;
      if (p.k == kind::ve)
        for (double& v : x0) v *= t0;
      const std::size_t n = p.gm.dim > 1000 ? 120 : 300;
      const reference a = solve_reference(p, x0, t0, n), b = solve_reference(p, x0, t0, 2 * n);
      auto report = [&](const char* end, const vec& u, const vec& v) {
        vec per(p.samples);
        for (std::size_t s = 0; s < p.samples; ++s) {
          double acc = 0;
          for (std::size_t i = 0; i < p.gm.dim; ++i) {
            const double e = u[s * p.gm.dim + i] - v[s * p.gm.dim + i];
            acc += e * e;
          }
          per[s] = std::sqrt(acc / double(p.gm.dim));
        }
        std::sort(per.begin(), per.end());
        std::printf("%-14s shift %g from t = %-8.6g (%s) %-7s: %zu vs %zu steps: median %.1e, max %.1e\n",
                    p.name.c_str(), p.shift, t0, g.name.c_str(), end, n, 2 * n, per[per.size() / 2],
                    per.back());
      };
      report("x0", a.x0, b.x0);
      if (!a.denoise.empty()) report("denoise", a.denoise, b.denoise);
    }
  }
  return 0;
}

/// The CSV rows of one problem.
struct problem_result {
  std::string rows, targets;
  double seconds = 0;
};

/// Shared progress line on stderr (several problems run at once).
class progress {
 public:
  explicit progress(std::size_t total) : total_(total) {}
  void running(const problem& p, const std::string& what) {
    if (!tty_) return;
    const std::lock_guard<std::mutex> lock(m_);
    std::fprintf(stderr, "\r[%zu/%zu done] %s shift %g: %-48s", done_, total_, p.name.c_str(), p.shift,
                 what.c_str());
  }
  void finished(const problem& p, double seconds) {
    const std::lock_guard<std::mutex> lock(m_);
    ++done_;
    std::fprintf(stderr, "\r[%zu/%zu done] %s shift %g: %.0f s%-48s\n", done_, total_, p.name.c_str(),
                 p.shift, seconds, "");
  }

 private:
  std::mutex m_;
  std::size_t total_, done_ = 0;
  bool tty_ = isatty(2) != 0;  // the line of the current run only on a terminal
};

template <class... A>
void append(std::string& out, const char* fmt, A... a) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, fmt, a...);
  out.append(buf, std::size_t(std::min(n, int(sizeof buf) - 1)));
}

problem_result run_problem(const problem& p, std::size_t pi, const std::vector<method_entry>& ms,
                           const std::vector<int>& budgets, progress& prog) {
  problem_result res;
  const auto p_start = std::chrono::steady_clock::now();
  const std::size_t d = p.gm.dim;
  const vec noise = stork_test::fixed_noise(p.samples * d, 1000 + unsigned(pi));
  const vec truth = true_samples(p.gm, p.samples, 2000 + unsigned(pi)),
            truth2 = true_samples(p.gm, p.samples, 3000 + unsigned(pi));
  const sliced_w2 sw2_to_truth(truth, d);
  const double floor = sw2_to_truth(truth2);
  const model_fn model = exact_model(p);
  const std::string shared = shared_grid(p.k);
  std::deque<reference> refs;  // one per grid start (flow: σ = 1 and use_flow_sigmas' F(1 − 1/T))
  for (const grid_def& g : grids_for(p)) {
    if (!only_grids.empty() && std::find(only_grids.begin(), only_grids.end(), g.name) == only_grids.end())
      continue;
    const double t0 = g.make(10).front();
    vec x0 = noise;
    if (p.k == kind::ve)
      for (double& v : x0) v *= t0;    // k-diffusion: x = σ_max·ε
    const reference* found = nullptr;  // solved when a method first needs it
    for (const method_entry& m : ms) {
      const bool own = m.own[std::size_t(p.k)] == g.name, is_shared = g.name == shared;
      if (!p.all_grids && !own && !is_shared) continue;
      // The baselines on their own grids, and on the beta-spaced grid for comparison.
      if (flow_grid_study && !m.stork && !own && g.name != "flow_beta") continue;
      if (m.output_form && p.k == kind::flow) continue;
      if (!found) {
        for (const reference& r : refs)
          if (std::abs(r.start - t0) <= 1e-12 * t0) found = &r;
        if (!found) {
          prog.running(p, "reference from t = " + std::to_string(t0));
          found = &refs.emplace_back(solve_reference(p, x0, t0));
        }
      }
      const reference& ref = *found;
      // What the run converges to and the reference that ends the same way.
      const bool to_x0 = p.k == kind::flow || (p.k == kind::ve && m.normal_last_step);
      const vec& r_own = to_x0 ? ref.x0 : ref.denoise;
      const vec* r_other = p.k == kind::ve ? (to_x0 ? &ref.denoise : &ref.x0) : nullptr;
      const double sw_ref = sw2_to_truth(r_own);
      std::vector<std::pair<double, double>> curve;
      for (int budget : budgets) {
        int best = -1;
        std::size_t best_nfe = 0;
        for (int steps = 1; steps <= budget; ++steps) {
          const std::size_t n = count_nfe(m, p.k, g.make(steps));
          if (n > 0 && n <= std::size_t(budget) && n >= best_nfe) best = steps, best_nfe = n;
        }
        if (best < 0) continue;
        prog.running(p, g.name + " " + m.name + " NFE " + std::to_string(best_nfe));
        vec x = x0;
        const vec grid = g.make(best);
        std::size_t nfe = m.run(p.k, model, x, grid).nfe;
        if (p.k == kind::vpd && !m.stork) {  // the final x = D(x, τ_end): one more ε call
          x = posterior_mean(p, x, grid.back());
          ++nfe;
        }
        const auto [median, rms] = errors(x, r_own, d);
        const double other = r_other ? errors(x, *r_other, d).first : std::nan("");
        append(res.rows, "%s,%s,%zu,%g,%s,%d,%d,%s,%d,%zu,%d,%s,%.6e,%.6e,%.6e,%.6e,%.6e,%.6e\n",
               p.name.c_str(), kind_name(p.k), d, p.shift, g.name.c_str(), int(own), int(is_shared),
               m.name.c_str(), budget, nfe, best, to_x0 ? "x0" : "denoise", median, rms, other,
               sw2_to_truth(x), sw_ref, floor);
        if (curve.empty() || curve.back().first != double(nfe)) curve.emplace_back(double(nfe), median);
      }
      append(res.targets, "%s,%s,%g,%s,%d,%d,%s,%.1f,%.1f\n", p.name.c_str(), kind_name(p.k), p.shift,
             g.name.c_str(), int(own), int(is_shared), m.name.c_str(), nfe_to_reach(curve, 1e-2),
             nfe_to_reach(curve, 1e-3));
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - p_start).count();
  prog.finished(p, res.seconds);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = ".";
  bool quick = false, check = false;
  std::vector<std::string> only_methods;
  unsigned jobs = std::max(1u, std::min(2u, std::thread::hardware_concurrency()));
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else if (std::strcmp(argv[i], "--check-reference") == 0)
      check = true;
    else if (std::strcmp(argv[i], "--flow-grids") == 0)
      flow_grid_study = true;
    else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      only_methods = split(argv[++i]);
    else if (std::strcmp(argv[i], "--grids") == 0 && i + 1 < argc)
      only_grids = split(argv[++i]);
    else if (std::strncmp(argv[i], "-j", 2) == 0)
      jobs = unsigned(std::max(1, std::atoi(argv[i] + 2)));
    else
      out_dir = argv[i];
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<problem> problems = make_problems(quick);
  const std::vector<int> budgets =
      quick ? std::vector<int>{6, 10, 20} : std::vector<int>{5, 6, 8, 10, 15, 20, 30, 40, 50};
  std::vector<method_entry> ms = methods();
  if (flow_grid_study) {  // the 2-D and d = 64 flow settings; the baselines and three STORK configurations
    std::erase_if(problems, [](const problem& p) { return p.k != kind::flow || p.gm.dim > 1000; });
    std::erase_if(ms, [](const method_entry& m) {
      return m.stork && m.name != "stork4" && m.name != "stork4_d3" && m.name != "stork2";
    });
  }
  if (!only_methods.empty())
    std::erase_if(ms, [&](const method_entry& m) {
      return std::find(only_methods.begin(), only_methods.end(), m.name) == only_methods.end();
    });
  const std::string prefix = flow_grid_study ? "flow_grids_" : "";
  if (check) return check_references(problems);
  for (const problem& p : problems)
    if (const double diff = matches_test_helper(p); !(diff < 1e-10)) {
      std::fprintf(stderr, "quality: %s: the mixture's outputs differ from tests/support by %.1e\n",
                   p.name.c_str(), diff);
      return 1;
    }
  std::FILE* csv = std::fopen((out_dir + "/" + prefix + "quality.csv").c_str(), "w");
  std::FILE* tgt = std::fopen((out_dir + "/" + prefix + "nfe_to_target.csv").c_str(), "w");
  if (!csv || !tgt) {
    std::fprintf(stderr, "quality: cannot write into %s\n", out_dir.c_str());
    return 1;
  }

  // Problems run on `jobs` threads, largest first; the files list them in their own order.
  std::vector<problem_result> results(problems.size());
  std::vector<std::size_t> order(problems.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return problems[a].gm.dim * problems[a].samples > problems[b].gm.dim * problems[b].samples;
  });
  std::atomic<std::size_t> next{0};
  progress prog(problems.size());
  auto worker = [&] {
    for (std::size_t k = next++; k < order.size(); k = next++)
      results[order[k]] = run_problem(problems[order[k]], order[k], ms, budgets, prog);
  };
  std::vector<std::thread> pool;
  for (unsigned j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();

  std::fprintf(csv,
               "problem,kind,dim,shift,grid,own_grid,shared_grid,method,budget,nfe,steps,end,terminal_median,"
               "terminal_rms,median_other_end,sw2,sw2_ref,sw2_floor\n");
  std::fprintf(
      tgt, "problem,kind,shift,grid,own_grid,shared_grid,method,nfe_for_median_1e-2,nfe_for_median_1e-3\n");
  for (const problem_result& r : results) {
    std::fputs(r.rows.c_str(), csv);
    std::fputs(r.targets.c_str(), tgt);
  }
  std::fclose(csv);
  std::fclose(tgt);
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - start;
  std::fprintf(
      stderr,
      "quality: %zu problems, %zu methods in %.0f s on %u threads; wrote %s/%s{quality,nfe_to_target}.csv\n",
      problems.size(), ms.size(), dt.count(), jobs, out_dir.c_str(), prefix.c_str());
  return 0;
}
