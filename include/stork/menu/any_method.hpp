/// @file
/// @brief The engines' menu: `stork::any_method`, a method chosen at run time by name
/// (`stork::method_from_name`), and the list of names (`stork::method_names`, `stork::method_menu`).
///
/// Names are stable-diffusion.cpp's `--sampling-method` strings (src/stable-diffusion.cpp,
/// `sample_method_to_str`), ComfyUI's KSampler names (comfy/sampler_names.py, `SAMPLER_NAMES`) and stork's
/// own type names; each method has one canonical name (stable-diffusion.cpp's where it has the method) and
/// accepts the others as aliases. Options are stable-diffusion.cpp's `extra_sample_args` syntax,
/// "key=value,key=value" (`detail::key_value_options`).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "stork/detail/arguments.hpp"
#include "stork/detail/key_value.hpp"
#include "stork/detail/type_traits.hpp"
#include "stork/error.hpp"
#include "stork/methods/consistency.hpp"
#include "stork/methods/ddim_trailing.hpp"
#include "stork/methods/dpm2.hpp"
#include "stork/methods/dpmpp.hpp"
#include "stork/methods/dpmpp_2s_ancestral.hpp"
#include "stork/methods/dpmpp_sde.hpp"
#include "stork/methods/er_sde.hpp"
#include "stork/methods/euler.hpp"
#include "stork/methods/euler_ancestral.hpp"
#include "stork/methods/euler_cfg_pp.hpp"
#include "stork/methods/euler_ge.hpp"
#include "stork/methods/heun.hpp"
#include "stork/methods/ipndm.hpp"
#include "stork/methods/res_2s.hpp"
#include "stork/methods/rkg2.hpp"
#include "stork/methods/rock4.hpp"
#include "stork/methods/sigma_multistep.hpp"
#include "stork/methods/stork2.hpp"
#include "stork/methods/stork4.hpp"
#include "stork/methods/stork_options.hpp"
#include "stork/methods/unipc.hpp"
#include "stork/methods/variant.hpp"

namespace stork {

namespace detail {
template <class M>
using eta_member_t = decltype(std::declval<const M&>().eta);

/// True unless the method's options make it add no noise (a stochastic method with `eta = 0`, e.g.
/// ddim_trailing's and tcd's defaults): such a run needs no noise source.
template <class M>
bool adds_noise(const M& m) noexcept {
  if constexpr (is_detected_v<eta_member_t, M>)
    return m.eta != 0.0;
  else
    return true;
}

/// Every method type of the menu (one alternative each).
using method_variant =
    std::variant<euler, heun, rkg2, rock4, stork2, stork4, dpmpp_2m, dpmpp_3m, unipc, ipndm, euler_ancestral,
                 dpmpp_2m_sde, dpmpp_3m_sde, dpmpp_2s_ancestral, ddim_trailing, res_2s, er_sde, lcm, tcd,
                 dpm2, dpmpp_2m_v2, res_multistep, res_multistep_ancestral, lms, euler_cfg_pp, euler_a_cfg_pp,
                 euler_ge, dpmpp_2m_sde_bt>;
}  // namespace detail

/// @brief A method chosen at run time: one of the library's method types with its options, and its
/// canonical name.
///
/// Made by `method_from_name`, or from a typed method (`any_method("stork4", stork::stork4{})`); run by
/// `make_scheduler` (an `any_scheduler<S>`) and `integrate` like a typed method.
class any_method {
 public:
  /// A typed method under a name of your choice (the menu's canonical names come from `method_from_name`).
  template <class Method, class = std::enable_if_t<std::is_constructible_v<detail::method_variant, Method>>>
  any_method(std::string_view name, Method m) : name_(name), method_(std::move(m)) {}
  /// One of the menu's methods under its name.
  any_method(std::string_view name, detail::method_variant m) : name_(name), method_(std::move(m)) {}

  /// The canonical name (for `method_from_name("euler_ancestral", "")`: "euler_a").
  std::string_view name() const noexcept { return name_; }
  /// True when the method adds noise with its options: `make_scheduler` / `integrate` need a noise source
  /// (a stochastic method with `eta = 0` adds none).
  bool stochastic() const noexcept {
    return std::visit(
        [](const auto& m) {
          return detail::is_stochastic_v<detail::remove_cvref_t<decltype(m)>> && detail::adds_noise(m);
        },
        method_);
  }
  /// True for the CFG++ methods, whose step takes the unconditional prediction too (`step(out, uncond, x)`,
  /// a model `f(x, t, out, uncond)` for `integrate`).
  bool needs_unconditional() const noexcept {
    return std::visit(
        [](const auto& m) { return detail::needs_unconditional_v<detail::remove_cvref_t<decltype(m)>>; },
        method_);
  }
  /// Calls `f(method)` with the typed method (`std::visit`).
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), method_);
  }
  /// The typed method, if it is a `Method` (else nullptr).
  template <class Method>
  const Method* get_if() const noexcept {
    return std::get_if<Method>(&method_);
  }

 private:
  std::string_view name_;
  detail::method_variant method_;
};

