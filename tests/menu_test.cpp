// Tests of <stork/menu/any_method.hpp> and <stork/menu/any_scheduler.hpp>: every name of the menu (canonical
// and aliases: stable-diffusion.cpp's, ComfyUI's, stork's) resolves to its method; options parse strictly
// (unknown keys, malformed values and invalid values are stork::error listing what is accepted); a method
// chosen at run time computes what its typed scheduler computes, bit for bit, on both fronts, in flow, VE
// and VP, without allocating while stepping; a stochastic method without a noise source is an error.
#include <stork/stork.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/alloc_counter.hpp"

namespace {

using vec = std::vector<double>;

/// Data N(1, 0.5²): the exact model output in each convention.
enum class convention { flow, ve, vp };
void model_of(convention c, const vec& x, double t, vec& out) {
  const stork::vp_linear vp{};
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (c == convention::flow) {
      const double a = 1.0 - t, var = a * a * 0.25 + t * t;
      out[i] = (t - a * 0.25) / var * (x[i] - a) - 1.0;
    } else if (c == convention::ve) {
      out[i] = 1.0 + 0.25 / (0.25 + t * t) * (x[i] - 1.0);
    } else {
      const double al = vp.alpha(t), sg = vp.sigma(t);
      out[i] = sg / (al * al * 0.25 + sg * sg) * (x[i] - al);
    }
  }
}
vec grid_of(convention c) {
  if (c == convention::flow) return stork::use_flow_sigmas(9, 3.0);
  if (c == convention::ve) return stork::karras_sigmas(9);
  return stork::vp_taus(9);
}

/// A seeded noise source (a fresh copy gives the same draws).
struct seeded {
  stork::normal_noise n{5};
  void operator()(vec& z) { n(z); }
};

/// A stand-in for the unconditional prediction of the CFG++ methods: 0.9 times the guided one.
void uncond_of(const vec& out, vec& uncond) {
  for (std::size_t i = 0; i < out.size(); ++i) uncond[i] = 0.9 * out[i];
}

/// One step of the engine-owned loop: `step(out, x)`, or for a CFG++ method `step(out, uncond, x)`.
template <bool CfgPp, class Sch>
void step_with(Sch& sch, const vec& out, vec& uncond, vec& x) {
  if constexpr (CfgPp) {
    uncond_of(out, uncond);
    sch.step(out, uncond, x);
  } else {
    sch.step(out, x);
  }
}

/// The engine-owned loop for a scheduler, returning the final x.
template <bool CfgPp, class Sch>
vec drive(Sch sch, convention c, vec x) {
  vec out(x.size()), uncond(x.size());
  while (!sch.done()) {
    model_of(c, x, sch.time(), out);
    step_with<CfgPp>(sch, out, uncond, x);
  }
  return x;
}

