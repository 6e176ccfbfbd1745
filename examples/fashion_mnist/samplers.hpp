/// @file
/// @brief Example code (not part of the library): the samplers the Fashion-MNIST demos compare, each set up
/// the way its users run an SD-type discrete ε model (demo.cpp) or a flow-matching velocity model
/// (flow_demo.cpp), and the budget rule that gives every method the same number of model calls. Shared by
/// the demos, sample_check.cpp (the ctest) and fd.cpp (the noise).
///
/// Three ways to run the ε network ε̂(x_VP, t) (`eps_mlp`, trained on SD's scaled-linear table):
/// - VP τ, the paper's ε path (STORK): `stork::field(ε, vp_discrete table, prediction::epsilon)` on a grid
///   uniform in τ from 1 (t = 999, the noise) to 1/T (t = 0); the run ends with the denoise x̂₀. The network
///   is called at t = τ·T − 1.
/// - VP τ as the reference STORKScheduler.py ships it (`variant::reference`): its noise mode reads only the
///   first and last β and assumes a linear β between them (docs/reference.md §2.0: wrong for scaled_linear,
///   so stork runs it as `vp_linear{T·β_first, T·β_last}`), on its grid `vp_taus(N)` that starts at
///   (N − 1)/N with the noise unchanged, calling the network at t = 1000·τ.
/// - VE σ, the "Karras" setting of k-diffusion / ComfyUI / stable-diffusion.cpp: the denoiser
///   D(x, σ) = x − σ·ε̂(x/√(σ² + 1), t(σ)) with t(σ) = `timestep_of_sigma(σ)` (fractional, log-σ
///   interpolation of the table), under `stork::ve{}` (prediction::sample), on `karras_sigmas(N)` between
///   the table's σ range (σ₀ = 0.0292 to σ₉₉₉ = 14.61, then 0); the noise is scaled by σ_max. DDIM
///   (`ddim_trailing`) runs on its stable-diffusion.cpp default grid instead, sd.cpp's `simple` schedule of
///   the table (`stork::sigmas_from_name("simple", N, {.table = ...})`, the same σ range): on Karras σ it
///   would be Euler step for step.
///
/// The velocity network v̂(x_σ, 1000·σ) (`velocity_mlp`, a rectified flow x_σ = (1 − σ)·x₀ + σ·ε) is a plain
/// velocity field in σ, which stork reads as rectified flow (`flow_entry`), on the six flow grids its users
/// run, each with a shift S (σ = S·u/(1 + (S − 1)·u); SD3 uses 3), all ending at σ = 0 and starting from the
/// N(0, I) noise as it is:
/// - `flow_sigmas`: diffusers' FlowMatchEulerDiscreteScheduler (`stork::flow_sigmas`, σ from 1 down to a
///   σ_min tail): what Euler, Heun and the ancestral/SDE samplers of SD3/FLUX pipelines run on;
/// - `flow_beta`: `flow_sigmas` with diffusers' `use_beta_sigmas=True` (`.spacing =
///   stork::sigma_spacing::beta`): STORK's flow grid (docs/flow_grid.md);
/// - `discrete`: stable-diffusion.cpp's `discrete` schedule of a flow model (`stork::sigmas_from_name(
///   "discrete", N, {.flow_shift = S})`, σ = F((t + 1)/1000) at t evenly spaced from 999 to 0, then 0;
///   `flow_sigmas` at shift 1, while at shift 3 diffusers spaces u to F(1/T) instead of 1/T): the default
///   grid of the sd.cpp menu's methods on flow models;
/// - `sd_simple`: stable-diffusion.cpp's `simple` schedule of a flow model, its default for `ddim_trailing`;
/// - `use_flow_sigmas`: diffusers' DPMSolverMultistep/UniPCMultistep with use_flow_sigmas=True
///   (`stork::use_flow_sigmas`, from F(1 − 1/T) = 0.999 (S = 1), 0.99967 (S = 3), no tail);
/// - `simple`: ComfyUI's "simple" scheduler on a flow model, σ_k = F(1 − k/N) (the iPNDM setting of
///   bench/quality).
/// Which method runs on which grid is one list, `flow_methods`.
#pragma once

#include <stork/eigen.hpp>
#include <stork/stork.hpp>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.hpp"
#include "models.hpp"