/// @brief One entry of the menu: the canonical name, the other spellings, the option keys, what it is.
struct method_entry {
  std::string_view name;     ///< canonical: stable-diffusion.cpp's spelling where it has the method
  std::string_view aliases;  ///< other accepted spellings (ComfyUI's, stork's type name), space-separated
  std::string_view keys;     ///< accepted option keys, space-separated
  std::string_view summary;  ///< what it is, the defining code, model calls per step
  /// Makes the method from the options; `spelling` is the name as given (an alias may set other defaults:
  /// ComfyUI's spellings of the SDE samplers default to its flow rule).
  detail::method_variant (*make)(const detail::key_value_options&, std::string_view spelling);
};

namespace detail {

inline stork::variant parse_variant(const key_value_options& o) {
  return o.choice("variant", "corrected", {"corrected", "reference"}) == "reference"
             ? stork::variant::reference
             : stork::variant::corrected;
}
inline stork::extrapolate parse_extrapolate(const key_value_options& o) {
  return o.choice("extrapolate", "model_output", {"model_output", "velocity"}) == "velocity"
             ? stork::extrapolate::velocity
             : stork::extrapolate::model_output;
}
inline stork::startup parse_startup(const key_value_options& o, stork::startup fallback) {
  const std::string_view s = o.choice("startup", "", {"automatic", "runge_kutta", "multistep"});
  if (s == "automatic") return stork::startup::automatic;
  if (s == "runge_kutta") return stork::startup::runge_kutta;
  if (s == "multistep") return stork::startup::multistep;
  return fallback;
}
template <class M>
M parse_stork(const key_value_options& o) {
  M m;
  m.stages = o.integer("stages", m.stages);
  m.derivative_order = o.integer("derivative_order", m.derivative_order);
  m.variant = parse_variant(o);
  m.extrapolate = parse_extrapolate(o);
  m.startup = parse_startup(o, m.startup);
  return m;
}
template <class M>
M parse_stages(const key_value_options& o) {
  M m;
  m.stages = o.integer("stages", m.stages);
  return m;
}
template <class M>
M parse_eta(const key_value_options& o, double eta_default) {
  M m;
  m.eta = o.real("eta", eta_default);
  m.s_noise = o.real("s_noise", m.s_noise);
  return m;
}
template <class M>
M parse_eta(const key_value_options& o) {
  M m;
  m.eta = o.real("eta", m.eta);
  m.s_noise = o.real("s_noise", m.s_noise);
  return m;
}

inline flow_rule parse_flow_rule(const key_value_options& o, flow_rule fallback) {
  const std::string_view r = o.choice("flow_rule", "", {"log_snr", "sd_cpp"});
  return r == "log_snr" ? flow_rule::log_snr : r == "sd_cpp" ? flow_rule::sd_cpp : fallback;
}
/// The flow rule a spelling defaults to: stable-diffusion.cpp's names its rule (its code applies the VE
/// formulas to the flow state in σ), ComfyUI's names its log-SNR rule for flow (`CONST`) models.
inline flow_rule flow_rule_of(std::string_view spelling, std::string_view comfyui_spelling) {
  return spelling == comfyui_spelling ? flow_rule::log_snr : flow_rule::sd_cpp;
}

inline ipndm parse_ipndm(const key_value_options& o, ipndm_coefficients fallback) {
  ipndm m;
  m.order = o.integer("order", m.order);
  m.lower_order_final = o.boolean("lower_order_final", m.lower_order_final);
  const std::string_view c = o.choice("coefficients", "", {"fixed", "variable", "sd_cpp_v"});
  m.coefficients = c == "fixed"      ? ipndm_coefficients::fixed
                   : c == "variable" ? ipndm_coefficients::variable
                   : c == "sd_cpp_v" ? ipndm_coefficients::sd_cpp_v
                                     : fallback;
  return m;
}

/// The menu, in stable-diffusion.cpp's order, then the methods only stork has.
inline const std::vector<method_entry>& menu_table() {
  static const std::vector<method_entry> table{
      {"euler", "ddim", "",
       "Euler in the model's own time (k-diffusion sample_euler); ComfyUI's ddim; 1 call/step",
       [](const key_value_options&, std::string_view) -> method_variant { return euler{}; }},
      {"euler_a", "euler_ancestral", "eta s_noise",
       "Euler ancestral (k-diffusion sample_euler_ancestral; stable-diffusion.cpp's flow rule for flow "
       "models); "
       "1 call/step, noise",
       [](const key_value_options& o, std::string_view) -> method_variant {
         return parse_eta<euler_ancestral>(o);
       }},
      {"heun", "", "", "Heun's 2nd order (k-diffusion sample_heun); 2 calls/step, 1 on the last",
       [](const key_value_options&, std::string_view) -> method_variant { return heun{}; }},
      {"dpm2", "dpm_2", "",
       "DPM-Solver-2 (stable-diffusion.cpp sample_dpm2, k-diffusion sample_dpm_2 without churn); 2 "
       "calls/step, "
       "1 on the last",
       [](const key_value_options&, std::string_view) -> method_variant { return dpm2{}; }},
      {"dpm++2s_a", "dpmpp_2s_ancestral", "eta s_noise",
       "DPM-Solver++(2S) ancestral (stable-diffusion.cpp sample_dpmpp_2s_ancestral, its flow midpoint for "
       "flow "
       "models); 2 calls/step, noise",
       [](const key_value_options& o, std::string_view) -> method_variant {
         return parse_eta<dpmpp_2s_ancestral>(o);
       }},
      {"dpm++2m", "dpmpp_2m", "flow_rule",
       "DPM-Solver++(2M) (k-diffusion sample_dpmpp_2m as stable-diffusion.cpp and ComfyUI run it: on flow "
       "models "
       "in σ with D = x − σ·v; flow_rule=log_snr: diffusers' DPMSolverMultistep in the flow's log-SNR); 1 "
       "call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         if (parse_flow_rule(o, flow_rule::sd_cpp) == flow_rule::log_snr) return dpmpp_2m{};
         dpmpp_2m_sde m;  // with eta = 0 the 2M SDE (midpoint) is DPM-Solver++(2M), term for term
         m.eta = 0.0;
         m.flow = flow_rule::sd_cpp;
         return m;
       }},
      {"dpm++2mv2", "dpmpp_2m_v2", "",
       "stable-diffusion.cpp's DPM-Solver++(2M) v2 (sample_dpmpp_2m_v2); 1 call/step",
       [](const key_value_options&, std::string_view) -> method_variant { return dpmpp_2m_v2{}; }},
      {"ipndm", "", "order coefficients lower_order_final",
       "iPNDM with uniform-step weights (stable-diffusion.cpp sample_ipndm; coefficients=variable: exact on "
       "any "
       "grid); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         return parse_ipndm(o, ipndm_coefficients::fixed);
       }},
      {"ipndm_v", "", "order coefficients lower_order_final",
       "variable-step iPNDM as stable-diffusion.cpp computes it (sample_ipndm_v; coefficients=variable: the "
       "exact weights of ComfyUI's ipndm_v and k-diffusion's LMS at order 4); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         return parse_ipndm(o, ipndm_coefficients::sd_cpp_v);
       }},
      {"lcm", "", "noise_scale_start noise_scale_end",
       "latent consistency sampling (stable-diffusion.cpp sample_lcm); 1 call/step, noise",
       [](const key_value_options& o, std::string_view) -> method_variant {
         lcm m;
         m.noise_scale_start = o.real("noise_scale_start", m.noise_scale_start);
         if (o.has("noise_scale_end")) m.noise_scale_end = o.real("noise_scale_end", 0.0);
         return m;
       }},
      {"ddim_trailing", "", "eta s_noise",
       "DDIM on a trailing grid (stable-diffusion.cpp sample_ddim_trailing; eta = 0 deterministic); 1 "
       "call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         return parse_eta<ddim_trailing>(o);
       }},
      {"tcd", "", "eta num_train_timesteps beta_start beta_end",
       "trajectory consistency distillation sampling (stable-diffusion.cpp sample_tcd, γ = eta); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         tcd m;
         m.eta = o.real("eta", m.eta);
         m.num_train_timesteps = o.integer("num_train_timesteps", m.num_train_timesteps);
         m.beta_start = o.real("beta_start", m.beta_start);
         m.beta_end = o.real("beta_end", m.beta_end);
         return m;
       }},
      {"res_multistep", "", "eta s_noise",
       "RES multistep exponential integrator (stable-diffusion.cpp sample_res_multistep; eta > 0 its "
       "ancestral "
       "path); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         const res_multistep_ancestral a = parse_eta<res_multistep_ancestral>(o, 0.0);
         if (a.eta == 0.0) return res_multistep{};
         return a;
       }},
      {"res_2s", "", "eta s_noise",
       "RES 2-stage exponential integrator (stable-diffusion.cpp sample_res_2s); 2 calls/step",
       [](const key_value_options& o, std::string_view) -> method_variant { return parse_eta<res_2s>(o); }},
      {"er_sde", "", "eta s_noise",
       "extended-reverse-time SDE solver (stable-diffusion.cpp sample_er_sde); 1 call/step, noise",
       [](const key_value_options& o, std::string_view) -> method_variant { return parse_eta<er_sde>(o); }},
      {"euler_cfg_pp", "", "flow_rule",
       "Euler CFG++ (stable-diffusion.cpp sample_euler_cfg_pp, ComfyUI's); needs the unconditional "
       "prediction; "
       "1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         euler_cfg_pp m;
         m.flow = parse_flow_rule(o, flow_rule::sd_cpp);
         return m;
       }},
      {"euler_a_cfg_pp", "euler_ancestral_cfg_pp", "eta s_noise flow_rule",
       "Euler ancestral CFG++ (stable-diffusion.cpp sample_euler_ancestral_cfg_pp); needs the unconditional "
       "prediction; 1 call/step, noise",
       [](const key_value_options& o, std::string_view spelling) -> method_variant {
         euler_a_cfg_pp m = parse_eta<euler_a_cfg_pp>(o);
         m.flow = parse_flow_rule(o, flow_rule_of(spelling, "euler_ancestral_cfg_pp"));
         return m;
       }},
      {"euler_ge", "gradient_estimation", "gamma eta s_noise",
       "gradient estimation (stable-diffusion.cpp sample_gradient_estimation, its extra arg gamma); 1 "
       "call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         euler_ge m = parse_eta<euler_ge>(o);
         m.gamma = o.real("gamma", m.gamma);
         return m;
       }},
      {"dpm++2m_sde", "dpmpp_2m_sde", "eta s_noise solver flow_rule",
       "DPM-Solver++(2M) SDE (k-diffusion sample_dpmpp_2m_sde, midpoint or heun); 1 call/step, noise",
       [](const key_value_options& o, std::string_view spelling) -> method_variant {
         dpmpp_2m_sde m = parse_eta<dpmpp_2m_sde>(o);
         m.solver = o.choice("solver", "midpoint", {"midpoint", "heun"}) == "heun" ? sde_solver::heun
                                                                                   : sde_solver::midpoint;
         m.flow = parse_flow_rule(o, flow_rule_of(spelling, "dpmpp_2m_sde"));
         return m;
       }},
      {"dpm++2m_sde_bt", "dpmpp_2m_sde_gpu", "eta s_noise flow_rule",
       "DPM-Solver++(2M) SDE with Brownian-tree noise (stable-diffusion.cpp sample_dpmpp_2m_sde_bt; pass a "
       "stork::brownian_tree_noise); 1 call/step, noise",
       [](const key_value_options& o, std::string_view spelling) -> method_variant {
         dpmpp_2m_sde_bt m = parse_eta<dpmpp_2m_sde_bt>(o);
         m.flow = parse_flow_rule(o, flow_rule_of(spelling, "dpmpp_2m_sde_gpu"));
         return m;
       }},
      {"lms", "", "lms_max_order lms_shift lms_divisions",
       "linear multistep as stable-diffusion.cpp computes it (sample_lms, its extra args); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         lms m;
         m.order = o.integer("lms_max_order", m.order);
         m.shift = o.integer("lms_shift", m.shift);
         m.divisions = o.integer("lms_divisions", m.divisions);
         return m;
       }},
      {"res_multistep_ancestral", "", "eta s_noise",
       "RES multistep with ancestral noise (ComfyUI res_multistep_ancestral, stable-diffusion.cpp's eta "
       "path); "
       "1 call/step, noise",
       [](const key_value_options& o, std::string_view) -> method_variant {
         return parse_eta<res_multistep_ancestral>(o);
       }},
      {"dpm++2m_sde_heun", "dpmpp_2m_sde_heun", "eta s_noise flow_rule",
       "DPM-Solver++(2M) SDE with the heun solver (ComfyUI dpmpp_2m_sde_heun); 1 call/step, noise",
       [](const key_value_options& o, std::string_view) -> method_variant {
         dpmpp_2m_sde m = parse_eta<dpmpp_2m_sde>(o);
         m.solver = sde_solver::heun;
         m.flow = parse_flow_rule(o, flow_rule::log_snr);  // ComfyUI's sampler
         return m;
       }},
      {"dpm++3m", "dpmpp_3m", "lower_order_final",
       "DPM-Solver++(3M) (diffusers DPMSolverMultistep, solver_order 3); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         dpmpp_3m m;
         m.lower_order_final = o.boolean("lower_order_final", m.lower_order_final);
         return m;
       }},
      {"dpm++3m_sde", "dpmpp_3m_sde", "eta s_noise",
       "DPM-Solver++(3M) SDE (k-diffusion sample_dpmpp_3m_sde); 1 call/step, noise",
       [](const key_value_options& o, std::string_view) -> method_variant {
         return parse_eta<dpmpp_3m_sde>(o);
       }},
      {"unipc", "uni_pc_bh2", "order lower_order_final corrector",
       "UniPC, B(h) = e^h − 1 (diffusers UniPCMultistepScheduler, ComfyUI uni_pc_bh2); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant {
         unipc m;
         m.order = o.integer("order", m.order);
         m.lower_order_final = o.boolean("lower_order_final", m.lower_order_final);
         m.corrector = o.boolean("corrector", m.corrector);
         return m;
       }},
      {"stork2", "", "stages derivative_order variant extrapolate startup",
       "STORK-2 (RKG2 stages, Taylor-extrapolated velocities; Tan et al. 2025); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant { return parse_stork<stork2>(o); }},
      {"stork4", "", "stages derivative_order variant extrapolate startup",
       "STORK-4 (ROCK4 stages, Taylor-extrapolated velocities; Tan et al. 2025); 1 call/step",
       [](const key_value_options& o, std::string_view) -> method_variant { return parse_stork<stork4>(o); }},
      {"rkg2", "", "stages", "classic RKG2 (every stage a model call): `stages` calls/step",
       [](const key_value_options& o, std::string_view) -> method_variant { return parse_stages<rkg2>(o); }},
      {"rock4", "", "stages", "classic ROCK4 (every stage a model call): `stages` calls/step",
       [](const key_value_options& o, std::string_view) -> method_variant { return parse_stages<rock4>(o); }},
  };
  return table;
}