bool same_bits(const vec& a, const vec& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST_CASE("menu: every canonical name and alias resolves, canonical names are unique", "[menu]") {
  const auto& names = stork::method_names();
  REQUIRE(names.size() == stork::method_menu().size());
  for (std::size_t i = 0; i < names.size(); ++i)
    for (std::size_t j = 0; j < i; ++j) REQUIRE(names[i] != names[j]);
  for (const stork::method_entry& e : stork::method_menu()) {
    INFO(e.name);
    REQUIRE(stork::method_from_name(e.name).name() == e.name);
    for (std::string_view a : stork::detail::words(e.aliases))
      REQUIRE(stork::method_from_name(a).name() == e.name);
  }
  // stable-diffusion.cpp's sample_method_to_str names that the menu has, and ComfyUI's spellings of them.
  for (const char* sd :
       {"euler", "euler_a", "heun", "dpm2", "dpm++2s_a", "dpm++2m", "dpm++2mv2", "ipndm", "ipndm_v", "lcm",
        "ddim_trailing", "tcd", "res_multistep", "res_2s", "er_sde", "dpm++2m_sde", "lms"})
    REQUIRE(stork::method_from_name(sd).name() == sd);
  REQUIRE(stork::method_from_name("euler_ancestral").name() == "euler_a");
  REQUIRE(stork::method_from_name("dpmpp_2m").name() == "dpm++2m");
  REQUIRE(stork::method_from_name("dpmpp_2m_sde").name() == "dpm++2m_sde");
  REQUIRE(stork::method_from_name(" stork4 ").name() == "stork4");  // blanks around a name are ignored
}

TEST_CASE("menu: options set the typed method's members", "[menu]") {
  const stork::any_method m =
      stork::method_from_name("stork4", "stages=7, derivative_order=3;variant=reference,startup=runge_kutta");
  const stork::stork4* s = m.get_if<stork::stork4>();
  REQUIRE(s != nullptr);
  REQUIRE(s->stages == 7);
  REQUIRE(s->derivative_order == 3);
  REQUIRE(s->variant == stork::variant::reference);
  REQUIRE(s->startup == stork::startup::runge_kutta);
  const stork::any_method a = stork::method_from_name("euler_a", "eta=0.5");  // get_if points into it
  const stork::euler_ancestral* ea = a.get_if<stork::euler_ancestral>();
  REQUIRE(ea != nullptr);
  REQUIRE(ea->eta == 0.5);
  REQUIRE(ea->s_noise == 1.0);
  REQUIRE(stork::method_from_name("dpm++2m_sde", "solver=heun").get_if<stork::dpmpp_2m_sde>()->solver ==
          stork::sde_solver::heun);
  REQUIRE(stork::method_from_name("euler_a").stochastic());
  REQUIRE(!stork::method_from_name("euler").stochastic());
}

TEST_CASE("menu: bad names and options are stork::error that say what is accepted", "[menu][error]") {
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const stork::error& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string unknown = message([] { stork::method_from_name("eulr"); });
  REQUIRE(unknown.find("name = \"eulr\"") != std::string::npos);
  for (std::string_view n : stork::method_names()) REQUIRE(unknown.find(std::string(n)) != std::string::npos);
  const std::string key = message([] { stork::method_from_name("stork4", "stage=3"); });
  REQUIRE(key.find("unknown key \"stage\"") != std::string::npos);
  REQUIRE(key.find("accepted keys: stages, derivative_order") != std::string::npos);
  REQUIRE(message([] { stork::method_from_name("euler_a", "eta=abc"); }).find("eta = \"abc\"") !=
          std::string::npos);
  REQUIRE(message([] { stork::method_from_name("euler_a", "eta=nan"); }).find("finite") != std::string::npos);
  REQUIRE(message([] { stork::method_from_name("stork4", "variant=fast"); }).find("corrected, reference") !=
          std::string::npos);
  REQUIRE(message([] { stork::method_from_name("euler", "eta=1"); }).find("this takes no options") !=
          std::string::npos);
  REQUIRE(message([] { stork::method_from_name("stork4", "stages"); }).find("has no '='") !=
          std::string::npos);
  // Invalid values are rejected where the typed method rejects them: when it is run.
  vec x{1.0};
  const vec grid = stork::karras_sigmas(4);
  REQUIRE(message([&] {
            stork::make_scheduler(stork::method_from_name("stork4", "stages=0"), grid, x, stork::ve{});
          }).find("stages = 0") != std::string::npos);
  // A stochastic method needs a noise source (the typed front rejects this at compile time).
  REQUIRE(message([&] {
            stork::make_scheduler(stork::method_from_name("euler_a"), grid, x, stork::ve{});
          }).find("adds noise") != std::string::npos);
  REQUIRE(message([&] {
            auto denoiser = [](const vec& y, double t, vec& out) { model_of(convention::ve, y, t, out); };
            stork::integrate(stork::method_from_name("dpm++2m_sde"), stork::field(denoiser, stork::ve{}), x,
                             grid);
          }).find("adds noise") != std::string::npos);
}

TEST_CASE(
    "menu: a method chosen at run time is its typed scheduler, bit for bit, and allocates nothing while "
    "stepping",
    "[menu]") {
  for (const stork::method_entry& e : stork::method_menu()) {
    const stork::any_method m =
        stork::method_from_name(e.name, e.name == "rkg2" || e.name == "rock4" ? "stages=4" : "");
    for (const convention c : {convention::flow, convention::ve, convention::vp}) {
      INFO(e.name << " in convention " << static_cast<int>(c));
      const vec grid = grid_of(c), x0(3, c == convention::ve ? grid.front() * 0.4 : 0.4);
      auto model = [c](const vec& x, double t, vec& out) { model_of(c, x, t, out); };
      auto model2 = [c](const vec& x, double t, vec& out, vec& uncond) {
        model_of(c, x, t, out);
        uncond_of(out, uncond);
      };
      m.visit([&](const auto& typed) {
        using M = stork::detail::remove_cvref_t<decltype(typed)>;
        constexpr bool cfg_pp = stork::detail::needs_unconditional_v<M>;
        REQUIRE(m.needs_unconditional() == cfg_pp);
        vec any_loop, typed_loop, any_run = x0;
        auto run_in = [&](auto process) {
          std::size_t before = 0, after = 0;
          {
            auto sch = stork::make_scheduler(m, grid, x0, process, seeded{});
            vec x = x0, out(x0.size()), uncond(x0.size());
            before = stork_test::allocation_count();
            while (!sch.done()) {
              model_of(c, x, sch.time(), out);
              step_with<cfg_pp>(sch, out, uncond, x);
            }
            after = stork_test::allocation_count();
            any_loop = x;
          }
          REQUIRE(after == before);
          if constexpr (stork::detail::is_stochastic_v<M>)
            typed_loop = drive<cfg_pp>(stork::make_scheduler(typed, grid, x0, process, seeded{}), c, x0);
          else
            typed_loop = drive<cfg_pp>(stork::make_scheduler(typed, grid, x0, process), c, x0);
          if constexpr (cfg_pp) {
            // integrate's model for a CFG++ method writes both outputs; it runs in the model's own time, so
            // the process is given through make_scheduler only: compare integrate in flow time.
            if (c == convention::flow)
              stork::integrate(m, model2, any_run, grid, seeded{});
            else
              any_run = typed_loop;
          } else {
            stork::integrate(m, stork::field(model, process), any_run, grid, seeded{});
          }
        };
        if (c == convention::flow)
          run_in(stork::rectified_flow{});
        else if (c == convention::ve)
          run_in(stork::ve{});
        else
          run_in(stork::vp_linear{});
        REQUIRE(same_bits(any_loop, typed_loop));
        REQUIRE(same_bits(any_run, typed_loop));
      });
    }
  }
}

TEST_CASE(
    "menu: every stochastic method hands a source that takes the interval (a Brownian tree) the grid "
    "interval of each draw",
    "[menu][stochastic][brownian_tree]") {
  // k-diffusion's convention, noise_sampler(sigma, sigma_next) for every sampler that adds noise: an engine
  // picks the sampler by name and passes one source, so a Brownian tree must work with each of them.
  for (const stork::method_entry& e : stork::method_menu()) {
    const bool has_eta = (" " + std::string(e.keys) + " ").find(" eta ") != std::string::npos;
    const stork::any_method m = stork::method_from_name(e.name, !has_eta          ? ""
                                                                : e.name == "tcd" ? "eta=0.3"
                                                                                  : "eta=1");
    if (!m.stochastic()) continue;
    for (const convention c : {convention::flow, convention::ve}) {  // (VP draws through the same code)
      INFO(e.name << " in convention " << static_cast<int>(c));
      const vec grid = grid_of(c), x0(3, c == convention::ve ? grid.front() * 0.4 : 0.4);
      std::vector<std::pair<double, double>> asked;
      stork::normal_noise normal{3};
      auto recording = [&](vec& z, double from, double to) {
        asked.emplace_back(from, to);
        normal(z);
      };
      m.visit([&](const auto& typed) {
        using M = stork::detail::remove_cvref_t<decltype(typed)>;
        constexpr bool cfg_pp = stork::detail::needs_unconditional_v<M>;
        auto run_in = [&](auto process) {
          drive<cfg_pp>(stork::make_scheduler(m, grid, x0, process, std::ref(recording)), c, x0);
        };
        if (c == convention::flow)
          run_in(stork::rectified_flow{});
        else
          run_in(stork::ve{});
      });
      REQUIRE(!asked.empty());
      std::size_t last = 0;
      for (const auto& [from, to] : asked) {
        const auto at = std::find(grid.begin(), grid.end(), from);
        REQUIRE(at != grid.end());
        const auto n = static_cast<std::size_t>(at - grid.begin());
        REQUIRE(n + 1 < grid.size());
        REQUIRE(to == grid[n + 1]);
        REQUIRE(n >= last);  // in grid order
        last = n;
      }
    }
  }
  // The real tree through the run-time menu, with euler_a (which has no tree of its own in sd.cpp) and the
  // method it was made for.
  for (const char* name : {"euler_a", "dpm++2m_sde_bt", "er_sde"}) {
    INFO(name);
    const vec grid = grid_of(convention::ve);
    vec x(3, grid.front() * 0.4);
    stork::brownian_tree_noise tree(x, grid, 17);
    auto denoiser = [](const vec& y, double t, vec& out) { model_of(convention::ve, y, t, out); };
    stork::integrate(stork::method_from_name(name), stork::field(denoiser, stork::ve{}), x, grid,
                     std::ref(tree));
    REQUIRE(std::all_of(x.begin(), x.end(), [](double v) { return std::isfinite(v); }));
  }
}
