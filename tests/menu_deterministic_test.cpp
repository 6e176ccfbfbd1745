// The deterministic methods of stable-diffusion.cpp's menu that stork gained for issue 18 — dpm2,
// dpm++2mv2, ipndm (fixed steps), ipndm_v, lms and res_multistep (with its eta path) — against
// transcriptions of stable-diffusion.cpp's sample_dpm2, sample_dpmpp_2m_v2, sample_ipndm, sample_ipndm_v,
// sample_lms, sample_res_multistep, get_ancestral_step and get_ancestral_step_flow
// (leejet/stable-diffusion.cpp 97d2990, src/runtime/denoiser.hpp), written here from their update rules in
// plain loops, in double and in float32 as that code runs (its tensors, σ's and LMS weights are float).
// VE: the denoiser on Karras σ; flow: the velocity wrapped as stable-diffusion.cpp's flow denoiser
// D = x − σ·v on a shifted flow grid from σ = 1. Same model calls, one recorded noise sequence for eta > 0.
// Tolerances (max |difference| / max |transcription|): 1e-12 in double (measured worst 5e-15); in float the
// round-off of float arithmetic on both sides, 2e-5 (measured worst 3.2e-6: lms of order 6, whose float
// midpoint sums carry most of it; 7.6e-7 for the default lms, below 6e-7 for the others). Each float run must
// also differ from the double one (float really rounded), and neighbouring rules must differ from a
// transcription by more than 10× the float bound (the comparisons can fail).
#include <stork/stork.hpp>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "support/alloc_counter.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;
using fvec = std::vector<float>;

namespace sdcpp {

template <class T>
using tensor = std::vector<T>;
/// The denoiser callback of stable-diffusion.cpp's samplers: D(x, σ).
template <class T>
using denoiser = std::function<void(const tensor<T>&, T, tensor<T>&)>;
/// randn_like(x): the next recorded draw.
template <class T>
using randn = std::function<tensor<T>()>;

template <class T>
tensor<T> call(const denoiser<T>& model, const tensor<T>& x, T sigma) {
  tensor<T> d(x.size());
  model(x, sigma, d);
  return d;
}

/// d = (x − D)/σ.
template <class T>
tensor<T> to_d(const tensor<T>& x, const tensor<T>& den, T sigma) {
  tensor<T> d(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) d[k] = (x[k] - den[k]) / sigma;
  return d;
}

/// sample_dpm2: d = (x − D)/σ_i; σ_{i+1} = 0: x += d·(σ_{i+1} − σ_i); else σ_mid = exp(½(log σ_i + log
/// σ_{i+1})), x2 = x + d·(σ_mid − σ_i), x += ((x2 − D(x2, σ_mid))/σ_mid)·(σ_{i+1} − σ_i).
template <class T>
tensor<T> sample_dpm2(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas) {
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const tensor<T> d = to_d(x, call(model, x, sigmas[i]), sigmas[i]);
    if (sigmas[i + 1] == 0) {
      for (std::size_t k = 0; k < x.size(); ++k) x[k] += d[k] * (sigmas[i + 1] - sigmas[i]);
    } else {
      const T mid = std::exp(T(0.5) * (std::log(sigmas[i]) + std::log(sigmas[i + 1])));
      const T dt_1 = mid - sigmas[i], dt_2 = sigmas[i + 1] - sigmas[i];
      tensor<T> x2(x.size());
      for (std::size_t k = 0; k < x.size(); ++k) x2[k] = x[k] + d[k] * dt_1;
      const tensor<T> d2 = to_d(x2, call(model, x2, mid), mid);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] += d2[k] * dt_2;
    }
  }
  return x;
}

/// sample_dpmpp_2m_v2: t = −log σ, h = t_{i+1} − t_i, a = σ_{i+1}/σ_i; first step or σ_{i+1} = 0:
/// x = a·x − (e^{−h} − 1)·D; else h_min/h_max of (h_last, h), r = h_max/h_min, h_d = (h_max + h_min)/2,
/// x = a·x − (e^{−h_d} − 1)·((1 + 1/(2r))·D − 1/(2r)·D_old).
template <class T>
tensor<T> sample_dpmpp_2m_v2(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas) {
  tensor<T> old = x;
  auto t_fn = [](T s) { return -std::log(s); };
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const tensor<T> den = call(model, x, sigmas[i]);
    const T t = t_fn(sigmas[i]), t_next = t_fn(sigmas[i + 1]), h = t_next - t, a = sigmas[i + 1] / sigmas[i];
    if (i == 0 || sigmas[i + 1] == 0) {
      const T b = std::exp(-h) - T(1);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = a * x[k] - b * den[k];
    } else {
      const T h_last = t - t_fn(sigmas[i - 1]);
      const T h_min = std::min(h_last, h), h_max = std::max(h_last, h), r = h_max / h_min;
      const T h_d = (h_max + h_min) / T(2), b = std::exp(-h_d) - T(1);
      for (std::size_t k = 0; k < x.size(); ++k)
        x[k] = a * x[k] - b * ((T(1) + T(1) / (T(2) * r)) * den[k] - (T(1) / (T(2) * r)) * old[k]);
    }
    old = den;
  }
  return x;
}