/// Space-separated words of `list` into a vector of views.
inline std::vector<std::string_view> words(std::string_view list) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && list[i] == ' ') ++i;
    std::size_t j = i;
    while (j < list.size() && list[j] != ' ') ++j;
    if (j > i) out.push_back(list.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace detail

/// @brief Every entry of the menu, in stable-diffusion.cpp's order, then stork's own methods.
inline const std::vector<method_entry>& method_menu() { return detail::menu_table(); }

/// @brief Every canonical method name, in the menu's order.
inline const std::vector<std::string_view>& method_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> n;
    for (const method_entry& e : detail::menu_table()) n.push_back(e.name);
    return n;
  }();
  return names;
}

/// @brief The method called `name` (a canonical name, or one of its aliases: stable-diffusion.cpp's,
/// ComfyUI's or stork's spelling) with the options `options` ("key=value,key=value", stable-diffusion.cpp's
/// `extra_sample_args` syntax; see `method_menu()` for each method's keys).
///
/// Throws stork::error for an unknown name (the message lists every accepted name), an unknown option key
/// (the message lists the method's keys), a malformed value, or an invalid one (e.g. `stages=0`, checked when
/// the method is run, like a typed method's options).
/// @code
/// const stork::any_method m = stork::method_from_name("dpm++2s_a", "eta=0.5");
/// auto sch = stork::make_scheduler(m, sigmas, x, stork::ve{}, noise);
/// @endcode
inline any_method method_from_name(std::string_view name, std::string_view options = "") {
  const std::string_view key = detail::trim_blanks(name);
  for (const method_entry& e : detail::menu_table()) {
    bool match = key == e.name;
    for (std::string_view a : detail::words(e.aliases)) match = match || key == a;
    if (!match) continue;
    const std::string where = "method_from_name(\"" + std::string(e.name) + "\")";
    const detail::key_value_options o(where, options, detail::words(e.keys));
    return any_method(e.name, e.make(o, key));
  }
  std::string accepted;
  for (const method_entry& e : detail::menu_table()) {
    accepted += accepted.empty() ? "" : ", ";
    accepted += e.name;
    for (std::string_view a : detail::words(e.aliases)) accepted.append(" (").append(a).append(")");
  }
  detail::fail_text("method_from_name", "name", name, "unknown method; accepted: " + accepted);
}

}  // namespace stork
