/// @file
/// @brief `stork::sigmas_from_name`: every σ schedule of stable-diffusion.cpp's `--scheduler` menu and of
/// ComfyUI's KSampler menu, chosen at run time by name, with key=value options.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "stork/detail/key_value.hpp"
#include "stork/detail/named_schedules.hpp"
#include "stork/detail/schedule_check.hpp"
#include "stork/detail/span.hpp"
#include "stork/error.hpp"
#include "stork/model/vp_discrete.hpp"

namespace stork {

/// @brief What a named schedule may read about the model and the image: the σ table of a discrete ε/v
/// model, or the shift of a discrete flow model, the image's token count, and the schedule's options.
///
/// Members in this order (designated initializers in C++20; assign them one by one in C++17):
/// @code
/// const auto sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);    // SD 1.x / 2.x / XL
/// auto s = stork::sigmas_from_name("karras", 20, stork::schedule_context{.table = &sd});
/// auto f = stork::sigmas_from_name("simple", 28, stork::schedule_context{.flow_shift = 3.0});  // SD3
/// auto x = stork::sigmas_from_name("flux", 28, stork::schedule_context{.image_seq_len = 4096});
/// auto b = stork::sigmas_from_name("beta", 20, {.table = &sd, .options = "alpha=0.5,beta=0.7"});
/// @endcode
struct schedule_context {
  /// A discrete ε/v model's β table (stable-diffusion.cpp's `CompVisDenoiser` / `CompVisVDenoiser`, its σ_i =
  /// √((1 − ᾱ_i)/ᾱ_i) and log-σ interpolation between timesteps). Not owned: it must outlive the call.
  /// SD 1.x, 2.x (ε and v) and SDXL all use `vp_discrete::scaled_linear(1000, 0.00085, 0.012)`.
  const vp_discrete* table = nullptr;
  /// > 0: a discrete flow model with this shift (stable-diffusion.cpp's `DiscreteFlowDenoiser`): the σ of
  /// timestep t ∈ [0, 999] is s·u/(1 + (s − 1)·u) with u = (t + 1)/1000. 0: not a flow model. SD3: 3.0.
  double flow_shift = 0.0;
  /// The image's token count, for the resolution-dependent schedules (flux, flux2, ltx2, logit_normal);
  /// 0: not given. stable-diffusion.cpp passes (height/f)·(width/f) with f its VAE scale factor (times the
  /// latent frames for video); pass the count your model's reference uses.
  int image_seq_len = 0;
  /// The schedule's options, "key=value,key=value" (',' or ';' between items); see `sigmas_from_name` for
  /// each schedule's keys. Only this schedule's keys: an engine that has one string for the sampler and the
  /// scheduler (stable-diffusion.cpp's extra_sample_args) splits it first (`schedule_option_keys`).
  std::string_view options = "";
};

namespace detail {

/// What a schedule is built from.
enum class schedule_input {
  model,     ///< the model's timestep σ: a `table` or a `flow_shift` (no default: one of them is needed)
  ve_table,  ///< published VE noise levels (ays, gits): anything but a flow model
  flow_len   ///< flow-matching σ ∈ [0, 1] from image_seq_len (flux, flux2, ltx2, logit_normal): no table
};

struct schedule_entry {
  std::string_view name;
  schedule_input input;
  std::vector<std::string_view> keys;
};

/// The menu, in stable-diffusion.cpp's order (its `scheduler_to_str`), then ComfyUI's additions.
inline const std::vector<schedule_entry>& schedule_entries() {
  static const std::vector<schedule_entry> entries = {
      {"discrete", schedule_input::model, {}},
      {"karras", schedule_input::model, {"rho"}},
      {"exponential", schedule_input::model, {}},
      {"ays", schedule_input::ve_table, {"model_type"}},
      {"gits", schedule_input::ve_table, {"coeff"}},
      {"sgm_uniform", schedule_input::model, {}},
      {"simple", schedule_input::model, {}},
      {"smoothstep", schedule_input::model, {}},
      {"kl_optimal", schedule_input::model, {}},
      {"lcm", schedule_input::model, {}},
      {"bong_tangent", schedule_input::model, {}},
      {"ltx2", schedule_input::flow_len, {"max_shift", "base_shift", "terminal", "stretch"}},
      {"logit_normal",
       schedule_input::flow_len,
       {"mu", "std", "logsnr_min", "logsnr_max", "resolution_aware"}},
      {"flux2", schedule_input::flow_len, {}},
      {"flux", schedule_input::flow_len, {"base_shift", "max_shift"}},
      {"beta", schedule_input::model, {"alpha", "beta"}},
      {"ddim_uniform", schedule_input::model, {}},
      {"linear_quadratic", schedule_input::model, {"threshold_noise", "linear_steps"}},
  };
  return entries;
}

/// Other spellings: stable-diffusion.cpp's `str_to_scheduler` reads "normal" as "discrete" (ComfyUI's
/// normal_scheduler is the same rule on a σ table).
struct schedule_alias {
  std::string_view alias, name;
};
inline constexpr schedule_alias schedule_aliases[] = {{"normal", "discrete"}};

inline const schedule_entry* find_schedule(std::string_view name) noexcept {
  for (const schedule_alias& a : schedule_aliases)
    if (a.alias == name) name = a.name;
  for (const schedule_entry& e : schedule_entries())
    if (e.name == name) return &e;
  return nullptr;
}

inline const schedule_entry& schedule_or_throw(std::string_view where, std::string_view name) {
  if (const schedule_entry* e = find_schedule(name)) return *e;
  std::string accepted;
  for (const schedule_entry& e : schedule_entries())
    accepted.append(accepted.empty() ? "" : ", ").append(e.name);
  for (const schedule_alias& a : schedule_aliases)
    accepted.append(", ").append(a.alias).append(" (= ").append(a.name).append(")");
  fail_text(where, "name", name, "unknown schedule; accepted: " + accepted);
}

[[noreturn]] inline void fail_context(const std::string& where, std::string_view what, std::string_view why) {
  throw error("stork: " + where + ": " + std::string(what) + " is invalid (" + std::string(why) + ")");
}

}  // namespace detail

/// @brief Every canonical schedule name of `sigmas_from_name`: stable-diffusion.cpp's 16 (discrete, karras,
/// exponential, ays, gits, sgm_uniform, simple, smoothstep, kl_optimal, lcm, bong_tangent, ltx2,
/// logit_normal, flux2, flux, beta), then ComfyUI's ddim_uniform and linear_quadratic. The alias "normal"
/// (= discrete) is accepted too but not listed.
inline const std::vector<std::string_view>& schedule_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const detail::schedule_entry& e : detail::schedule_entries()) v.push_back(e.name);
    return v;
  }();
  return names;
}