/// sample_ipndm (variable = false) and sample_ipndm_v (variable = true), max_order 4: d = (x − D)/σ,
/// order = min(4, i + 1); order 1 x += d·h; order 2 fixed (3d − d₁)/2·h, variable ((2 + h/h₋)d −
/// (h/h₋)d₁)/2·h; orders 3, 4 (both) (23d − 16d₁ + 5d₂)/12·h, (55d − 59d₁ + 37d₂ − 9d₃)/24·h; history of 3.
template <class T>
tensor<T> sample_ipndm(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas, bool variable) {
  std::vector<tensor<T>> hist;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma = sigmas[i];
    tensor<T> d = to_d(x, call(model, x, sigma), sigma);
    const std::size_t order = std::min<std::size_t>(4, i + 1);
    const T h = sigmas[i + 1] - sigma, h_1 = i > 0 ? sigma - sigmas[i - 1] : h;
    const std::size_t m = hist.size();
    for (std::size_t k = 0; k < x.size(); ++k) {
      switch (order) {
        case 1:
          x[k] += d[k] * h;
          break;
        case 2:
          if (variable)
            x[k] += (((T(2) + h / h_1) * d[k] - (h / h_1) * hist[m - 1][k]) / T(2)) * h;
          else
            x[k] += ((T(3) * d[k] - hist[m - 1][k]) / T(2)) * h;
          break;
        case 3:
          x[k] += ((T(23) * d[k] - T(16) * hist[m - 1][k] + T(5) * hist[m - 2][k]) / T(12)) * h;
          break;
        default:
          x[k] += ((T(55) * d[k] - T(59) * hist[m - 1][k] + T(37) * hist[m - 2][k] - T(9) * hist[m - 3][k]) /
                   T(24)) *
                  h;
      }
    }
    if (hist.size() == 3) hist.erase(hist.begin());
    hist.push_back(std::move(d));
  }
  return x;
}

/// sample_lms(lms_max_order, lms_shift, lms_divisions): linear_multistep_coeff by the midpoint rule in T
/// (stable-diffusion.cpp's LMS_PRECISION is float), order = min(max_order, i + 1), x += d·c₀ and for
/// c = 2..order x += hist[min(H − 1, H + 1 − c + shift)]·c_{c−1} (H = history size), history of max_order
/// − 1.
template <class T>
tensor<T> sample_lms(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas, int max_order, int shift,
                     int divisions) {
  auto coeff = [&](int order, int m, int j) -> T {
    const T a = sigmas[std::size_t(m)], dx = (sigmas[std::size_t(m + 1)] - a) / T(divisions),
            s = sigmas[std::size_t(m - j)];
    const T b0 = a + T(0.5) * dx;
    T sum = 0;
    for (int h = 0; h < divisions; ++h) {
      const T b = T(h) * dx + b0;
      T prod = 1;
      for (int k = 0; k < order; ++k) {
        if (k == j) continue;
        const T t = sigmas[std::size_t(m - k)];
        prod *= (b - t) / (s - t);
      }
      sum += prod;
    }
    return sum * dx;
  };
  const int steps = int(sigmas.size()) - 1;
  max_order = std::min(max_order, steps);
  std::vector<T> c(static_cast<std::size_t>(max_order), T(0));
  std::vector<tensor<T>> hist;
  for (int i = 0; i < steps; ++i) {
    const T sigma = sigmas[std::size_t(i)];
    tensor<T> d = to_d(x, call(model, x, sigma), sigma);
    const int order = std::min(max_order, i + 1);
    for (int j = 0; j < order; ++j) c[std::size_t(j)] = coeff(order, i, j);
    for (std::size_t k = 0; k < x.size(); ++k) x[k] += d[k] * c[0];
    if (max_order > 1) {
      const int h1 = int(hist.size()) + 1;
      if (i > 0) {
        const int hist_max = int(hist.size()) - 1;
        for (int j = 2; j <= order; ++j) {
          const tensor<T>& past = hist[std::size_t(std::min(hist_max, h1 - j + shift))];
          for (std::size_t k = 0; k < x.size(); ++k) x[k] += past[k] * c[std::size_t(j - 1)];
        }
      }
      if (h1 == max_order) hist.erase(hist.begin());
      hist.push_back(std::move(d));
    }
  }
  return x;
}

/// get_ancestral_step(σ_from, σ_to, eta) → (σ_down, σ_up).
template <class T>
std::pair<T, T> get_ancestral_step(T from, T to, T eta) {
  T up = 0, down = to;
  if (eta <= 0) return {down, up};
  const T from2 = from * from, to2 = to * to;
  if (from2 > 0) up = std::min(to, eta * std::sqrt(std::max(to2 * (from2 - to2) / from2, T(0))));
  const T down2 = to2 - up * up;
  return {down2 > 0 ? std::sqrt(down2) : T(0), up};
}