namespace fashion_mnist::demo {

using mat = Eigen::MatrixXf;
/// The network at a continuous timestep t on the scale of 1000 training timesteps: ε̂(x_VP, t) or
/// v̂(x_σ, 1000·σ); or a stand-in.
using net_fn = std::function<void(const mat&, double, mat&)>;

inline constexpr int train_timesteps = 1000;
inline constexpr double beta_start = 0.00085, beta_end = 0.012;

/// The model's table: Stable Diffusion's scaled-linear β, T = 1000 (`sd_alpha_bars` in models.hpp).
inline const stork::vp_discrete& sd_table() {
  static const stork::vp_discrete table =
      stork::vp_discrete::scaled_linear(train_timesteps, beta_start, beta_end);
  return table;
}

/// The grids of the file comment: four for the ε model, six for the flow model.
enum class grid_kind {
  vp_uniform,       ///< τ uniform from 1 to 1/T: N intervals, N + 1 points
  vp_paper,         ///< `stork::vp_taus(N)`: (N − 1)/N, …, 1/N, 1e-3 (N points)
  karras,           ///< `karras_sigmas(N)` over the table's σ range, then 0
  table_simple,     ///< stable-diffusion.cpp's `simple` schedule of the table (VE σ), then 0
  flow_sigmas,      ///< `stork::flow_sigmas(N, {.shift = S})`: 1, …, σ_min, 0 (N intervals)
  flow_beta,        ///< `flow_sigmas` with `.spacing = sigma_spacing::beta` (N intervals)
  use_flow_sigmas,  ///< `stork::use_flow_sigmas(N, S)`: F(1 − 1/T), …, 0 (N intervals)
  simple,           ///< ComfyUI's simple scheduler: F(1), F(1 − 1/N), …, F(1/N), 0 (N intervals)
  sd_discrete,      ///< stable-diffusion.cpp's flow `discrete` schedule at shift S (N intervals)
  sd_simple,        ///< stable-diffusion.cpp's flow `simple` schedule at shift S (N intervals)
};

/// Whether the grid is one of the flow model's (σ from about 1 to 0, with a shift).
inline bool is_flow(grid_kind g) {
  return g == grid_kind::flow_sigmas || g == grid_kind::flow_beta || g == grid_kind::use_flow_sigmas ||
         g == grid_kind::simple || g == grid_kind::sd_discrete || g == grid_kind::sd_simple;
}

/// Whether the ε model runs the grid as the VE denoiser (σ from σ_max; the noise scaled by it).
inline bool is_ve(grid_kind g) { return g == grid_kind::karras || g == grid_kind::table_simple; }

/// The grid's name in tables and file names.
inline std::string grid_name(grid_kind g) {
  switch (g) {
    case grid_kind::vp_uniform:
      return "vp_uniform";
    case grid_kind::vp_paper:
      return "vp_taus";
    case grid_kind::karras:
      return "karras";
    case grid_kind::table_simple:
      return "simple";
    case grid_kind::flow_sigmas:
      return "flow_sigmas";
    case grid_kind::flow_beta:
      return "flow_beta";
    case grid_kind::use_flow_sigmas:
      return "use_flow_sigmas";
    case grid_kind::simple:
      return "simple";
    case grid_kind::sd_discrete:
      return "discrete";
    case grid_kind::sd_simple:
      return "sd_simple";
  }
  return "?";
}

/// One line for the table: what a grid is.
inline std::string describe(grid_kind g) {
  switch (g) {
    case grid_kind::vp_uniform:
      return "VP tau uniform 1 -> 1/T, eps(table), denoise at the end";
    case grid_kind::vp_paper:
      return "VP vp_taus(N) (starts at (N-1)/N), eps as vp_linear(0.85, 12): the reference code's reading";
    case grid_kind::karras:
      return "VE Karras sigma 14.61 -> 0.0292, 0; D = x - sigma*eps(x/sqrt(sigma^2+1), t(sigma))";
    case grid_kind::table_simple:
      return "VE sd.cpp simple schedule of the table (sigma(999 - floor(i*1000/N))), 0; D as karras";
    case grid_kind::flow_sigmas:
      return "flow_sigmas: diffusers FlowMatchEulerDiscreteScheduler, sigma 1 -> sigma_min, 0";
    case grid_kind::flow_beta:
      return "flow_beta: flow_sigmas with use_beta_sigmas (Beta(0.6, 0.6) spacing), STORK's flow grid";
    case grid_kind::use_flow_sigmas:
      return "use_flow_sigmas: diffusers DPMSolverMultistep/UniPC flow grid, sigma F(1 - 1/T) -> 0";
    case grid_kind::simple:
      return "simple: ComfyUI's simple scheduler, sigma F(1 - k/N), then 0";
    case grid_kind::sd_discrete:
      return "discrete: stable-diffusion.cpp's flow discrete schedule, sigma F((t+1)/1000), t 999 -> 0, then "
             "0";
    case grid_kind::sd_simple:
      return "sd_simple: stable-diffusion.cpp's flow simple schedule, t = 999 - floor(i*1000/N), then 0";
  }
  return "?";
}

/// The grid of `steps` steps (what "steps" counts depends on the grid: intervals, or vp_taus' N points);
/// `shift` is the flow grids' S (ignored by the ε grids).
inline std::vector<double> grid_of(grid_kind g, int steps, double shift = 1.0) {
  switch (g) {
    case grid_kind::vp_uniform: {
      std::vector<double> t(static_cast<std::size_t>(steps) + 1);
      const double end = 1.0 / train_timesteps;
      for (int k = 0; k <= steps; ++k)
        t[static_cast<std::size_t>(k)] =
            (static_cast<double>(steps - k) + static_cast<double>(k) * end) / steps;
      t.front() = 1.0;
      t.back() = end;
      return t;
    }
    case grid_kind::vp_paper:
      return stork::vp_taus(steps, {.eps_stop = 1e-3});
    case grid_kind::karras: {
      const stork::vp_discrete& table = sd_table();
      return stork::karras_sigmas(
          steps, {.sigma_min = table.ve_sigma(0), .sigma_max = table.ve_sigma(train_timesteps - 1)});
    }
    case grid_kind::table_simple:
      return stork::sigmas_from_name("simple", steps, {.table = &sd_table()});
    case grid_kind::flow_sigmas:
      return stork::flow_sigmas(steps, {.shift = shift});
    case grid_kind::flow_beta:
      return stork::flow_sigmas(steps, {.shift = shift, .spacing = stork::sigma_spacing::beta});
    case grid_kind::sd_discrete:
      return stork::sigmas_from_name("discrete", steps, {.flow_shift = shift});
    case grid_kind::sd_simple:
      return stork::sigmas_from_name("simple", steps, {.flow_shift = shift});
    case grid_kind::use_flow_sigmas:
      return stork::use_flow_sigmas(steps, shift);
    case grid_kind::simple: {
      stork::flow_schedule s;  // u = 1, 1 − 1/N, …, 1/N, shifted like flow_sigmas' u, then 0
      s.shift = shift;
      s.sigmas.resize(static_cast<std::size_t>(steps));
      for (int k = 0; k < steps; ++k)
        s.sigmas[static_cast<std::size_t>(k)] = 1.0 - static_cast<double>(k) / static_cast<double>(steps);
      return stork::flow_sigmas(steps, s);
    }
  }
  return {};
}

/// The state a run starts from: the N(0, I) noise as it is in VP and flow, times the first σ in VE.
inline mat start_state(grid_kind g, const mat& noise, stork::span<const double> grid) {
  return is_ve(g) ? mat(noise * static_cast<float>(grid.front())) : noise;
}

/// The seed of the stochastic samplers' noise: every run gets a fresh `stork::normal_noise{draw_seed}`
/// (draws in memory order), so every stochastic method sees the same stream.
inline constexpr std::uint64_t draw_seed = 10;

/// A compared sampler: a short name (file names, the CSV, the figure), its grid and one call of
/// stork::integrate on the given ε̂.
struct method_entry {
  std::string name;
  grid_kind grid;
  bool stochastic = false;
  std::function<stork::stats(const net_fn&, mat&, stork::span<const double>)> run;
};

namespace detail {
/// A stochastic method declares `static constexpr bool stochastic = true`.
template <class Method, class = void>
inline constexpr bool is_stochastic = false;
template <class Method>
inline constexpr bool is_stochastic<Method, std::void_t<decltype(Method::stochastic)>> = Method::stochastic;

/// integrate, with the seeded draws for a stochastic method (for `dpmpp_2m_sde_bt` a Brownian tree over the
/// grid's σ range with the same seed, as stable-diffusion.cpp builds it).
template <class Method, class F>
stork::stats integrate(const Method& m, F&& f, mat& x, stork::span<const double> grid) {
  if constexpr (std::is_same_v<Method, stork::dpmpp_2m_sde_bt>) {
    stork::brownian_tree_noise tree(x, grid, draw_seed);
    return stork::integrate(m, std::forward<F>(f), x, grid, std::ref(tree));
  } else if constexpr (is_stochastic<Method>)
    return stork::integrate(m, std::forward<F>(f), x, grid, stork::normal_noise{draw_seed});
  else
    return stork::integrate(m, std::forward<F>(f), x, grid);
}
}  // namespace detail

/// A method on the paper's ε path in VP τ (file comment).
template <class Method>
method_entry vp_entry(std::string name, Method m) {
  return {std::move(name), grid_kind::vp_uniform, detail::is_stochastic<Method>,
          [m](const net_fn& eps, mat& x, stork::span<const double> grid) {
            auto model = [&eps](const mat& y, double tau, mat& out) {
              eps(y, std::clamp(tau * train_timesteps - 1.0, 0.0, train_timesteps - 1.0), out);
            };
            return detail::integrate(m, stork::field(model, sd_table(), stork::prediction::epsilon), x, grid);
          }};
}

/// A method as the reference code runs this model (file comment): vp_linear from the table's end βs.
template <class Method>
method_entry reference_entry(std::string name, Method m) {
  return {std::move(name), grid_kind::vp_paper, detail::is_stochastic<Method>,
          [m](const net_fn& eps, mat& x, stork::span<const double> grid) {
            auto model = [&eps](const mat& y, double tau, mat& out) {
              eps(y, std::clamp(tau * train_timesteps, 0.0, train_timesteps - 1.0), out);
            };
            const stork::vp_linear assumed{.beta_min = train_timesteps * beta_start,
                                           .beta_max = train_timesteps * beta_end};
            return detail::integrate(m, stork::field(model, assumed, stork::prediction::epsilon), x, grid);
          }};
}

/// @brief The typed method that the run-time menu makes of stable-diffusion.cpp's spelling `sd_name`, with
/// the menu's (stable-diffusion.cpp's) defaults and `options`: `stork::method_from_name(sd_name, options)`
/// as a `Method`.
template <class Method>
Method from_menu(std::string_view sd_name, std::string_view options = "") {
  const stork::any_method m = stork::method_from_name(sd_name, options);
  const Method* typed = m.get_if<Method>();
  if (typed == nullptr)
    throw stork::error("fashion_mnist: the menu's " + std::string(sd_name) + " is another type");
  return *typed;
}

/// A method on the VE denoiser over Karras sigmas, or another VE grid of the table (file comment);
/// stochastic methods get `stork::normal_noise`.
template <class Method>
method_entry ve_entry(std::string name, Method m, grid_kind kind = grid_kind::karras) {
  return {std::move(name), kind, detail::is_stochastic<Method>,
          [m](const net_fn& eps, mat& x, stork::span<const double> grid) {
            mat scaled;
            auto denoiser = [&eps, &scaled](const mat& y, double sigma, mat& d) {
              scaled = y * static_cast<float>(1.0 / std::sqrt(sigma * sigma + 1.0));
              eps(scaled, sd_table().timestep_of_sigma(sigma), d);
              d = y - static_cast<float>(sigma) * d;  // D = x − σ·ε̂
            };
            return detail::integrate(m, stork::field(denoiser, stork::ve{}, stork::prediction::sample), x,
                                     grid);
          }};
}

/// @brief A method on the velocity model (file comment) over a flow grid, read as `stork::rectified_flow`
/// (the stochastic methods take their flow rules); stochastic methods get `stork::normal_noise`.
template <class Method>
method_entry flow_entry(std::string name, grid_kind kind, Method m) {
  return {std::move(name), kind, detail::is_stochastic<Method>,
          [m](const net_fn& net, mat& x, stork::span<const double> grid) {
            auto velocity = [&net](const mat& y, double sigma, mat& v) { net(y, flow_timestep(sigma), v); };
            return detail::integrate(m, velocity, x, grid);
          }};
}

/// @brief THE list of compared samplers, in table order. Add a method with one line; the stochastic samplers
/// (a `static constexpr bool stochastic = true` method) get the seeded draws by themselves.
inline std::vector<method_entry> compared_methods() {
  using stork::variant;
  return {
      vp_entry("stork4_vp", stork::stork4{.stages = 5}),
      vp_entry("stork2_vp", stork::stork2{.stages = 50}),
      reference_entry("stork4_ref_vp", stork::stork4{.stages = 5, .variant = variant::reference}),
      ve_entry("stork4_ve", stork::stork4{.stages = 5}),
      ve_entry("stork2_ve", stork::stork2{.stages = 50}),
      ve_entry("euler", stork::euler{}),
      ve_entry("heun", stork::heun{}),
      ve_entry("dpmpp_2m", stork::dpmpp_2m{}),
      ve_entry("dpmpp_3m", stork::dpmpp_3m{}),
      ve_entry("unipc", stork::unipc{.order = 3}),
      ve_entry("ipndm", stork::ipndm{}),
      ve_entry("euler_ancestral", stork::euler_ancestral{}),
      ve_entry("dpmpp_2m_sde", stork::dpmpp_2m_sde{}),
      ve_entry("dpmpp_3m_sde", stork::dpmpp_3m_sde{}),
      // stable-diffusion.cpp's menu (sd.cpp's spelling, its defaults: `from_menu`), on Karras σ as above
      ve_entry("dpm2", from_menu<stork::dpm2>("dpm2")),
      ve_entry("dpmpp_2m_v2", from_menu<stork::dpmpp_2m_v2>("dpm++2mv2")),
      ve_entry("ipndm_fixed", from_menu<stork::ipndm>("ipndm")),
      ve_entry("ipndm_v_sdcpp", from_menu<stork::ipndm>("ipndm_v")),
      ve_entry("lms", from_menu<stork::lms>("lms")),
      ve_entry("res_multistep", from_menu<stork::res_multistep>("res_multistep")),
      ve_entry("res_2s", from_menu<stork::res_2s>("res_2s")),
      ve_entry("euler_ge", from_menu<stork::euler_ge>("euler_ge")),
      ve_entry("ddim_trailing", from_menu<stork::ddim_trailing>("ddim_trailing"), grid_kind::table_simple),
      ve_entry("dpmpp_2s_a", from_menu<stork::dpmpp_2s_ancestral>("dpm++2s_a")),
      ve_entry("er_sde", from_menu<stork::er_sde>("er_sde")),
      ve_entry("dpmpp_2m_sde_bt", from_menu<stork::dpmpp_2m_sde_bt>("dpm++2m_sde_bt")),
  };
}

/// stable-diffusion.cpp's menu methods neither demo runs, and why (listed under the tables).
inline std::vector<std::pair<std::string, std::string>> menu_methods_not_run() {
  return {
      {"lcm, tcd",
       "consistency-model samplers: each step jumps to the model's x0 prediction and re-noises it, which "
       "needs a consistency-distilled model (its x0 is the trajectory's end); on this non-distilled model "
       "x0 is the posterior mean, and re-noising it does not sample the model's distribution"},
      {"euler_cfg_pp, euler_a_cfg_pp",
       "CFG++ needs the unconditional prediction beside the guided one; these models are unconditional "
       "(no guidance)"}};
}

/// Methods of the issue that cannot run on this model, and why (listed under the table).
inline std::vector<std::pair<std::string, std::string>> methods_not_run() {
  std::vector<std::pair<std::string, std::string>> out{
      {"stork2_ref_vp",
       "stork refuses variant::reference for STORK-2 with an eps model: the reference code's noise "
       "STORK-2 is broken (docs/reference.md 2.3)"}};
  for (auto& m : menu_methods_not_run()) out.push_back(std::move(m));
  return out;
}

/// @brief THE list of samplers the flow demo compares, in table order, each on the grid of its users (file
/// comment): change a method's grid here. STORK runs on its flow grid `flow_beta` (docs/flow_grid.md); the
/// paper's reference code runs it on `flow_sigmas`. stable-diffusion.cpp's menu methods run on its flow
/// `discrete` schedule (ddim_trailing on its default, sd.cpp's `simple`), with sd.cpp's spelling and
/// defaults (`from_menu`).
inline std::vector<method_entry> flow_methods() {
  constexpr grid_kind euler_grid = grid_kind::flow_sigmas, multistep_grid = grid_kind::use_flow_sigmas,
                      stork_grid = grid_kind::flow_beta, comfy_grid = grid_kind::simple,
                      sd_grid = grid_kind::sd_discrete;
  stork::unipc unipc3;
  unipc3.order = 3;
  return {
      flow_entry("stork4", stork_grid, stork::stork4{}),
      flow_entry("stork2", stork_grid, stork::stork2{}),
      flow_entry("euler", euler_grid, stork::euler{}),
      flow_entry("heun", euler_grid, stork::heun{}),
      flow_entry("dpmpp_2m", multistep_grid, stork::dpmpp_2m{}),
      flow_entry("dpmpp_3m", multistep_grid, stork::dpmpp_3m{}),
      flow_entry("unipc", multistep_grid, unipc3),
      flow_entry("ipndm", comfy_grid, stork::ipndm{}),
      flow_entry("euler_ancestral", euler_grid, stork::euler_ancestral{}),
      flow_entry("dpmpp_2m_sde", euler_grid, stork::dpmpp_2m_sde{}),
      flow_entry("dpmpp_3m_sde", euler_grid, stork::dpmpp_3m_sde{}),
      flow_entry("dpm2", sd_grid, from_menu<stork::dpm2>("dpm2")),
      flow_entry("dpmpp_2m_v2", sd_grid, from_menu<stork::dpmpp_2m_v2>("dpm++2mv2")),
      flow_entry("ipndm_fixed", sd_grid, from_menu<stork::ipndm>("ipndm")),
      flow_entry("ipndm_v_sdcpp", sd_grid, from_menu<stork::ipndm>("ipndm_v")),
      flow_entry("lms", sd_grid, from_menu<stork::lms>("lms")),
      flow_entry("res_multistep", sd_grid, from_menu<stork::res_multistep>("res_multistep")),
      flow_entry("res_2s", sd_grid, from_menu<stork::res_2s>("res_2s")),
      flow_entry("euler_ge", sd_grid, from_menu<stork::euler_ge>("euler_ge")),
      flow_entry("ddim_trailing", grid_kind::sd_simple, from_menu<stork::ddim_trailing>("ddim_trailing")),
      flow_entry("dpmpp_2s_a", sd_grid, from_menu<stork::dpmpp_2s_ancestral>("dpm++2s_a")),
      flow_entry("er_sde", sd_grid, from_menu<stork::er_sde>("er_sde")),
      // the flow rule of dpmpp_2m_sde above (ComfyUI's, in the flow's log-SNR), so that the row shows the
      // Brownian tree; sd.cpp's own (the menu's default for its spelling, flow_rule=sd_cpp) applies its VE
      // formulas to the flow state and does not sample the data distribution (docs/menu.md)
      flow_entry("dpmpp_2m_sde_bt", sd_grid,
                 from_menu<stork::dpmpp_2m_sde_bt>("dpm++2m_sde_bt", "flow_rule=log_snr")),
  };
}

/// The NFE budgets of the table.
inline const std::vector<int> nfe_budgets{5, 8, 10, 15, 20, 30, 50};

/// @brief The grid steps that spend at most `budget` model calls, as many as possible: {steps, calls}, or
/// {0, 0} when even the smallest grid costs more. Found by running the method on a stand-in ε̂ = 0 on one
/// sample, so every method's own counting rule (start-up calls, Heun's two calls, the VP denoise, the
/// reference's N + 2) applies as it is.
inline std::pair<int, std::size_t> steps_for(const method_entry& m, int budget, double shift = 1.0) {
  const net_fn zero = [](const mat& x, double, mat& out) { out.setZero(x.rows(), x.cols()); };
  std::pair<int, std::size_t> best{0, 0};
  for (int steps = 1; steps <= budget; ++steps) {
    std::size_t nfe = 0;
    try {
      const std::vector<double> grid = grid_of(m.grid, steps, shift);  // STORK's start-up depends on the grid
      mat x = start_state(m.grid, mat::Zero(1, 1), grid);
      nfe = m.run(zero, x, grid).nfe;
    } catch (const stork::error&) {
      continue;  // too short a grid for the method (vp_taus needs N >= 2, the reference 3 points)
    }
    if (nfe > static_cast<std::size_t>(budget)) break;
    best = {steps, nfe};
  }
  return best;
}

/// N(0, I) noise, pixels × n, from `rng(seed)` column by column: the first k columns of a seed are the same
/// for every n. Seed 9 is fashion_mnist_fd's DDIM noise.
inline mat normals(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed = 9) {
  rng g(seed);
  mat m(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = static_cast<float>(g.normal());
  return m;
}

}  // namespace fashion_mnist::demo
