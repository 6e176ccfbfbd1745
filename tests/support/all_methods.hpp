// Every method of the library, configured, in ONE list: the cross-cutting tests (catalogue_test,
// float32_test, determinism_test) run each of them. A new method is one more line in all_methods() (a
// stochastic one, which needs a noise source, in stochastic_methods()).
#pragma once

#include <stork/stork.hpp>

#include <cstddef>
#include <tuple>
#include <utility>

namespace stork_test {

/// A configured method with a printable name and what it supports.
template <class Method>
struct named_method {
  const char* name = "";
  Method method{};
  /// Accepts a VP ε model (`vp_epsilon`, `make_scheduler(…, vp_linear{})`); the reference STORK-2 does not.
  bool vp = true;
  /// Smallest grid (points) it accepts: the reference STORK needs three.
  std::size_t min_points = 2;
};

template <class Method>
named_method<Method> named(const char* name, Method m, bool vp = true, std::size_t min_points = 2) {
  return {name, m, vp, min_points};
}

/// The list. Stage counts are small so that a run is cheap; every variant and derivative order appears.
inline auto all_methods() {
  using stork::variant;
  return std::make_tuple(
      named("euler", stork::euler{}), named("heun", stork::heun{}), named("rkg2", stork::rkg2{.stages = 5}),
      named("rock4", stork::rock4{.stages = 5}), named("stork2", stork::stork2{.stages = 10}),
      named("stork2 order 3", stork::stork2{.stages = 10, .derivative_order = 3}),
      named("stork2 reference", stork::stork2{.stages = 10, .variant = variant::reference}, false, 3),
      named("stork4", stork::stork4{.stages = 5}),
      named("stork4 order 3", stork::stork4{.stages = 5, .derivative_order = 3}),
      named("stork4 order 3, Runge-Kutta start-up",
            stork::stork4{.stages = 5, .derivative_order = 3, .startup = stork::startup::runge_kutta}),
      named("stork4 velocity", stork::stork4{.stages = 5, .extrapolate = stork::extrapolate::velocity}),
      named("stork4 reference", stork::stork4{.stages = 5, .variant = variant::reference}, true, 3),
      named("dpmpp_2m", stork::dpmpp_2m{}), named("dpmpp_3m", stork::dpmpp_3m{}),
      named("unipc", stork::unipc{}), named("unipc order 3", stork::unipc{.order = 3}),
      named("ipndm", stork::ipndm{}),
      named("ipndm fixed", stork::ipndm{.coefficients = stork::ipndm_coefficients::fixed}),
      named("ipndm sd_cpp_v", stork::ipndm{.coefficients = stork::ipndm_coefficients::sd_cpp_v}),
      named("lms", stork::lms{}), named("dpm2", stork::dpm2{}), named("dpmpp_2m_v2", stork::dpmpp_2m_v2{}),
      named("res_multistep", stork::res_multistep{}));
}

/// The stochastic methods (eta = 1, also for ddim_trailing and res_2s whose default is 0; tcd gamma 0.3),
/// which need a noise source and so are not in all_methods(). dpmpp_2m_sde_bt runs here with the plain
/// sources of the cross-cutting tests (called without the interval); its Brownian tree is tested in
/// menu_cfgpp_test.
inline auto stochastic_methods() {
  return std::make_tuple(
      named("euler_ancestral", stork::euler_ancestral{}), named("dpmpp_2m_sde", stork::dpmpp_2m_sde{}),
      named("dpmpp_2m_sde heun", stork::dpmpp_2m_sde{.solver = stork::sde_solver::heun}),
      named("dpmpp_3m_sde", stork::dpmpp_3m_sde{}),
      named("ddim_trailing eta 1", stork::ddim_trailing{.eta = 1.0}),
      named("dpmpp_2s_ancestral", stork::dpmpp_2s_ancestral{}),
      named("res_2s eta 1", stork::res_2s{.eta = 1.0}), named("er_sde", stork::er_sde{}),
      named("lcm", stork::lcm{}), named("tcd eta 0.3", stork::tcd{.eta = 0.3}),
      named("res_multistep_ancestral", stork::res_multistep_ancestral{}),
      named("dpmpp_2m_sde sd.cpp flow rule", stork::dpmpp_2m_sde{.flow = stork::flow_rule::sd_cpp}),
      named("dpmpp_2m_sde_bt", stork::dpmpp_2m_sde_bt{}), named("euler_ge", stork::euler_ge{.eta = 1.0}));
}

/// The CFG++ methods, whose model has two outputs (the guided and the unconditional prediction: step(out,
/// uncond, x), a model f(x, t, out, uncond)), so the one-output cross-cutting tests cannot run them:
/// menu_cfgpp_test runs the same checks on this list.
inline auto cfg_pp_methods() {
  return std::make_tuple(
      named("euler_cfg_pp", stork::euler_cfg_pp{}),
      named("euler_cfg_pp ComfyUI flow rule", stork::euler_cfg_pp{.flow = stork::flow_rule::log_snr}),
      named("euler_a_cfg_pp", stork::euler_a_cfg_pp{}),
      named("euler_a_cfg_pp sd.cpp flow rule", stork::euler_a_cfg_pp{.flow = stork::flow_rule::sd_cpp}));
}

/// Calls f(named_method) for every CFG++ method.
template <class F>
void for_each_cfg_pp_method(F&& f) {
  std::apply([&f](const auto&... m) { (f(m), ...); }, cfg_pp_methods());
}

/// Calls f(named_method) for every stochastic method.
template <class F>
void for_each_stochastic_method(F&& f) {
  std::apply([&f](const auto&... m) { (f(m), ...); }, stochastic_methods());
}

/// Calls f(named_method) for every method of the list.
template <class F>
void for_each_method(F&& f) {
  std::apply([&f](const auto&... m) { (f(m), ...); }, all_methods());
}

}  // namespace stork_test