/// get_ancestral_step_flow(σ_from, σ_to, eta) → (σ_down, σ_up, alpha_scale).
template <class T>
std::array<T, 3> get_ancestral_step_flow(T from, T to, T eta) {
  T down = to, up = 0, scale = 1;
  if (eta <= 0 || from <= 0 || to <= 0) return {down, up, scale};
  eta = std::min(eta, T(1));
  down = to * (T(1) + (to / from - T(1)) * eta);
  down = std::max(T(0), std::min(to, down));
  const T denom = T(1) - down;
  if (denom <= 0) return {to, up, scale};
  scale = (T(1) - to) / denom;
  T term = (down / to) * scale;
  term = std::max(T(-1), std::min(T(1), term));
  up = to * std::sqrt(std::max(T(1) - term * term, T(0)));
  return {down, up, scale};
}

/// sample_res_multistep(eta, is_flow_denoiser): (σ_down, σ_up, scale) from the ancestral step; σ_down = 0 or
/// no history: x += ((x − D)/σ)(σ_down − σ); else t = −log σ_i, t_old = −log σ_down_old, t_next = −log
/// σ_down, t_prev = −log σ_{i−1}, h = t_next − t, c2 = (t_prev − t_old)/h, b1 = φ₁(−h) − φ₂(−h)/c2, b2 =
/// φ₂(−h)/c2 (non-finite → 0), x = e^{−h}·x + h(b1·D + b2·D_old); then if σ_{i+1} > 0 and σ_up > 0: flow x *=
/// scale, x += randn·σ_up.
template <class T>
tensor<T> sample_res_multistep(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas,
                               const randn<T>& noise, bool is_flow, T eta) {
  tensor<T> old = x;
  bool have_old = false;
  T old_down = 0;
  auto t_fn = [](T s) { return -std::log(s); };
  auto phi1 = [](T t) {
    return std::abs(t) < T(1e-6) ? T(1) + t * T(0.5) + t * t / T(6) : std::expm1(t) / t;
  };
  auto phi2 = [&](T t) {
    return std::abs(t) < T(1e-6) ? T(0.5) + t / T(6) + t * t / T(24) : (phi1(t) - T(1)) / t;
  };
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const tensor<T> den = call(model, x, sigmas[i]);
    const T from = sigmas[i], to = sigmas[i + 1];
    T down = to, up = 0, scale = 1;
    if (is_flow) {
      const auto s = get_ancestral_step_flow(from, to, eta);
      down = s[0], up = s[1], scale = s[2];
    } else {
      const auto s = get_ancestral_step(from, to, eta);
      down = s.first, up = s.second;
    }
    if (down == 0 || !have_old) {
      for (std::size_t k = 0; k < x.size(); ++k) x[k] += ((x[k] - den[k]) / from) * (down - from);
    } else {
      const T t = t_fn(from), t_old = t_fn(old_down), t_next = t_fn(down), t_prev = t_fn(sigmas[i - 1]);
      const T h = t_next - t, c2 = (t_prev - t_old) / h;
      T b1 = phi1(-h) - phi2(-h) / c2, b2 = phi2(-h) / c2;
      if (!std::isfinite(b1)) b1 = 0;
      if (!std::isfinite(b2)) b2 = 0;
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = std::exp(-h) * x[k] + h * (b1 * den[k] + b2 * old[k]);
    }
    if (to > 0 && up > 0) {
      const tensor<T> z = noise();
      for (std::size_t k = 0; k < x.size(); ++k) {
        if (is_flow) x[k] *= scale;
        x[k] += z[k] * up;
      }
    }
    old = den, old_down = down, have_old = true;
  }
  return x;
}

}  // namespace sdcpp

namespace {

template <class... A>
void report(const char* format, A... a) {
  if (!std::getenv("STORK_TEST_VERBOSE")) return;
  std::printf("menu_deterministic: ");
  std::printf(format, a...);
  std::printf("\n");
}

const gaussian_mixture& blobs() {
  static const gaussian_mixture g = three_blobs();
  return g;
}

template <class T>
std::vector<T> as(const vec& v) {
  return std::vector<T>(v.begin(), v.end());
}

/// A grid as stable-diffusion.cpp holds it: in T (float: each σ rounded once).
template <class T>
vec held_in(const vec& g) {
  vec out;
  for (double s : g) out.push_back(double(T(s)));
  return out;
}

/// max |a − b| / max |b|.
template <class A, class B>
double rel(const A& a, const B& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, std::abs(double(a[i]) - double(b[i])));
    den = std::max(den, std::abs(double(b[i])));
  }
  return num / den;
}

enum class convention { ve, flow };
const char* name_of(convention c) { return c == convention::ve ? "VE" : "flow"; }

