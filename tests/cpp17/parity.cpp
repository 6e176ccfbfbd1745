// The engines' shape, in C++17: every method of the library in flow, VE and VP on std::vector<float> and on
// an engine's own host tensor, plus the bad-input catalogue. It prints one line per run: the final state's
// bits, the model calls, and (for bad input) the stork::error message. ctest builds it twice — as C++17
// against single_include/stork/stork.hpp (g++, and clang++ in the toolchain project) and as C++20 against
// include/ — and requires the two outputs to be identical, byte for byte. It also checks itself: every
// sample must land near the exact answer of its Gaussian problem and every bad input must throw, leaving x
// as it was. Exit code 1 on any failure.
//
// C++17 spelling throughout: no designated initializers, stork::span, stork::is_*_v traits.
#include <stork/stork.hpp>

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

/// An engine's host tensor (stable-diffusion.cpp keeps latents in its own tensor type): float storage, its
/// own state operations accumulating in double.
struct host_tensor {
  std::vector<float> data;
};

}  // namespace

template <>
struct stork::state_ops<host_tensor> {
  static host_tensor make_like(const host_tensor& x) {
    return host_tensor{std::vector<float>(x.data.size())};
  }
  static std::size_t size(const host_tensor& x) { return x.data.size(); }
  static bool all_finite(const host_tensor& x) {
    for (float v : x.data)
      if (!std::isfinite(v)) return false;
    return true;
  }
  static void lincomb(host_tensor& out, stork::span<const double> a,
                      stork::span<const host_tensor* const> x) {
    for (std::size_t i = 0; i < out.data.size(); ++i) {
      double acc = 0.0;
      for (std::size_t k = 0; k < a.size(); ++k) acc += a[k] * static_cast<double>(x[k]->data[i]);
      out.data[i] = static_cast<float>(acc);
    }
  }
};

static_assert(stork::is_state_v<std::vector<float>>, "std::vector<float> is a state");
static_assert(stork::is_state_v<host_tensor>, "the host tensor is a state");
static_assert(!stork::is_state_v<std::vector<int>>, "integer vectors are not states");
static_assert(stork::is_state_ops_v<stork::state_ops<host_tensor>, host_tensor>, "its ops are StateOps");