/// @brief The canonical name of a schedule name or alias ("normal" → "discrete"). Throws stork::error
/// listing every accepted name if `name` is unknown.
inline std::string_view canonical_schedule_name(std::string_view name) {
  return detail::schedule_or_throw("canonical_schedule_name", name).name;
}

/// @brief The option keys the schedule `name` accepts in schedule_context::options (empty for most).
/// Throws stork::error listing every accepted name if `name` is unknown.
inline const std::vector<std::string_view>& schedule_option_keys(std::string_view name) {
  return detail::schedule_or_throw("schedule_option_keys", name).keys;
}

/// @brief The σ list of the schedule `name` for `steps` steps: decreasing σ, the last value exactly 0, as
/// stable-diffusion.cpp's `Denoiser::get_sigmas` (src/runtime/denoiser.hpp) returns it, and as ComfyUI's
/// `calculate_sigmas` (comfy/samplers.py) does for ddim_uniform and linear_quadratic.
///
/// Usually steps + 1 values; beta drops repeated timesteps (fewer), ddim_uniform follows ComfyUI's
/// stride ⌊T/steps⌋ (sometimes more). Below, T = the table's training timesteps (1000 for flow), σ(t) =
/// the model's σ of timestep t, σ_min = σ(0), σ_max = σ(T − 1); each name with its rule (a
/// stable-diffusion.cpp class unless said), what it needs, and its option keys (defaults):
/// - `discrete` (alias `normal`): `DiscreteScheduler`, σ(t) at t evenly spaced from T − 1 to 0. Needs a
///   table or a flow_shift.
/// - `karras`: `KarrasScheduler`, the Karras ρ-ramp from σ_max to σ_min. Table or flow_shift. `rho` (7).
/// - `exponential`: `ExponentialScheduler`, log-uniform from σ_max to σ_min. Table or flow_shift.
/// - `ays`: `AYSScheduler`, the Align Your Steps levels, log-linearly interpolated. No flow_shift.
///   `model_type` (sd1; sdxl, svd — stable-diffusion.cpp picks by model version).
/// - `gits`: `GITSScheduler`, the GITS table rows (steps >= 2), interpolated beyond 20 steps. No
///   flow_shift. `coeff` (1.20; 0.80 … 1.50 by 0.05, as ComfyUI's GITSScheduler node).
/// - `sgm_uniform`: `SGMUniformScheduler`, the first `steps` of steps + 1 timesteps from T − 1 to 0.
///   Table or flow_shift.
/// - `simple`: `SimpleScheduler`, the integer timesteps T − 1 − ⌊i·T/steps⌋. Table or flow_shift.
/// - `smoothstep`: `SmoothStepScheduler`, the timesteps round(u²(3 − 2u)·(T − 1)), u = 1 − i/steps.
///   Table or flow_shift.
/// - `kl_optimal`: `KLOptimalScheduler`, tan of evenly spaced angles from atan σ_max to atan σ_min. Table
///   or flow_shift.
/// - `lcm`: `LCMScheduler`, LCM's skipping timesteps on 50 original steps (steps <= 50). Table or flow_shift.
/// - `bong_tangent`: `BongTangentScheduler`, two arctangent stages in σ. Table or flow_shift.
/// - `ltx2`: `LTX2Scheduler`, a token-dependent shift, stretched so that the last nonzero σ is `terminal`.
///   image_seq_len, no table. `max_shift` (2.05), `base_shift` (0.95), `terminal` (0.1, in [0, 0.99]),
///   `stretch` (true).
/// - `logit_normal`: `LogitNormalScheduler`, clamped logit-normal quantiles. image_seq_len (unless
///   resolution_aware=false), no table. `mu` (0), `std` (1.75), `logsnr_min` (−15), `logsnr_max` (18),
///   `resolution_aware` (true).
/// - `flux2`: `Flux2Scheduler`, an empirical μ from the token count and the steps. image_seq_len, no table.
/// - `flux`: `FluxScheduler`, μ linear in the token count (256 → 4096). image_seq_len, no table.
///   `base_shift` (0.5), `max_shift` (1.15).
/// - `beta`: `BetaScheduler`, Beta(α, β) quantiles on integer timesteps, repeats dropped. Table or
///   flow_shift. `alpha` (0.6), `beta` (0.6).
/// - `ddim_uniform`: ComfyUI's `ddim_scheduler`, the timesteps 1, 1 + ⌊T/steps⌋, … (decreasing). Table or
///   flow_shift.
/// - `linear_quadratic`: ComfyUI's `linear_quadratic_schedule` (Genmo's Mochi), times σ_max. Table or
///   flow_shift. `threshold_noise` (0.025), `linear_steps` (⌊steps/2⌋).
///
/// The schedules on the model's timesteps need `table` or `flow_shift`: there is no default model (an
/// engine that forgot to say which model it runs gets an error, not SD 1.x's grid). flux, flux2, ltx2 and
/// logit_normal give flow-matching σ ∈ [0, 1] and ignore `flow_shift`, as stable-diffusion.cpp does; ays
/// and gits give published VE σ (SD 1.5 / SDXL up to 14.6, SVD up to 700) and ignore `table`.
///
/// Precision: stork computes in double; stable-diffusion.cpp in float (its σ table too: from float
/// ᾱ, whose relative round-off reaches ~1e-5 in σ (SD 1.x, measured)), so its lists differ from these by
/// float round-off. Where its float arithmetic picks integer timesteps (simple, smoothstep, bong_tangent's
/// stage lengths) the same float operations pick them here; beta uses stable-diffusion.cpp's own quantile
/// routine, so the rounded timesteps agree too.
///
/// Where stork differs from stable-diffusion.cpp on purpose:
/// - karras and exponential with 1 step give k-diffusion's {σ_max, 0} (stable-diffusion.cpp: 0/0, NaN);
/// - gits with 1 step is an error (the tables start at 2 steps; stable-diffusion.cpp reads before its table);
/// - lcm with more than 50 steps, and any list that would repeat a σ (smoothstep or simple with very many
///   steps), are errors instead of zero-length steps; so are options that stable-diffusion.cpp would ignore
///   with a warning (unknown keys, malformed values, beta's α ≤ 0) or clamp (ltx2's terminal);
/// - ays for SD 2.x: stable-diffusion.cpp has no levels (it reads an empty list); stork uses model_type.
///
/// Where ComfyUI differs, for the names both have (stork follows stable-diffusion.cpp): on a flow model
/// with shift ≠ 1, ComfyUI's normal and sgm_uniform space the timesteps between 1000·σ_max and
/// 1000·σ_min, the unshifted σ·1000 (its `ModelSamplingDiscreteFlow.timestep`), not 999 … 0: its last
/// nonzero σ is shift(σ_min) instead of σ_min; beta uses scipy's exact quantile and rounds half to even;
/// kl_optimal with 1 step is NaN; simple computes ⌊i·T/steps⌋ in double. On a σ table they agree.
///
/// @par Cost: O(steps) (beta: O(steps) quantiles of ≤ 30 Newton steps each); one allocation for the result.
/// @throws stork::error naming the parameter and the value for: an unknown name (the message lists every
/// accepted name); steps < 1 (gits: < 2; lcm: > 50) or > 10⁶; flow_shift negative or not finite;
/// image_seq_len < 0; table and flow_shift both set, or an empty table; a schedule whose input is missing
/// or wrong (see the list); an unknown option key, a key given twice, a malformed, non-finite or
/// out-of-range value (the message lists the accepted keys); a list that is not strictly decreasing
/// before its final 0.
inline std::vector<double> sigmas_from_name(std::string_view name, int steps,
                                            const schedule_context& ctx = {}) {
  const detail::schedule_entry& entry = detail::schedule_or_throw("sigmas_from_name", name);
  const std::string_view canonical = entry.name;
  const std::string where = "sigmas_from_name(\"" + std::string(canonical) + "\")";
  const std::string what = "the " + std::string(canonical) + " schedule";

  if (!(std::isfinite(ctx.flow_shift) && ctx.flow_shift >= 0.0))
    detail::fail(where, "flow_shift", ctx.flow_shift, "needs a finite flow_shift >= 0 (0: not a flow model)");
  if (ctx.image_seq_len < 0)
    detail::fail(where, "image_seq_len", ctx.image_seq_len, "needs image_seq_len >= 0 (0: not given)");
  const bool flow = ctx.flow_shift > 0.0;
  if (ctx.table != nullptr && flow)
    detail::fail(where, "flow_shift", ctx.flow_shift,
                 "a table and a flow_shift are both set: give the table for a discrete eps/v model, or the "
                 "flow_shift for a discrete flow model");
  if (ctx.table != nullptr && ctx.table->num_train_timesteps() < 2)
    detail::fail(where, "table->num_train_timesteps()", ctx.table->num_train_timesteps(),
                 "needs a table of at least 2 training timesteps");
  detail::check_schedule_steps(where, steps, canonical == "gits" ? 2 : 1);
  const detail::key_value_options opt(where, ctx.options, entry.keys);

  switch (entry.input) {
    case detail::schedule_input::model:
      if (ctx.table == nullptr && !flow)
        detail::fail_context(where, "table = nullptr with flow_shift = 0",
                             what +
                                 " is built on the model's timestep sigmas: set schedule_context::table to "
                                 "the model's stork::vp_discrete (SD 1.x/2.x/XL: "
                                 "vp_discrete::scaled_linear(1000, 0.00085, 0.012)), or flow_shift > 0 "
                                 "for a discrete flow model");
      break;
    case detail::schedule_input::ve_table:
      if (flow)
        detail::fail(where, "flow_shift", ctx.flow_shift,
                     what +
                         " gives the published VE noise levels of SD 1.5/SDXL/SVD (sigma up to 14.6 or "
                         "700), not flow-matching sigmas in [0, 1]");
      break;
    case detail::schedule_input::flow_len:
      if (ctx.table != nullptr)
        detail::fail_context(where, "table = (set)",
                             what +
                                 " gives flow-matching sigmas in [0, 1] for flow models; leave table null "
                                 "(flow_shift is not read by it)");
      break;
  }
  auto need_tokens = [&] {
    if (ctx.image_seq_len <= 0)
      detail::fail(where, "image_seq_len", ctx.image_seq_len,
                   what +
                       " depends on the image's token count: give image_seq_len > 0 (stable-diffusion.cpp "
                       "passes (height/f)*(width/f), f its VAE scale factor)");
  };

  const detail::timestep_sigma model{ctx.table, ctx.flow_shift};
  std::vector<double> sig;
  if (canonical == "discrete") {
    sig = detail::discrete_schedule(steps, model);
  } else if (canonical == "karras") {
    const double rho = opt.real("rho", 7.0);
    if (!(rho > 0.0)) opt.reject("rho", "needs rho > 0");
    sig = detail::karras_schedule_of(steps, model, rho);
  } else if (canonical == "exponential") {
    sig = detail::exponential_schedule_of(steps, model);
  } else if (canonical == "ays") {
    const std::string_view family =
        opt.choice("model_type", "sd1", {"sd1", "sdxl", "svd", "SD1", "SDXL", "SVD"});
    const std::size_t row = family == "sd1" || family == "SD1"     ? 0
                            : family == "sdxl" || family == "SDXL" ? 1
                                                                   : 2;
    sig = detail::ays_schedule(steps, row);
  } else if (canonical == "gits") {
    const double coeff = opt.real("coeff", 1.20);
    const double k = std::round((coeff - 0.80) / 0.05);
    if (!(k >= 0.0 && k < static_cast<double>(detail::gits_coefficients) &&
          std::fabs(coeff - (0.80 + 0.05 * k)) <= 1e-6))
      opt.reject("coeff", "needs one of the published coefficients 0.80, 0.85, ..., 1.50");
    sig = detail::gits_schedule(steps, static_cast<std::size_t>(k));
  } else if (canonical == "sgm_uniform") {
    sig = detail::sgm_uniform_schedule(steps, model);
  } else if (canonical == "simple") {
    sig = detail::simple_schedule(steps, model);
  } else if (canonical == "smoothstep") {
    sig = detail::smoothstep_schedule(steps, model);
  } else if (canonical == "kl_optimal") {
    sig = detail::kl_optimal_schedule(steps, model);
  } else if (canonical == "lcm") {
    if (steps > detail::lcm_original_steps)
      detail::fail(
          where, "steps", steps,
          "at most 50: LCM's 50 original timesteps; more would repeat timesteps (zero-length steps)");
    if (model.timesteps() < static_cast<std::size_t>(detail::lcm_original_steps))
      detail::fail(where, "table->num_train_timesteps()", model.timesteps(),
                   "needs at least 50 training timesteps (LCM's 50 original timesteps)");
    sig = detail::lcm_schedule(steps, model);
  } else if (canonical == "bong_tangent") {
    sig = detail::bong_tangent_schedule(steps, model);
  } else if (canonical == "ltx2") {
    need_tokens();
    detail::ltx2_options o;
    o.max_shift = opt.real("max_shift", o.max_shift);
    o.base_shift = opt.real("base_shift", o.base_shift);
    o.terminal = opt.real("terminal", o.terminal);
    o.stretch = opt.boolean("stretch", o.stretch);
    if (!(o.terminal >= 0.0 && o.terminal <= 0.99))
      opt.reject("terminal", "needs 0 <= terminal <= 0.99 (stable-diffusion.cpp clamps it to that range)");
    sig = detail::ltx2_schedule(steps, ctx.image_seq_len, o);
  } else if (canonical == "logit_normal") {
    detail::logit_normal_options o;
    o.mu = opt.real("mu", o.mu);
    o.std = opt.real("std", o.std);
    o.logsnr_min = opt.real("logsnr_min", o.logsnr_min);
    o.logsnr_max = opt.real("logsnr_max", o.logsnr_max);
    o.resolution_aware = opt.boolean("resolution_aware", o.resolution_aware);
    if (!(o.std > 0.0)) opt.reject("std", "needs std > 0");
    if (!(o.logsnr_max > o.logsnr_min))
      opt.reject(opt.has("logsnr_max") ? "logsnr_max" : "logsnr_min", "needs logsnr_min < logsnr_max");
    if (o.resolution_aware) need_tokens();
    sig = detail::logit_normal_schedule(steps, ctx.image_seq_len, o);
  } else if (canonical == "flux2") {
    need_tokens();
    sig = detail::flux2_schedule(steps, ctx.image_seq_len);
  } else if (canonical == "flux") {
    need_tokens();
    const double base = opt.real("base_shift", 0.5), max = opt.real("max_shift", 1.15);
    sig = detail::flux_schedule(steps, ctx.image_seq_len, base, max);
  } else if (canonical == "beta") {
    const double alpha = opt.real("alpha", 0.6), beta = opt.real("beta", 0.6);
    if (!(alpha > 0.0)) opt.reject("alpha", "needs alpha > 0");
    if (!(beta > 0.0)) opt.reject("beta", "needs beta > 0");
    sig = detail::beta_schedule(steps, model, alpha, beta);
  } else if (canonical == "ddim_uniform") {
    sig = detail::ddim_uniform_schedule(steps, model);
  } else {  // linear_quadratic
    const double threshold = opt.real("threshold_noise", 0.025);
    if (!(threshold > 0.0 && threshold < 1.0)) opt.reject("threshold_noise", "needs 0 < threshold_noise < 1");
    const int linear_steps = opt.integer("linear_steps", steps / 2);
    if (steps >= 2 && !(linear_steps >= 1 && linear_steps <= steps - 1))
      opt.reject("linear_steps", "needs 1 <= linear_steps <= steps - 1 = " + std::to_string(steps - 1));
    sig = detail::linear_quadratic_schedule(steps, model.sigma_max(), threshold, linear_steps);
  }

  detail::check_decreasing_sigmas(where, steps, stork::span<const double>(sig.data(), sig.size() - 1),
                                  canonical,
                                  "at this many steps the schedule repeats a sigma (a zero-length step) or "
                                  "its options make it non-monotone; use fewer steps or check the options");
  return sig;
}

}  // namespace stork