/// The model of a convention for states of T, computed in double and handed back in T (a float network): the
/// VE denoiser E[x₀|x] of the three-blob mixture, or its rectified-flow velocity.
template <class T>
void model_out(convention c, const std::vector<T>& x, double t, std::vector<T>& out) {
  const vec xd(x.begin(), x.end());
  vec od(x.size());
  if (c == convention::ve)
    blobs().posterior_quantity(gaussian_mixture::quantity::mean, 1.0, t, xd, od);
  else
    blobs().flow_velocity(xd, t, od);
  std::copy(od.begin(), od.end(), out.begin());
}

/// stable-diffusion.cpp's denoiser of that model: VE as it is, flow wrapped as D = x − σ·v (in T).
template <class T>
sdcpp::denoiser<T> sd_denoiser(convention c, std::size_t& calls) {
  return [c, &calls](const std::vector<T>& x, T sigma, std::vector<T>& d) {
    ++calls;
    REQUIRE(sigma > 0);  // never called at σ = 0
    model_out<T>(c, x, double(sigma), d);
    if (c == convention::flow)
      for (std::size_t k = 0; k < x.size(); ++k) d[k] = x[k] - sigma * d[k];
  };
}

vec grid_of(convention c, int steps) {
  return c == convention::ve
             ? stork::karras_sigmas(steps, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0})
             : stork::flow_sigmas(steps, {.shift = 3.0});
}

vec start_of(convention c, unsigned seed, double sigma_max) {
  vec x = fixed_noise(16, seed);
  for (double& v : x) v = double(float(c == convention::ve ? v * sigma_max : v));  // held in float too
  return x;
}

/// A recorded noise sequence: draw j is fixed_noise(16, 500 + j), handed to stork and to a transcription.
struct recording {
  std::vector<vec> draws;
  recording() {
    for (unsigned j = 0; j < 100; ++j) draws.push_back(fixed_noise(16, 500 + j));
  }
  template <class T>
  auto source(std::size_t& calls) const {
    return [this, &calls](std::vector<T>& out) {
      const vec& z = draws.at(calls++);
      std::copy(z.begin(), z.end(), out.begin());
    };
  }
  /// factory(calls) → a fresh source counting into calls (for run_stork).
  template <class T>
  auto factory() const {
    return [this](std::size_t& calls) { return source<T>(calls); };
  }
  template <class T>
  sdcpp::randn<T> sampler(std::size_t& calls) const {
    return [this, &calls]() { return as<T>(draws.at(calls++)); };
  }
};

/// Runs stork's method m on states of T in convention c, through integrate and through the engine-owned
/// loop (make_scheduler with the process: ve{} for a denoiser, rectified_flow{} for a velocity), requires the
/// two to agree bit for bit, and returns integrate's result, its model calls and its noise draws. A
/// stochastic method gets `noise(calls)`, a fresh source for each run (the same draws for both).
struct stork_run {
  vec x;
  std::size_t nfe = 0, draws = 0;
};
template <class T, class M, class Noise = std::nullptr_t>
stork_run run_stork(const M& m, convention c, const vec& grid, const vec& x0, const Noise& noise = nullptr) {
  std::vector<T> x = as<T>(x0), y = x;
  auto model = [c](const std::vector<T>& s, double t, std::vector<T>& o) { model_out<T>(c, s, t, o); };
  std::size_t draws = 0, loop_draws = 0;
  auto go = [&](auto... source) {
    stork::stats r;
    if (c == convention::ve)
      r = stork::integrate(m, stork::field(model, stork::ve{}, stork::prediction::sample), x, grid,
                           source...);
    else
      r = stork::integrate(m, model, x, grid, source...);
    return r.nfe;
  };
  auto loop = [&](auto sch) {
    while (!sch.done()) {
      model_out<T>(c, y, sch.time(), sch.output_buffer());
      sch.step(y);
    }
    return sch.nfe();
  };
  std::size_t nfe = 0, loop_nfe = 0;
  if constexpr (std::is_null_pointer_v<Noise>) {
    nfe = go();
    loop_nfe = c == convention::ve ? loop(stork::make_scheduler(m, grid, y, stork::ve{}))
                                   : loop(stork::make_scheduler(m, grid, y, stork::rectified_flow{}));
  } else {
    nfe = go(noise(draws));
    loop_nfe = c == convention::ve
                   ? loop(stork::make_scheduler(m, grid, y, stork::ve{}, noise(loop_draws)))
                   : loop(stork::make_scheduler(m, grid, y, stork::rectified_flow{}, noise(loop_draws)));
    REQUIRE(loop_draws == draws);
  }
  REQUIRE(loop_nfe == nfe);
  REQUIRE(y == x);
  return {vec(x.begin(), x.end()), nfe, draws};
}