namespace {

constexpr std::size_t dim = 6;
constexpr double mu = 1.0, spread = 0.5;  // data N(mu, spread²) in every coordinate
int failures = 0;

/// Element i of a state as a float (the bits printed are those of the float).
float at(const std::vector<float>& x, std::size_t i) { return x[i]; }
float at(const host_tensor& x, std::size_t i) { return x.data[i]; }
std::vector<float>& elems(std::vector<float>& x) { return x; }
std::vector<float>& elems(host_tensor& x) { return x.data; }

template <class S>
S make_state(float value) {
  S x{};
  elems(x).assign(dim, value);
  return x;
}

template <class S>
std::string bits(const S& x) {
  std::string s;
  char buf[16];
  for (std::size_t i = 0; i < dim; ++i) {
    std::uint32_t u = 0;
    const float v = at(x, i);
    std::memcpy(&u, &v, sizeof u);
    std::snprintf(buf, sizeof buf, "%08" PRIx32 " ", u);
    s += buf;
  }
  return s;
}

/// The model conventions: which process, how to call the exact model, which grid, the exact answer.
enum class convention { flow, ve, vp };
const char* name_of(convention c) {
  return c == convention::flow ? "flow" : c == convention::ve ? "ve" : "vp";
}

const stork::vp_linear vp_process{};  // β from 0.1 to 20: the reference's VP path

/// The grids: flow models diffusers' multistep flow grid (shift 3, starting below σ = 1, where every method
/// of the menu can start), VE Karras, VP the reference's taus.
std::vector<double> grid_of(convention c) {
  if (c == convention::flow) return stork::use_flow_sigmas(12, 3.0);
  if (c == convention::ve) return stork::karras_sigmas(12, stork::karras_schedule{});
  return stork::vp_taus(12, stork::vp_grid{});
}

/// The exact model output at (x, t) for data N(mu, spread²): flow velocity, VE denoiser, VP ε.
template <class S>
void exact_model(convention c, const S& x, double t, S& out) {
  for (std::size_t i = 0; i < dim; ++i) {
    const double xi = static_cast<double>(at(x, i));
    double o = 0.0;
    if (c == convention::flow) {
      const double a = 1.0 - t, var = a * a * spread * spread + t * t;
      o = (t - a * spread * spread) / var * (xi - a * mu) - mu;
    } else if (c == convention::ve) {
      o = mu + spread * spread / (spread * spread + t * t) * (xi - mu);
    } else {
      const double al = vp_process.alpha(t), sg = vp_process.sigma(t),
                   var = al * al * spread * spread + sg * sg;
      o = sg / var * (xi - al * mu);
    }
    elems(out)[i] = static_cast<float>(o);
  }
}

/// x₀ at the end of the exact probability-flow map of N(mu, spread²) from x at time t.
double exact_end(convention c, double x, double t) {
  const double al = c == convention::flow ? 1.0 - t : c == convention::ve ? 1.0 : vp_process.alpha(t);
  const double sg = c == convention::flow || c == convention::ve ? t : vp_process.sigma(t);
  return mu + spread * (x - al * mu) / std::sqrt(al * al * spread * spread + sg * sg);
}

/// Runs `method` (chosen by name, as an engine does) with the engine-owned loop, prints the result line and
/// checks the sample: within `tolerance` of the exact flow map's end (deterministic methods), or finite
/// (stochastic ones, which sample the distribution instead; their bits are still compared between builds).
template <class S>
void run_one(const std::string& label, const stork::any_method& method, convention c, const char* state_name,
             double tolerance) {
  const std::vector<double> grid = grid_of(c);
  // Start from a fixed point of the noise distribution: x = σ_max·z (VE), z (flow, VP).
  const double z = 0.8;
  const double start = c == convention::ve ? grid.front() * z : z;
  S x = make_state<S>(static_cast<float>(start)), out = make_state<S>(0.0f), uncond = make_state<S>(0.0f);
  stork::normal_noise stream(7);
  auto noise = [&stream](S& draw) {
    for (float& v : elems(draw)) v = static_cast<float>(stream.next());
  };
  std::size_t calls = 0;
  std::string line = label + " " + name_of(c) + " " + state_name + ": ";
  try {
    auto step_all = [&](auto sch) {
      while (!sch.done()) {
        exact_model(c, x, sch.time(), out);
        ++calls;
        if (sch.needs_unconditional()) {  // CFG++: a stand-in unconditional prediction, 0.9 times the output
          for (std::size_t i = 0; i < dim; ++i) elems(uncond)[i] = 0.9f * elems(out)[i];
          sch.step(out, uncond, x);
        } else {
          sch.step(out, x);
        }
      }
    };
    if (c == convention::flow)
      step_all(stork::make_scheduler(method, grid, x, stork::rectified_flow{}, noise));
    else if (c == convention::ve)
      step_all(stork::make_scheduler(method, grid, x, stork::ve{}, noise));
    else
      step_all(stork::make_scheduler(method, grid, x, vp_process, noise));
  } catch (const stork::error& e) {
    std::printf("%serror: %s\n", line.c_str(), e.what());
    return;
  }
  std::printf("%s%s nfe %zu\n", line.c_str(), bits(x).c_str(), calls);
  double mean = 0.0;
  for (std::size_t i = 0; i < dim; ++i) mean += static_cast<double>(at(x, i)) / dim;
  const double exact = exact_end(c, start, grid.front());
  if (!std::isfinite(mean) || (!method.stochastic() && std::abs(mean - exact) > tolerance)) {
    std::printf("  FAILED: mean %.6f, expected %.6f within %.3g\n", mean, exact, tolerance);
    ++failures;
  }
}

/// Every method of the menu, by name, with small stage counts, plus the reference variants of STORK.
void run_methods() {
  for (const stork::method_entry& e : stork::method_menu()) {
    const std::string name(e.name);
    std::vector<std::string> options{""};
    if (name == "rkg2" || name == "rock4") options = {"stages=5"};
    if (name == "stork2") options = {"stages=20", "stages=20,variant=reference"};
    if (name == "stork4") options = {"stages=5", "stages=5,derivative_order=3", "stages=5,variant=reference"};
    for (const std::string& o : options) {
      const stork::any_method m = stork::method_from_name(name, o);
      // First-order or heuristic rules (sd.cpp's lms with its history shift, dpm++2mv2's weights, CFG++ with
      // the stand-in unconditional prediction, res_multistep's start from VP's first τ, tcd on raw flow σ as
      // stable-diffusion.cpp runs it) get a sanity bound only.
      const bool loose = name == "dpm++2mv2" || name == "lms" || name == "euler_cfg_pp" ||
                         name == "res_multistep" || name == "tcd";
      const double tolerance = loose ? 0.4 : name == "euler" || name == "ddim_trailing" ? 0.2 : 0.1;
      const std::string label = o.empty() ? name : name + " (" + o + ")";
      for (convention c : {convention::flow, convention::ve, convention::vp}) {
        run_one<std::vector<float>>(label, m, c, "vector<float>", tolerance);
        run_one<host_tensor>(label, m, c, "host_tensor", tolerance);
      }
    }
  }
}

/// Bad input: each case must throw stork::error and leave x as it was. The message is printed (and so
/// compared between the two builds).
void expect_error(const char* what, const std::function<void(std::vector<float>&)>& f) {
  std::vector<float> x(dim, 0.5f);
  const std::vector<float> before = x;
  try {
    f(x);
    std::printf("bad input %s: NO ERROR\n", what);
    ++failures;
  } catch (const stork::error& e) {
    std::printf("bad input %s: %s\n", what, e.what());
    if (x != before) {
      std::printf("  FAILED: x changed\n");
      ++failures;
    }
  }
}

void run_catalogue() {
  using vec = std::vector<float>;
  auto velocity = [](const vec& x, double t, vec& v) { exact_model(convention::flow, x, t, v); };
  const std::vector<double> good = stork::flow_sigmas(8, stork::flow_schedule{});
  expect_error("empty grid",
               [&](vec& x) { stork::integrate(stork::euler{}, velocity, x, std::vector<double>{}); });
  expect_error("one-point grid",
               [&](vec& x) { stork::integrate(stork::heun{}, velocity, x, std::vector<double>{1.0}); });
  expect_error("non-monotone grid", [&](vec& x) {
    stork::integrate(stork::stork4{}, velocity, x, std::vector<double>{1.0, 0.5, 0.7, 0.0});
  });
  expect_error("NaN in grid", [&](vec& x) {
    stork::integrate(stork::dpmpp_2m{}, velocity, x, std::vector<double>{1.0, std::nan(""), 0.0});
  });
  expect_error("rkg2 stages 1", [&](vec& x) {
    stork::rkg2 m;
    m.stages = 1;
    stork::integrate(m, velocity, x, good);
  });
  expect_error("stork4 derivative_order 4", [&](vec& x) {
    stork::stork4 m;
    m.derivative_order = 4;
    stork::integrate(m, velocity, x, good);
  });
  expect_error("stork4 stages 0", [&](vec& x) {
    stork::stork4 m;
    m.stages = 0;
    stork::integrate(m, velocity, x, good);
  });
  expect_error("model writes NaN", [&](vec& x) {
    stork::integrate(
        stork::unipc{}, [](const vec&, double, vec& v) { v.assign(v.size(), std::nanf("")); }, x, good);
  });
  expect_error("model resizes its output", [&](vec& x) {
    stork::integrate(
        stork::ipndm{}, [](const vec&, double, vec& v) { v.resize(v.size() + 1); }, x, good);
  });
  expect_error("model throws", [&](vec& x) {
    try {
      stork::integrate(
          stork::stork2{}, [](const vec&, double, vec&) { throw std::runtime_error("engine"); }, x, good);
    } catch (const std::runtime_error& e) {
      if (dynamic_cast<const stork::error*>(&e) == nullptr)
        throw stork::error(std::string("passed through: ") + e.what());
      throw;
    }
  });
  expect_error("eta -1", [&](vec& x) {
    stork::euler_ancestral m;
    m.eta = -1.0;
    stork::integrate(m, stork::field(velocity, stork::rectified_flow{}, stork::prediction::velocity), x, good,
                     stork::normal_noise(1));
  });
  expect_error("noise writes NaN", [&](vec& x) {
    stork::integrate(stork::dpmpp_2m_sde{},
                     stork::field(velocity, stork::rectified_flow{}, stork::prediction::velocity), x, good,
                     [](vec& z) { z.assign(z.size(), std::nanf("")); });
  });
  expect_error("VE grid into a VP process", [&](vec& x) {
    auto sch = stork::make_scheduler(stork::euler{}, stork::karras_sigmas(4, stork::karras_schedule{}), x,
                                     vp_process);
    (void)sch;
  });
  expect_error("scheduler step after done", [&](vec& x) {
    vec y = x, v(dim);
    auto sch = stork::make_scheduler(stork::euler{}, std::vector<double>{1.0, 0.0}, y);
    velocity(y, sch.time(), v);
    sch.step(v, y);
    sch.step(v, y);
  });
}

}  // namespace

int main() {
  std::printf("stork %s\n", stork::version);
  std::fprintf(stderr, "compiled as %s\n", STORK_HAS_CPP20 ? "C++20" : "C++17");
  run_methods();
  run_catalogue();
  std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