/// The methods under test with their transcriptions.
template <class F>
void for_each_case(F&& f) {
  using stork::ipndm_coefficients;
  f("dpm2", stork::dpm2{},
    [](const auto& model, auto x, const auto& s) { return sdcpp::sample_dpm2(model, x, s); });
  f("dpm++2mv2", stork::dpmpp_2m_v2{},
    [](const auto& model, auto x, const auto& s) { return sdcpp::sample_dpmpp_2m_v2(model, x, s); });
  f("ipndm", stork::ipndm{.coefficients = ipndm_coefficients::fixed},
    [](const auto& model, auto x, const auto& s) { return sdcpp::sample_ipndm(model, x, s, false); });
  f("ipndm_v", stork::ipndm{.coefficients = ipndm_coefficients::sd_cpp_v},
    [](const auto& model, auto x, const auto& s) { return sdcpp::sample_ipndm(model, x, s, true); });
  f("lms", stork::lms{},
    [](const auto& model, auto x, const auto& s) { return sdcpp::sample_lms(model, x, s, 4, 1, 1000); });
  f("lms order 3, shift 0", stork::lms{.order = 3, .shift = 0},
    [](const auto& model, auto x, const auto& s) { return sdcpp::sample_lms(model, x, s, 3, 0, 1000); });
  f("lms order 6, shift 2, 300 divisions", stork::lms{.order = 6, .shift = 2, .divisions = 300},
    [](const auto& model, auto x, const auto& s) { return sdcpp::sample_lms(model, x, s, 6, 2, 300); });
  f("res_multistep", stork::res_multistep{}, [](const auto& model, auto x, const auto& s) {
    using T = typename std::decay_t<decltype(x)>::value_type;
    return sdcpp::sample_res_multistep<T>(model, x, s, {}, false, T(0));
  });
}

constexpr double double_tol = 1e-12, float_tol = 2e-5;

}  // namespace

TEST_CASE(
    "menu_deterministic: dpm2, dpm++2mv2, ipndm, ipndm_v, lms and res_multistep equal stable-diffusion.cpp's "
    "samplers in double and float32, VE and flow",
    "[menu][kdiffusion]") {
  double worst_double = 0.0, worst_float = 0.0;
  for_each_case([&](const char* name, const auto& m, const auto& transcribe) {
    double method_double = 0.0, method_float = 0.0;
    for (const convention c : {convention::ve, convention::flow}) {
      for (const int steps : {4, 13}) {
        INFO(name << ", " << name_of(c) << ", " << steps << " steps");
        const vec grid = grid_of(c, steps);
        const vec x0 = start_of(c, unsigned(steps), grid.front());
        // double
        std::size_t calls = 0;
        const vec ref = transcribe(sd_denoiser<double>(c, calls), x0, grid);
        const stork_run r = run_stork<double>(m, c, grid, x0);
        REQUIRE(r.nfe == calls);
        const double d = rel(r.x, ref);
        INFO("double: max relative difference " << d);
        REQUIRE(d < double_tol);
        method_double = std::max(method_double, d);
        // float32: the grid and the start held in float, the transcription's arithmetic in float
        const vec fgrid = held_in<float>(grid);
        std::size_t fcalls = 0;
        const fvec fref = transcribe(sd_denoiser<float>(c, fcalls), as<float>(x0), as<float>(fgrid));
        const stork_run fr = run_stork<float>(m, c, fgrid, x0);
        REQUIRE(fr.nfe == fcalls);
        const double f = rel(fr.x, fref);
        INFO("float: max relative difference " << f);
        REQUIRE(f < float_tol);
        REQUIRE(rel(fr.x, ref) > 0.0);  // float really rounded something
        method_float = std::max(method_float, f);
      }
    }
    report("%-36s worst relative difference: double %.2g, float %.2g", name, method_double, method_float);
    worst_double = std::max(worst_double, method_double), worst_float = std::max(worst_float, method_float);
  });
  report("all: double %.2g, float %.2g", worst_double, worst_float);
}

TEST_CASE(
    "menu_deterministic: the transcription comparisons can fail — neighbouring rules differ by far more "
    "than the tolerances",
    "[menu][kdiffusion]") {
  using stork::ipndm_coefficients;
  for (const convention c : {convention::ve, convention::flow}) {
    INFO(name_of(c));
    const vec grid = grid_of(c, 13), x0 = start_of(c, 3, grid.front());
    std::size_t calls = 0;
    const auto model = sd_denoiser<double>(c, calls);
    auto ours = [&](const auto& m) { return run_stork<double>(m, c, grid, x0).x; };
    // sd.cpp's ipndm_v is not diff-sampler's (variable at orders 3, 4), nor is fixed-step ipndm.
    const vec v_ref = sdcpp::sample_ipndm(model, x0, grid, true);
    REQUIRE(rel(ours(stork::ipndm{}), v_ref) > 10 * float_tol);
    REQUIRE(rel(ours(stork::ipndm{.coefficients = ipndm_coefficients::fixed}), v_ref) > 10 * float_tol);
    // lms's shift and order matter.
    const vec lms_ref = sdcpp::sample_lms(model, x0, grid, 4, 1, 1000);
    REQUIRE(rel(ours(stork::lms{.shift = 0}), lms_ref) > 10 * float_tol);
    REQUIRE(rel(ours(stork::lms{.order = 3}), lms_ref) > 10 * float_tol);
    // v2 is not dpm++2m; res_multistep is neither.
    const vec v2_ref = sdcpp::sample_dpmpp_2m_v2(model, x0, grid);
    REQUIRE(rel(ours(stork::res_multistep{}), v2_ref) > 10 * float_tol);
    REQUIRE(rel(ours(stork::dpm2{}), sdcpp::sample_dpm2(model, x0, grid)) < double_tol);
  }
}

TEST_CASE(
    "menu_deterministic: res_multistep with eta > 0 (res_multistep_ancestral) equals sample_res_multistep "
    "under one recorded noise sequence, VE and flow, double and float32",
    "[menu][kdiffusion][stochastic]") {
  const recording rec;
  double worst_double = 0.0, worst_float = 0.0;
  for (const convention c : {convention::ve, convention::flow}) {
    for (const double eta : {1.0, 0.5, 1.7}) {
      for (const int steps : {4, 13}) {
        INFO(name_of(c) << ", eta " << eta << ", " << steps << " steps");
        const vec grid = grid_of(c, steps), x0 = start_of(c, unsigned(steps + 7), grid.front());
        const stork::res_multistep_ancestral m{.eta = eta};
        std::size_t calls = 0, draws = 0;
        const vec ref = sdcpp::sample_res_multistep<double>(
            sd_denoiser<double>(c, calls), x0, grid, rec.sampler<double>(draws), c == convention::flow, eta);
        const stork_run r = run_stork<double>(m, c, grid, x0, rec.factory<double>());
        REQUIRE(r.nfe == calls);
        REQUIRE(r.draws == draws);                 // the same draws, in the same order
        REQUIRE(draws == std::size_t(steps - 1));  // every interval but the one ending at σ = 0
        const double d = rel(r.x, ref);
        INFO("double: " << d);
        REQUIRE(d < double_tol);
        worst_double = std::max(worst_double, d);

        const vec fgrid = held_in<float>(grid);
        std::size_t fcalls = 0, fdraws = 0;
        const fvec fref =
            sdcpp::sample_res_multistep<float>(sd_denoiser<float>(c, fcalls), as<float>(x0), as<float>(fgrid),
                                               rec.sampler<float>(fdraws), c == convention::flow, float(eta));
        const stork_run fr = run_stork<float>(m, c, fgrid, x0, rec.factory<float>());
        REQUIRE(fr.nfe == fcalls);
        REQUIRE(fr.draws == fdraws);
        const double f = rel(fr.x, fref);
        INFO("float: " << f);
        REQUIRE(f < float_tol);
        worst_float = std::max(worst_float, f);
      }
    }
  }
  report("res_multistep eta > 0: worst relative difference double %.2g, float %.2g", worst_double,
         worst_float);
  // A flow caps eta at 1, as stable-diffusion.cpp does: 1.7 is 1.
  const vec grid = grid_of(convention::flow, 9), x0 = start_of(convention::flow, 2, 1.0);
  REQUIRE(run_stork<double>(stork::res_multistep_ancestral{.eta = 1.7}, convention::flow, grid, x0,
                            rec.factory<double>())
              .x == run_stork<double>(stork::res_multistep_ancestral{.eta = 1.0}, convention::flow, grid, x0,
                                      rec.factory<double>())
                        .x);
}

TEST_CASE(
    "menu_deterministic: res_multistep_ancestral with eta = 0 is res_multistep bit for bit and never draws; "
    "s_noise = 0 never draws",
    "[menu][stochastic]") {
  for (const convention c : {convention::ve, convention::flow}) {
    const vec grid = grid_of(c, 10), x0 = start_of(c, 5, grid.front());
    const vec det = run_stork<double>(stork::res_multistep{}, c, grid, x0).x;
    auto never = [](std::size_t&) { return [](vec&) { FAIL("the noise source was called"); }; };
    REQUIRE(run_stork<double>(stork::res_multistep_ancestral{.eta = 0.0}, c, grid, x0, never).x == det);
    // s_noise = 0: still the step to σ_down (ComfyUI's rule), but no draw.
    REQUIRE(
        run_stork<double>(stork::res_multistep_ancestral{.eta = 1.0, .s_noise = 0.0}, c, grid, x0, never).x !=
        det);
  }
}

TEST_CASE(
    "menu_deterministic: a VP model runs res_multistep, its ancestral form and dpm++2mv2 as "
    "stable-diffusion.cpp runs it: the VE run of the equivalent denoiser (x_VE = x/alpha, sigma/alpha)",
    "[menu][vp]") {
  const stork::vp_linear vp{};
  const vec taus = stork::vp_taus(12);
  vec sig;
  for (double t : taus) sig.push_back(vp.sigma(t) / vp.alpha(t));
  const vec x0 = fixed_noise(16, 9);
  vec xve = x0;
  for (double& v : xve) v /= vp.alpha(taus.front());
  auto eps = [&](const vec& x, double t, vec& e) {
    blobs().posterior_quantity(gaussian_mixture::quantity::noise, vp.alpha(t), vp.sigma(t), x, e);
  };
  auto den = [](const vec& x, double s, vec& d) {
    blobs().posterior_quantity(gaussian_mixture::quantity::mean, 1.0, s, x, d);
  };
  const recording rec;
  auto check = [&](const char* name, const auto& m) {
    INFO(name);
    vec x = x0, y = xve;
    stork::integrate(m, stork::field(eps, vp, stork::prediction::epsilon), x, taus);
    stork::integrate(m, stork::field(den, stork::ve{}, stork::prediction::sample), y, sig);
    for (double& v : y) v *= vp.alpha(taus.back());
    const double d = rel(x, y);
    INFO("relative difference " << d);
    REQUIRE(d < 1e-11);
  };
  check("res_multistep", stork::res_multistep{});
  check("dpm++2mv2", stork::dpmpp_2m_v2{});
  std::size_t a = 0;
  auto replay = [&](vec& z) {
    z = rec.draws.at(a++);
  };  // the same draws in both runs: restarted between them
  {
    INFO("res_multistep_ancestral");
    vec x = x0, y = xve;
    a = 0;
    stork::integrate(stork::res_multistep_ancestral{.eta = 0.8},
                     stork::field(eps, vp, stork::prediction::epsilon), x, taus, replay);
    a = 0;
    stork::integrate(stork::res_multistep_ancestral{.eta = 0.8},
                     stork::field(den, stork::ve{}, stork::prediction::sample), y, sig, replay);
    for (double& v : y) v *= vp.alpha(taus.back());
    REQUIRE(rel(x, y) < 1e-11);
  }
}

TEST_CASE(
    "menu_deterministic: ipndm's step rules — fixed equals variable on uniform steps, sd_cpp_v is variable "
    "up to order 2; lms with shift 0 is k-diffusion's LMS up to the midpoint rule",
    "[menu][ipndm]") {
  using stork::ipndm_coefficients;
  auto f = [](const vec& x, double t, vec& v) { blobs().flow_velocity(x, t, v); };
  const vec uniform = uniform_grid(1.0, 0.0, 12), shifted = stork::flow_sigmas(12, {.shift = 3.0});
  const vec x0 = fixed_noise(16, 4);
  auto run = [&](const auto& m, const vec& g) {
    vec x = x0;
    stork::integrate(m, f, x, g);
    return x;
  };
  REQUIRE(rel(run(stork::ipndm{.coefficients = ipndm_coefficients::fixed}, uniform),
              run(stork::ipndm{}, uniform)) < 1e-13);
  REQUIRE(rel(run(stork::ipndm{.coefficients = ipndm_coefficients::fixed}, shifted),
              run(stork::ipndm{}, shifted)) > 1e-3);
  for (int p : {1, 2})
    REQUIRE(run(stork::ipndm{.order = p, .coefficients = ipndm_coefficients::sd_cpp_v}, shifted) ==
            run(stork::ipndm{.order = p}, shifted));
  // LMS with k-diffusion's pairing: the midpoint rule's O(divisions⁻²) from the exact weights of ipndm.
  const double d1000 = rel(run(stork::lms{.shift = 0}, shifted), run(stork::ipndm{}, shifted));
  const double d100 =
      rel(run(stork::lms{.shift = 0, .divisions = 100}, shifted), run(stork::ipndm{}, shifted));
  INFO("lms shift 0 vs ipndm: " << d100 << " (100 divisions), " << d1000 << " (1000)");
  REQUIRE(d1000 < 1e-5);
  REQUIRE(d100 / d1000 == Approx(100.0).epsilon(0.05));
  REQUIRE(rel(run(stork::lms{.order = 1}, shifted), run(stork::euler{}, shifted)) < 1e-13);
}

TEST_CASE(
    "menu_deterministic: observed orders on a smooth non-uniform flow grid — dpm2, res_multistep, lms with "
    "shift 0 and fixed-step ipndm 2; lms with shift 1 and dpm++2mv2 (weights off on unequal steps) 1",
    "[menu][order]") {
  // A single Gaussian N(1, 0.6²) from σ = 0.9 (no σ = 1, no σ = 0: the smooth part of the flow), exact map.
  const gaussian_mixture g = single_gaussian(1.0, 0.6);
  auto f = [&](const vec& x, double t, vec& v) { g.flow_velocity(x, t, v); };
  auto error = [&](const auto& m, std::size_t n) {
    vec grid;
    for (std::size_t i = 0; i <= n; ++i) {
      const double u = double(i) / double(n);
      grid.push_back(0.9 - 0.8 * (u + 0.5 * u * (1 - u)));  // non-uniform: steps from 1.2 to 0.4 of the mean
    }
    vec x{0.3};
    stork::integrate(m, f, x, grid);
    return std::abs(x[0] - gaussian_flow_map(1.0, 0.6, 0.3, grid.front(), grid.back()));
  };
  auto order = [&](const auto& m) { return std::log2(error(m, 64) / error(m, 128)); };
  using stork::ipndm_coefficients;
  const double dpm2 = order(stork::dpm2{}), res = order(stork::res_multistep{}),
               v2 = order(stork::dpmpp_2m_v2{}), lms = order(stork::lms{}),
               lms0 = order(stork::lms{.shift = 0}),
               fixed = order(stork::ipndm{.coefficients = ipndm_coefficients::fixed});
  INFO("dpm2 " << dpm2 << ", res_multistep " << res << ", dpm++2mv2 " << v2 << ", lms " << lms
               << ", lms shift 0 " << lms0 << ", fixed ipndm " << fixed);
  REQUIRE(dpm2 == Approx(2.0).margin(0.2));
  REQUIRE(res == Approx(2.0).margin(0.2));
  REQUIRE(lms0 == Approx(2.0).margin(0.2));   // order 4, capped at 2 by the Euler start on this grid
  REQUIRE(fixed == Approx(2.0).margin(0.2));  // uniform weights on slowly varying steps: O(h³) per step
  REQUIRE(lms == Approx(1.0).margin(0.2));
  REQUIRE(v2 == Approx(1.0).margin(0.2));
}

TEST_CASE("menu_deterministic: no heap allocation while stepping, float and double, VE and flow",
          "[menu][alloc]") {
  auto check = [](const char* name, const auto& m) {
    constexpr bool noisy = stork::detail::is_stochastic_v<std::decay_t<decltype(m)>>;
    for (const convention c : {convention::ve, convention::flow}) {
      INFO(name << ", " << name_of(c));
      const vec grid = grid_of(c, 8);
      auto go = [&](auto x) {
        using S = decltype(x);
        using T = typename S::value_type;
        S out(x.size());
        auto noise = [](S& z) { std::fill(z.begin(), z.end(), T(0.1)); };
        auto loop = [&](auto sch) {
          const std::size_t before = allocation_count();
          while (!sch.done()) {
            for (std::size_t k = 0; k < x.size(); ++k) out[k] = T(0.5) * x[k];
            sch.step(out, x);
          }
          REQUIRE(allocation_count() - before == 0);
        };
        if constexpr (noisy) {
          if (c == convention::ve)
            loop(stork::make_scheduler(m, grid, x, stork::ve{}, noise));
          else
            loop(stork::make_scheduler(m, grid, x, noise));
        } else {
          if (c == convention::ve)
            loop(stork::make_scheduler(m, grid, x, stork::ve{}));
          else
            loop(stork::make_scheduler(m, grid, x));
        }
      };
      go(vec(64, 1.0));
      go(fvec(64, 1.0f));
    }
  };
  check("dpm2", stork::dpm2{});
  check("dpm++2mv2", stork::dpmpp_2m_v2{});
  check("ipndm fixed", stork::ipndm{.coefficients = stork::ipndm_coefficients::fixed});
  check("lms", stork::lms{.order = 5});
  check("res_multistep", stork::res_multistep{});
  check("res_multistep_ancestral", stork::res_multistep_ancestral{});
}

TEST_CASE("menu_deterministic: bad input throws stork::error naming the parameter, x unchanged",
          "[menu][error]") {
  auto f = [](const vec& y, double, vec& v) { v = y; };
  const vec grid = stork::flow_sigmas(5);
  auto throws = [&](const auto& m, const vec& g, const std::string& says, auto... noise) {
    vec x{1.0, -2.0};
    REQUIRE_THROWS_AS(stork::integrate(m, f, x, g, noise...), stork::error);
    REQUIRE_THROWS_WITH(stork::integrate(m, f, x, g, noise...), Catch::Contains(says));
    REQUIRE(x == vec{1.0, -2.0});
  };
  auto z = [](vec& o) { std::fill(o.begin(), o.end(), 0.1); };
  throws(stork::lms{.order = 0}, grid, "lms: order = 0");
  throws(stork::lms{.order = 17}, grid, "lms: order = 17");
  throws(stork::lms{.shift = -1}, grid, "lms: shift = -1");
  throws(stork::lms{.divisions = 0}, grid, "lms: divisions = 0");
  throws(stork::ipndm{.coefficients = static_cast<stork::ipndm_coefficients>(5)}, grid,
         "ipndm: coefficients = 5");
  throws(stork::dpm2{}, vec{1.0, 0.5, -0.5}, "dpm2: times[2] = -0.5");
  throws(stork::dpm2{}, vec{0.0, 0.5, 1.0}, "dpm2: times[0] = 0");
  throws(stork::res_multistep{}, vec{0.2, 0.5, 0.9}, "res_multistep: times[1] = 0.5");
  throws(stork::dpmpp_2m_v2{}, vec{1.0, 0.0, -0.5}, "dpmpp_2m_v2: times[1] = 0");
  throws(stork::res_multistep_ancestral{.eta = -1.0}, grid, "res_multistep_ancestral: eta = -1", z);
  throws(stork::res_multistep_ancestral{.eta = std::nan("")}, grid, "eta = nan", z);
  throws(stork::res_multistep_ancestral{.s_noise = -0.5}, grid, "s_noise = -0.5", z);
}
