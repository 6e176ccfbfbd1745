// Tests of the noise-adding samplers of stable-diffusion.cpp's menu (<stork/methods/ddim_trailing.hpp>,
// <stork/methods/dpmpp_2s_ancestral.hpp>, <stork/methods/res_2s.hpp>, <stork/methods/er_sde.hpp>,
// <stork/methods/consistency.hpp>: lcm, tcd; <stork/detail/ancestral_step.hpp>): parity with plain-loop
// transcriptions of sd.cpp's sample_euler_ancestral (ddim_trailing), sample_dpmpp_2s_ancestral(_flow),
// sample_res_2s, sample_er_sde, sample_lcm and sample_tcd (leejet/stable-diffusion.cpp,
// src/runtime/denoiser.hpp, commit 97d2990807fe, written here from their update rules, in double and in
// float) under one recorded noise sequence, for a VE denoiser on Karras grids and a rectified-flow velocity
// (wrapped as D = x − σ·v, as sd.cpp's flow denoisers do) on flow grids; the same model calls and noise
// draws; VP models against the VE run of the equivalent model; eta = 0 draws nothing; bad options; no
// allocation while stepping.
#include <stork/methods/consistency.hpp>
#include <stork/methods/ddim_trailing.hpp>
#include <stork/methods/dpmpp_2s_ancestral.hpp>
#include <stork/methods/er_sde.hpp>
#include <stork/methods/res_2s.hpp>
#include <stork/stork.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "support/alloc_counter.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;

// ---------------------------------------------------------------------------------------------------------
// The transcriptions: sd.cpp's functions in plain loops on std::vector<T>, T = double or float (sd.cpp's own
// arithmetic is float32; the double version is the same rule in double). `model(x, σ)` returns the data
// prediction D (a flow velocity is wrapped as D = x − σ·v by the caller), `randn()` one N(0, I) draw.
namespace sdcpp {

template <class T>
using tensor = std::vector<T>;
template <class T>
using denoiser = std::function<tensor<T>(const tensor<T>&, T)>;
template <class T>
using randn = std::function<tensor<T>()>;

/// a·x + b·y.
template <class T>
tensor<T> lin(T a, const tensor<T>& x, T b, const tensor<T>& y) {
  tensor<T> r(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) r[i] = a * x[i] + b * y[i];
  return r;
}
/// x += w·z.
template <class T>
void add(tensor<T>& x, T w, const tensor<T>& z) {
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += z[i] * w;
}
template <class T>
void scale(tensor<T>& x, T w) {
  for (T& v : x) v *= w;
}

/// get_ancestral_step (VE): (σ_to, 0) for eta <= 0; σ_up = min(σ_to, eta·√max(σ_to²(σ_from² − σ_to²)/σ_from²,
/// 0)) when σ_from² > 0, σ_down = √(σ_to² − σ_up²) (0 when not positive).
template <class T>
std::pair<T, T> ancestral_ve(T from, T to, T eta) {
  T up = 0, down = to;
  if (eta <= T(0)) return {down, up};
  const T f2 = from * from, t2 = to * to;
  if (f2 > T(0)) {
    const T term = t2 * (f2 - t2) / f2;
    up = std::min(to, eta * std::sqrt(std::max(term, T(0))));
  }
  const T d2 = t2 - up * up;
  down = d2 > T(0) ? std::sqrt(d2) : T(0);
  return {down, up};
}

/// get_ancestral_step_flow: (σ_to, 0, 1) for eta <= 0 or σ_from <= 0 or σ_to <= 0; eta = min(eta, 1),
/// σ_down = clamp(σ_to(1 + (σ_to/σ_from − 1)eta), 0, σ_to), (σ_to, 0, 1) when 1 − σ_down <= 0,
/// a = (1 − σ_to)/(1 − σ_down), t = clamp(σ_down/σ_to·a, −1, 1), σ_up = σ_to·√max(1 − t², 0).
template <class T>
std::tuple<T, T, T> ancestral_flow(T from, T to, T eta) {
  T down = to, up = 0, a = 1;
  if (eta <= T(0) || from <= T(0) || to <= T(0)) return {down, up, a};
  eta = std::min(eta, T(1));
  down = to * (T(1) + (to / from - T(1)) * eta);
  down = std::max(T(0), std::min(to, down));
  const T denom = T(1) - down;
  if (denom <= T(0)) return {to, up, a};
  a = (T(1) - to) / denom;
  T t = (down / to) * a;
  t = std::max(T(-1), std::min(T(1), t));
  up = to * std::sqrt(std::max(T(1) - t * t, T(0)));
  return {down, up, a};
}

/// sample_euler_ancestral (sd.cpp's ddim_trailing): x = D when σ_to = 0; eta = 0: x = r·x + (1 − r)·D with
/// r = σ_to/σ; else the split (flow or VE), x = r·x + (1 − r)·D with r = σ_down/σ, and when σ_up > 0: flow
/// x *= a, then x += randn()·σ_up.
template <class T>
tensor<T> euler_ancestral(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas, const randn<T>& rn,
                          bool is_flow, T eta) {
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma = sigmas[i], sigma_to = sigmas[i + 1];
    const tensor<T> den = model(x, sigma);
    if (sigma_to == T(0)) {
      x = den;
    } else if (eta == T(0)) {
      const T r = sigma_to / sigma;
      x = lin(r, x, T(1) - r, den);
    } else {
      T down, up, a = 1;
      if (is_flow)
        std::tie(down, up, a) = ancestral_flow(sigma, sigma_to, eta);
      else
        std::tie(down, up) = ancestral_ve(sigma, sigma_to, eta);
      const T r = down / sigma;
      x = lin(r, x, T(1) - r, den);
      if (up > T(0)) {
        if (is_flow) scale(x, a);
        add(x, up, rn());
      }
    }
  }
  return x;
}

/// sample_dpmpp_2s_ancestral (VE): σ_down, σ_up = get_ancestral_step; x = D when σ_down = 0; else t = −log σ,
/// t_next = −log σ_down, h = t_next − t, s = t + h/2, σ_s = e^{−s}, x2 = (σ_s/e^{−t})·x − (e^{−h/2} − 1)·D,
/// D2 = model(x2, σ_s), x = (e^{−t_next}/e^{−t})·x − (e^{−h} − 1)·D2; then when σ_{i+1} > 0 x += randn()·σ_up
/// (sd.cpp draws there even with eta = 0, multiplying by σ_up = 0: the draw is skipped here, as stork does).
template <class T>
tensor<T> dpmpp_2s_ancestral(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas,
                             const randn<T>& rn, T eta) {
  auto t_fn = [](T s) { return -std::log(s); };
  auto sigma_fn = [](T t) { return std::exp(-t); };
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const tensor<T> den = model(x, sigmas[i]);
    const auto [down, up] = ancestral_ve(sigmas[i], sigmas[i + 1], eta);
    if (down == T(0)) {
      x = den;
    } else {
      const T t = t_fn(sigmas[i]), t_next = t_fn(down), h = t_next - t, s = t + T(0.5) * h;
      const T sigma_s = sigma_fn(s);
      const tensor<T> x2 = lin(sigma_s / sigma_fn(t), x, -(std::exp(-h * T(0.5)) - T(1)), den);
      const tensor<T> den2 = model(x2, sigma_s);
      x = lin(sigma_fn(t_next) / sigma_fn(t), x, -(std::exp(-h) - T(1)), den2);
    }
    if (sigmas[i + 1] > T(0) && eta > T(0)) add(x, up, rn());
  }
  return x;
}

/// sample_dpmpp_2s_ancestral_flow: x = D when σ_to = 0; else σ_down, σ_up, a = get_ancestral_step_flow; when
/// 1 − σ < 1e-6, D_i = D; else e_s = √((1 − σ)/σ·(1 − σ_down)/σ_down), σ_s = 1/(e_s + 1),
/// u = (σ_s/σ)·x + (1 − σ_s/σ)·D, D_i = model(u, σ_s); x = (σ_down/σ)·x + (1 − σ_down/σ)·D_i; when σ_to > 0
/// and eta > 0, x = a·x + randn()·σ_up.
template <class T>
tensor<T> dpmpp_2s_ancestral_flow(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas,
                                  const randn<T>& rn, T eta) {
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma = sigmas[i], sigma_to = sigmas[i + 1];
    const bool first = 1.0 - static_cast<double>(sigma) < 1e-6;
    const tensor<T> den = model(x, sigma);
    if (sigma_to == T(0)) {
      x = den;
      continue;
    }
    const auto [down, up, a] = ancestral_flow(sigma, sigma_to, eta);
    tensor<T> d_i;
    if (first) {
      d_i = den;
    } else {
      const T e_s = std::sqrt(((T(1) - sigma) / sigma) * ((T(1) - down) / down));
      const T sigma_s = T(1) / (e_s + T(1));
      const T q = sigma_s / sigma;
      d_i = model(lin(q, x, T(1) - q, den), sigma_s);
    }
    const T r = down / sigma;
    x = lin(r, x, T(1) - r, d_i);
    if (sigma_to > T(0) && eta > T(0)) {
      scale(x, a);
      add(x, up, rn());
    }
  }
  return x;
}

/// sd.cpp's φ₁(t) = (e^t − 1)/t (1 + t/2 + t²/6 below |t| = 1e-6) and φ₂(t) = (φ₁(t) − 1)/t
/// (1/2 + t/6 + t²/24 below 1e-6).
template <class T>
T phi1(T t) {
  if (std::abs(t) < T(1e-6)) return T(1) + t * T(0.5) + (t * t) / T(6);
  return (std::exp(t) - T(1)) / t;
}
template <class T>
T phi2(T t) {
  if (std::abs(t) < T(1e-6)) return T(0.5) + t / T(6) + (t * t) / T(24);
  return (phi1(t) - T(1)) / t;
}

/// sample_res_2s (c₂ = ½): σ_down, σ_up, a = get_ancestral_step(…, is_flow); x = D when σ_down = 0 or σ = 0;
/// else t = −log σ, h = −log σ_down − t, a21 = c₂φ₁(−hc₂), b2 = φ₂(−h)/c₂, b1 = φ₁(−h) − b2,
/// σ_c2 = e^{−(t + hc₂)}, x2 = x0 + (D − x0)·h·a21, D2 = model(x2, σ_c2), x = x0 + h(b1(D − x0) + b2(D2 −
/// x0)); when σ_to > 0 and σ_up > 0: flow x *= a, x += randn()·σ_up.
template <class T>
tensor<T> res_2s(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas, const randn<T>& rn,
                 bool is_flow, T eta) {
  const T c2 = T(0.5);
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma_from = sigmas[i], sigma_to = sigmas[i + 1];
    const tensor<T> den = model(x, sigma_from);
    T down, up, a = 1;
    if (is_flow)
      std::tie(down, up, a) = ancestral_flow(sigma_from, sigma_to, eta);
    else
      std::tie(down, up) = ancestral_ve(sigma_from, sigma_to, eta);
    const tensor<T> x0 = x;
    if (down == T(0) || sigma_from == T(0)) {
      x = den;
    } else {
      const T t = -std::log(sigma_from), t_next = -std::log(down), h = t_next - t;
      const T a21 = c2 * phi1(-h * c2), b2 = phi2(-h) / c2, b1 = phi1(-h) - b2;
      const T sigma_c2 = std::exp(-(t + h * c2));
      tensor<T> eps1(x.size()), x2(x.size());
      for (std::size_t k = 0; k < x.size(); ++k) eps1[k] = den[k] - x0[k];
      for (std::size_t k = 0; k < x.size(); ++k) x2[k] = x0[k] + eps1[k] * (h * a21);
      const tensor<T> den2 = model(x2, sigma_c2);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = x0[k] + h * (b1 * eps1[k] + b2 * (den2[k] - x0[k]));
    }
    if (sigma_to > T(0) && up > T(0)) {
      if (is_flow) scale(x, a);
      add(x, up, rn());
    }
  }
  return x;
}

/// sample_er_sde (max_stage 3, 200 integration points; s_noise = eta read as a switch): see the header's
/// documentation; transcribed statement by statement.
template <class T>
tensor<T> er_sde(const denoiser<T>& model, tensor<T> x, tensor<T> sigmas, const randn<T>& rn, bool is_flow,
                 T eta) {
  const int max_stage = 3, points = 200;
  const T points_f = T(200), s_noise = eta;
  auto flow_sigma = [](T s) { return std::min(std::max(s, T(1e-6)), T(1) - T(1e-4)); };
  auto to_lambda = [&](T s) {
    if (is_flow) {
      s = flow_sigma(s);
      return s / std::max(T(1) - s, T(1e-6));
    }
    return std::max(s, T(1e-6));
  };
  auto to_alpha = [&](T s) { return is_flow ? T(1) - flow_sigma(s) : T(1); };
  auto scaler = [](T v) {
    v = std::max(v, T(0));
    return v * (std::exp(std::pow(v, T(0.3))) + T(10));
  };
  if (is_flow)
    for (std::size_t i = 0; i + 1 < sigmas.size(); ++i)
      if (sigmas[i] > T(1)) sigmas[i] = flow_sigma(sigmas[i]);
  tensor<T> lambdas(sigmas.size());
  for (std::size_t i = 0; i < sigmas.size(); ++i) lambdas[i] = to_lambda(sigmas[i]);
  tensor<T> old_den = x, old_den_d = x;
  bool have_old = false, have_old_d = false;
  const int steps = static_cast<int>(sigmas.size()) - 1;
  for (int i = 0; i < steps; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    const tensor<T> den = model(x, sigmas[ui]);
    const int stage = std::min(max_stage, i + 1);
    if (sigmas[ui + 1] == T(0)) {
      x = den;
    } else {
      const T ls = lambdas[ui], lt = lambdas[ui + 1];
      const T as = to_alpha(sigmas[ui]), at = to_alpha(sigmas[ui + 1]);
      const T ss = scaler(ls), st = scaler(lt);
      const T r_alpha = as > T(0) ? at / as : T(0), r = ss > T(0) ? st / ss : T(0);
      x = lin(r_alpha * r, x, at * (T(1) - r), den);
      if (stage >= 2 && have_old) {
        const T dt = lt - ls, step = -dt / points_f;
        T s = 0, s_u = 0;
        for (int p = 0; p < points; ++p) {
          const T l = lt + static_cast<T>(p) * step, sc = scaler(l);
          if (sc <= T(0)) continue;
          s += T(1) / sc;
          if (stage >= 3 && have_old_d) s_u += (l - ls) / sc;
        }
        s *= step;
        const T denom_d = ls - lambdas[ui - 1];
        if (std::abs(denom_d) > T(1e-12)) {
          const T coeff_d = at * (dt + s * st);
          tensor<T> den_d(x.size());
          for (std::size_t k = 0; k < x.size(); ++k) den_d[k] = (den[k] - old_den[k]) / denom_d;
          add(x, coeff_d, den_d);
          if (stage >= 3 && have_old_d) {
            const T denom_u = (ls - lambdas[ui - 2]) * T(0.5);
            if (std::abs(denom_u) > T(1e-12)) {
              s_u *= step;
              const T coeff_u = at * (T(0.5) * dt * dt + s_u * st);
              tensor<T> den_u(x.size());
              for (std::size_t k = 0; k < x.size(); ++k) den_u[k] = (den_d[k] - old_den_d[k]) / denom_u;
              add(x, coeff_u, den_u);
            }
          }
          old_den_d = den_d;
          have_old_d = true;
        }
      }
      const T noise_sq = lt * lt - ls * ls * r * r;
      if (s_noise > T(0) && noise_sq > T(0)) add(x, at * std::sqrt(std::max(noise_sq, T(0))), rn());
    }
    old_den = den;
    have_old = true;
  }
  return x;
}

/// sample_lcm (noise_clip_std 0): x = D; when σ_{i+1} > 0: flow x *= 1 − σ_{i+1}; x += randn()·σ_{i+1}·s_i,
/// s_i = start + (end − start)·i/(steps − 1) (s_0 for one step).
template <class T>
tensor<T> lcm(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas, const randn<T>& rn,
              bool is_flow, T start, T end) {
  const int steps = static_cast<int>(sigmas.size()) - 1;
  for (int i = 0; i < steps; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    x = model(x, sigmas[ui]);
    if (sigmas[ui + 1] > T(0)) {
      if (is_flow) scale(x, T(1) - sigmas[ui + 1]);
      const T t = steps > 1 ? static_cast<T>(i) / static_cast<T>(steps - 1) : T(0);
      // sd.cpp draws even when both scales are 0 (the draw then weighs 0); stork then draws nothing.
      if (start != T(0) || end != T(0)) add(x, sigmas[ui + 1] * (start + (end - start) * t), rn());
    }
  }
  return x;
}

/// sample_tcd: ᾱ of the SD table (the betas' square roots in T, the product in double, as sd.cpp), the
/// nearest table σ to σ_to, s = ⌊(1 − eta)·prev⌋, x = √(ᾱ_s/ᾱ_p)·D + √(β_s/ᾱ_p)·(x − D)/σ; when eta > 0 and
/// σ_to > 0, x = √(ᾱ_p/ᾱ_s)·x + √(1/ᾱ_p − 1/ᾱ_s)·randn().
template <class T>
tensor<T> tcd(const denoiser<T>& model, tensor<T> x, const tensor<T>& sigmas, const randn<T>& rn, T eta) {
  const int timesteps = 1000;
  const T beta_start = T(0.00085), beta_end = T(0.0120);
  std::vector<double> alphas_cumprod(timesteps), compvis(timesteps);
  for (int i = 0; i < timesteps; ++i) {
    const T root = std::sqrt(beta_start) + (std::sqrt(beta_end) - std::sqrt(beta_start)) *
                                               (static_cast<T>(i) / static_cast<T>(timesteps - 1));
    alphas_cumprod[std::size_t(i)] = (i == 0 ? 1.0 : alphas_cumprod[std::size_t(i) - 1]) *
                                     (1.0 - static_cast<double>(root) * static_cast<double>(root));
    compvis[std::size_t(i)] =
        std::sqrt((1 - alphas_cumprod[std::size_t(i)]) / alphas_cumprod[std::size_t(i)]);
  }
  auto timestep_of = [&](T s) -> int {
    const double sd = static_cast<double>(s);
    const auto it = std::lower_bound(compvis.begin(), compvis.end(), sd);
    if (it == compvis.begin()) return 0;
    if (it == compvis.end()) return timesteps - 1;
    const int hi = static_cast<int>(it - compvis.begin()), lo = hi - 1;
    return std::abs(compvis[std::size_t(hi)] - sd) < std::abs(compvis[std::size_t(lo)] - sd) ? hi : lo;
  };
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma_to = sigmas[i + 1], sigma = sigmas[i];
    const int prev = timestep_of(sigma_to);
    const int ts = static_cast<int>(std::floor((T(1) - eta) * static_cast<T>(prev)));
    const tensor<T> den = model(x, sigma);
    const T ab_prev = T(1) / (sigma_to * sigma_to + T(1));
    const T ab_s = static_cast<T>(alphas_cumprod[std::size_t(ts)]), beta_s = T(1) - ab_s;
    tensor<T> next(x.size());
    for (std::size_t k = 0; k < x.size(); ++k)
      next[k] = std::sqrt(ab_s / ab_prev) * den[k] + std::sqrt(beta_s / ab_prev) * ((x[k] - den[k]) / sigma);
    x = next;
    if (eta > T(0) && sigma_to > T(0)) {
      const tensor<T> z = rn();
      for (std::size_t k = 0; k < x.size(); ++k)
        x[k] = std::sqrt(ab_prev / ab_s) * x[k] + std::sqrt(T(1) / ab_prev - T(1) / ab_s) * z[k];
    }
  }
  return x;
}

}  // namespace sdcpp

// ---------------------------------------------------------------------------------------------------------
namespace {

/// Prints the numbers a test measured when STORK_TEST_VERBOSE is set.
template <class... A>
void report(const char* format, A... a) {
  if (!std::getenv("STORK_TEST_VERBOSE")) return;
  std::printf("menu_stochastic: ");
  std::printf(format, a...);
  std::printf("\n");
}

const gaussian_mixture& blobs() {
  static const gaussian_mixture g = three_blobs();
  return g;
}

constexpr std::size_t dims = 16;  // 8 points of the 2-D mixture

/// The recorded noise sequence: draw j is fixed_noise(dims, 2000 + j), rounded to T for float runs.
struct recording {
  std::vector<vec> draws;
  recording() {
    for (unsigned j = 0; j < 400; ++j) draws.push_back(fixed_noise(dims, 2000 + j));
  }
  template <class T>
  std::vector<T> draw(std::size_t j) const {
    const vec& d = draws.at(j);
    return std::vector<T>(d.begin(), d.end());
  }
};
const recording& rec() {
  static const recording r;
  return r;
}

/// The VE denoiser of the mixture (computed in double, rounded to T).
template <class T>
void ve_denoiser(const std::vector<T>& x, double sigma, std::vector<T>& out) {
  REQUIRE(sigma > 0.0);  // never called at σ = 0
  const vec xd(x.begin(), x.end());
  vec o(xd.size());
  blobs().posterior_quantity(gaussian_mixture::quantity::mean, 1.0, sigma, xd, o);
  for (std::size_t i = 0; i < o.size(); ++i) out[i] = static_cast<T>(o[i]);
}
/// The rectified-flow velocity of the mixture (computed in double, rounded to T).
template <class T>
void flow_velocity(const std::vector<T>& x, double sigma, std::vector<T>& out) {
  REQUIRE(sigma > 0.0);
  const vec xd(x.begin(), x.end());
  vec o(xd.size());
  blobs().flow_velocity(xd, sigma, o);
  for (std::size_t i = 0; i < o.size(); ++i) out[i] = static_cast<T>(o[i]);
}

/// The transcription's model: the VE denoiser, or the flow velocity wrapped as D = x − σ·v; counts calls.
template <class T>
sdcpp::denoiser<T> transcription_model(bool flow, std::size_t& calls) {
  return [flow, &calls](const std::vector<T>& x, T sigma) {
    ++calls;
    std::vector<T> out(x.size());
    if (flow) {
      flow_velocity<T>(x, static_cast<double>(sigma), out);
      for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] - sigma * out[i];
    } else {
      ve_denoiser<T>(x, static_cast<double>(sigma), out);
    }
    return out;
  };
}

template <class T, class M>
std::vector<T> transcription(const M& m, bool flow, const sdcpp::denoiser<T>& model, const std::vector<T>& x0,
                             const std::vector<T>& sigmas, const sdcpp::randn<T>& rn) {
  if constexpr (std::is_same_v<M, stork::ddim_trailing>)
    return sdcpp::euler_ancestral<T>(model, x0, sigmas, rn, flow, T(m.eta));
  else if constexpr (std::is_same_v<M, stork::dpmpp_2s_ancestral>)
    return flow ? sdcpp::dpmpp_2s_ancestral_flow<T>(model, x0, sigmas, rn, T(m.eta))
                : sdcpp::dpmpp_2s_ancestral<T>(model, x0, sigmas, rn, T(m.eta));
  else if constexpr (std::is_same_v<M, stork::res_2s>)
    return sdcpp::res_2s<T>(model, x0, sigmas, rn, flow, T(m.eta));
  else if constexpr (std::is_same_v<M, stork::er_sde>)
    return sdcpp::er_sde<T>(model, x0, sigmas, rn, flow, T(m.eta));
  else if constexpr (std::is_same_v<M, stork::lcm>)
    return sdcpp::lcm<T>(model, x0, sigmas, rn, flow, T(m.noise_scale_start),
                         T(m.noise_scale_end.value_or(m.noise_scale_start)));
  else
    return sdcpp::tcd<T>(model, x0, sigmas, rn, T(m.eta));
}

/// Every configuration under test, by name (s_noise = 1: sd.cpp has none).
template <class F>
void for_each_menu_method(F&& f) {
  for (const double eta : {0.0, 0.5, 1.0, 1.7}) {
    f("ddim_trailing", stork::ddim_trailing{.eta = eta}, eta);
    f("dpmpp_2s_ancestral", stork::dpmpp_2s_ancestral{.eta = eta}, eta);
    f("res_2s", stork::res_2s{.eta = eta}, eta);
  }
  for (const double eta : {0.0, 1.0}) f("er_sde", stork::er_sde{.eta = eta}, eta);
  f("lcm", stork::lcm{}, 1.0);
  f("lcm 0.5", stork::lcm{.noise_scale_start = 0.5}, 1.0);
  f("lcm 1 to 0.2", stork::lcm{.noise_scale_start = 1.0, .noise_scale_end = 0.2}, 1.0);
  f("lcm 0", stork::lcm{.noise_scale_start = 0.0}, 0.0);
  for (const double eta : {0.0, 0.25, 0.5, 1.0}) f("tcd", stork::tcd{.eta = eta}, eta);
}

/// A VE grid (Karras, SD's range; with `to_zero` false the final 0 is dropped) or a flow grid.
vec ve_grid(int steps, bool to_zero = true) {
  vec g = stork::karras_sigmas(steps, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0});
  if (!to_zero) g.pop_back();
  return g;
}
const vec flow_from_one = stork::flow_sigmas(10, {.shift = 3.0});
const vec flow_below_one{0.92, 0.8, 0.62, 0.45, 0.3, 0.17, 0.07, 0.0};
const vec flow_not_to_zero{1.0, 0.7, 0.4, 0.1};

/// One run of stork (integrate) and of the transcription on the same start, grid and draws, in T.
struct outcome {
  vec stork, ref;
  std::size_t nfe, ref_calls, draws, ref_draws;
};
template <class T, class M>
outcome run_both(const M& m, bool flow, const vec& grid, unsigned seed) {
  vec x0 = fixed_noise(dims, seed);
  if (!flow)
    for (double& v : x0) v *= grid.front();
  const std::vector<T> xt(x0.begin(), x0.end()), gt(grid.begin(), grid.end());
  std::size_t ref_calls = 0, ref_draws = 0, draws = 0;
  const sdcpp::randn<T> rn = [&ref_draws] { return rec().draw<T>(ref_draws++); };
  const std::vector<T> ref = transcription<T>(m, flow, transcription_model<T>(flow, ref_calls), xt, gt, rn);
  auto source = [&draws](std::vector<T>& out) { out = rec().draw<T>(draws++); };
  std::vector<T> x = xt;
  stork::stats st;
  if (flow)
    st = stork::integrate(m, flow_velocity<T>, x, grid, source);
  else
    st = stork::integrate(m, stork::field(ve_denoiser<T>, stork::ve{}, stork::prediction::sample), x, grid,
                          source);
  return {vec(x.begin(), x.end()), vec(ref.begin(), ref.end()), st.nfe, ref_calls, draws, ref_draws};
}

/// The grids of the parity tests.
template <class F>
void for_each_grid(F&& f) {
  f("VE karras 10", false, ve_grid(10));
  f("VE karras 4", false, ve_grid(4));
  f("VE karras 6, not to 0", false, ve_grid(6, false));
  f("VE EDM 8", false, stork::karras_sigmas(8, {.sigma_min = 0.002, .sigma_max = 80.0, .rho = 7.0}));
  f("flow from 1", true, flow_from_one);
  f("flow from 0.92", true, flow_below_one);
  f("flow not to 0", true, flow_not_to_zero);
}

}  // namespace

TEST_CASE("menu: ancestral_step_ve and ancestral_step_flow are sd.cpp's get_ancestral_step(_flow)",
          "[menu][stochastic]") {
  for (const double from : {14.6, 3.0, 1.0, 0.9, 0.5}) {
    for (const double to : {0.0, 0.3, 0.45, 0.8, 2.0}) {
      if (!(to < from)) continue;
      for (const double eta : {0.0, 0.3, 1.0, 1.7}) {
        INFO("from " << from << " to " << to << " eta " << eta);
        const auto ve = stork::detail::ancestral_step_ve(from, to, eta);
        const auto [down, up] = sdcpp::ancestral_ve(from, to, eta);
        REQUIRE(ve.sigma_down == down);
        REQUIRE(ve.sigma_up == up);
        REQUIRE(ve.alpha_ratio == 1.0);
        REQUIRE(std::abs(ve.sigma_down * ve.sigma_down + ve.sigma_up * ve.sigma_up - to * to) <=
                1e-12 * (1 + to * to));
        if (from > 1.0) continue;
        const auto fl = stork::detail::ancestral_step_flow(from, to, eta);
        const auto [fdown, fup, fa] = sdcpp::ancestral_flow(from, to, eta);
        REQUIRE(fl.sigma_down == fdown);
        REQUIRE(fl.sigma_up == fup);
        REQUIRE(fl.alpha_ratio == fa);
        // a·x(σ_down) + σ_up·z has the flow marginal at σ_to: signal 1 − σ_to, noise variance σ_to².
        REQUIRE(std::abs(fa * (1 - fdown) - (1 - to)) <= 1e-15);
        REQUIRE(std::abs(fa * fa * fdown * fdown + fup * fup - to * to) <= 1e-14);
      }
    }
  }
}

TEST_CASE("menu: each sampler equals its sd.cpp transcription in double under one recorded noise sequence",
          "[menu][stochastic][sdcpp]") {
  double worst = 0.0;
  for_each_grid([&](const char* grid_name, bool flow, const vec& grid) {
    for_each_menu_method([&](const char* name, const auto& m, double eta) {
      for (const unsigned seed : {1u, 2u}) {
        INFO(grid_name << ", " << name << ", eta " << eta << ", seed " << seed);
        const outcome o = run_both<double>(m, flow, grid, seed);
        REQUIRE(o.nfe == o.ref_calls);    // the same model calls
        REQUIRE(o.draws == o.ref_draws);  // the same draws, in the same order
        if (eta == 0.0) REQUIRE(o.draws == 0);
        const double d = rel_diff(o.stork, o.ref);
        worst = std::max(worst, d);
        INFO("max relative difference " << d);
        REQUIRE(d < 1e-12);
      }
    });
  });
  report("double transcriptions: worst max relative difference %.3g", worst);
}

TEST_CASE("menu: float states follow sd.cpp's float32 arithmetic to float round-off",
          "[menu][stochastic][sdcpp][float32]") {
  // The same start (rounded to float) and the same draws. stork rounds its double weights to float once per
  // combination; sd.cpp computes them in float. Measured (relative to max(1, |x|)): stork's float run is
  // within 6.4e-6 of the double transcription; within 2.1e-5 of the float32 transcription (whose own weights
  // lose more, e.g. 1 − σ_down in get_ancestral_step_flow), except tcd, whose float32 noise weight
  // √(1/ᾱ_p − 1/ᾱ_s) cancels near the table's σ_0 ≈ 0.029 (1/ᾱ_p − 1/ᾱ_s ≈ 2e-6 there, known to float's
  // 1e-7): 1.2e-4 from stork there. Bounds: 3e-5 to double; 1e-4 (tcd 1e-3) to float32.
  double worst64 = 0.0, worst32 = 0.0, worst32_tcd = 0.0;
  for_each_grid([&](const char* grid_name, bool flow, const vec& grid) {
    for_each_menu_method([&](const char* name, const auto& m, double eta) {
      INFO(grid_name << ", " << name << ", eta " << eta);
      const outcome o = run_both<float>(m, flow, grid, 3u);
      REQUIRE(o.nfe == o.ref_calls);
      REQUIRE(o.draws == o.ref_draws);
      const outcome d64 = run_both<double>(m, flow, grid, 3u);
      const double to64 = rel_diff(o.stork, d64.ref), to32 = rel_diff(o.stork, o.ref);
      const bool is_tcd = std::is_same_v<std::decay_t<decltype(m)>, stork::tcd>;
      worst64 = std::max(worst64, to64);
      (is_tcd ? worst32_tcd : worst32) = std::max(is_tcd ? worst32_tcd : worst32, to32);
      INFO("max relative difference to the double transcription " << to64 << ", to the float32 one " << to32);
      REQUIRE(to64 < 3e-5);
      REQUIRE(to32 < (is_tcd ? 1e-3 : 1e-4));
    });
  });
  report(
      "float32 runs: worst max relative difference %.3g to the double transcriptions, %.3g to the float32 "
      "ones (tcd %.3g)",
      worst64, worst32, worst32_tcd);
}

namespace {

/// A VE denoiser, a flow velocity or a VP posterior-mean (x̂₀) model of the mixture, by convention.
enum class convention { ve, flow, vp };
const char* name_of(convention c) {
  return c == convention::ve ? "VE" : c == convention::flow ? "flow" : "VP";
}
vec grid_of(convention c, int steps) {
  switch (c) {
    case convention::ve:
      return ve_grid(steps);
    case convention::flow:
      return stork::flow_sigmas(steps, {.shift = 3.0});
    case convention::vp:
      return stork::vp_taus(steps);
  }
  return {};
}
void model_of(convention c, const vec& x, double t, vec& out) {
  switch (c) {
    case convention::ve:
      return blobs().model_output(stork::ve{}, stork::prediction::sample, x, t, out);
    case convention::flow:
      return blobs().flow_velocity(x, t, out);
    case convention::vp:
      return blobs().model_output(stork::vp_linear{}, stork::prediction::sample, x, t, out);
  }
}
const stork::model<stork::vp_linear> vp_x0{.process = {}, .prediction = stork::prediction::sample};

/// body(make_scheduler(m, grid, x, <the parameterisation of convention c>, a...)).
template <class M, class Body, class... A>
void with_scheduler(const M& m, convention c, const vec& grid, const vec& x, Body&& body, A&&... a) {
  switch (c) {
    case convention::ve:
      return body(stork::make_scheduler(m, grid, x, stork::ve{}, std::forward<A>(a)...));
    case convention::flow:
      return body(stork::make_scheduler(m, grid, x, std::forward<A>(a)...));
    case convention::vp:
      return body(stork::make_scheduler(m, grid, x, vp_x0, std::forward<A>(a)...));
  }
}

/// integrate in convention c with a noise source.
template <class M, class Noise>
vec run(const M& m, convention c, const vec& grid, vec x, Noise noise) {
  auto f = [c](const vec& y, double t, vec& o) { model_of(c, y, t, o); };
  switch (c) {
    case convention::ve:
      stork::integrate(m, stork::field(f, stork::ve{}), x, grid, noise);
      break;
    case convention::flow:
      stork::integrate(m, f, x, grid, noise);
      break;
    case convention::vp:
      stork::integrate(m, stork::field(f, vp_x0.process, vp_x0.prediction), x, grid, noise);
      break;
  }
  return x;
}

vec start_of(convention c, unsigned seed = 4) {
  vec x = fixed_noise(dims, seed);
  if (c == convention::ve)
    for (double& v : x) v *= 14.6146;
  return x;
}

/// Every method once with noise (the configurations of tests/support/all_methods.hpp).
template <class F>
void for_each_noisy(F&& f) {
  f("ddim_trailing", stork::ddim_trailing{.eta = 1.0});
  f("dpmpp_2s_ancestral", stork::dpmpp_2s_ancestral{});
  f("res_2s", stork::res_2s{.eta = 1.0});
  f("er_sde", stork::er_sde{});
  f("lcm", stork::lcm{});
  f("tcd", stork::tcd{.eta = 0.3});
}

}  // namespace

TEST_CASE("menu: the engine-owned loop (own buffer or zero-copy) gives integrate's bits; two-stage calls",
          "[menu][stochastic][scheduler]") {
  for (const convention c : {convention::ve, convention::flow, convention::vp}) {
    for_each_noisy([&](const char* name, const auto& m) {
      INFO(name_of(c) << ", " << name);
      const vec grid = grid_of(c, 7);
      const vec expected = run(m, c, grid, start_of(c), stork::normal_noise{5});
      for (const bool zero_copy : {false, true}) {
        vec x = start_of(c), out(x.size());
        std::size_t calls = 0, stage_calls = 0;
        with_scheduler(
            m, c, grid, x,
            [&](auto sch) {
              while (!sch.done()) {
                const double t = sch.time();
                ++calls;
                if (!sch.at_grid_point()) {
                  ++stage_calls;  // inside the interval (at its end, to rounding, for eta = 1 in VE: σ_s =
                                  // σ_{n+1})
                  const std::size_t n = sch.interval();
                  const double lo = std::min(grid[n], grid[n + 1]), hi = std::max(grid[n], grid[n + 1]);
                  REQUIRE(t > lo * (1.0 - 1e-12));
                  REQUIRE(t < hi);
                } else {
                  REQUIRE(t == grid[sch.interval()]);
                }
                model_of(c, x, t, zero_copy ? sch.output_buffer() : out);
                zero_copy ? sch.step(x) : sch.step(out, x);
              }
              REQUIRE(sch.nfe() == calls);
            },
            stork::normal_noise{5});
        REQUIRE(same_bits(x, expected));
        const bool two_stage = std::is_same_v<std::decay_t<decltype(m)>, stork::dpmpp_2s_ancestral> ||
                               std::is_same_v<std::decay_t<decltype(m)>, stork::res_2s>;
        if (!two_stage) REQUIRE(stage_calls == 0);
        if (two_stage) REQUIRE(stage_calls >= 5);
      }
    });
  }
}

TEST_CASE("menu: a VP model sampled with the VE rule is the VE run of the equivalent model",
          "[menu][stochastic][vp]") {
  // x_VP = α·x_VE at σ_VE = σ/α, and a VP x̂₀ model at τ is the VE denoiser at σ/α: the same run, the same
  // draws (the stage times of the two-stage methods are found by bisection on σ/α: equal to rounding).
  const stork::vp_linear vp{};
  const vec taus = stork::vp_taus(8);
  vec sig(taus.size());
  for (std::size_t i = 0; i < taus.size(); ++i) sig[i] = vp.sigma(taus[i]) / vp.alpha(taus[i]);
  double worst = 0.0;
  for_each_noisy([&](const char* name, const auto& m) {
    INFO(name);
    vec x_ve = fixed_noise(dims, 9);
    for (double& v : x_ve) v *= sig.front();
    vec x_vp = x_ve;
    for (double& v : x_vp) v *= vp.alpha(taus.front());
    x_ve = run(m, convention::ve, sig, x_ve, stork::normal_noise{8});
    x_vp = run(m, convention::vp, taus, x_vp, stork::normal_noise{8});
    for (double& v : x_vp) v /= vp.alpha(taus.back());
    const double d = rel_diff(x_vp, x_ve);
    worst = std::max(worst, d);
    INFO("max relative difference " << d);
    REQUIRE(d < 1e-10);
  });
  report("VP against VE: worst max relative difference %.3g", worst);
}

TEST_CASE("menu: bad options are rejected with the parameter and its value", "[menu][stochastic][error]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  auto check = [](const auto& m, const char* who, const char* param, const char* value) {
    INFO(who << " " << param << " = " << value);
    vec x = start_of(convention::flow);
    const vec before = x;
    auto f = [](const vec& y, double t, vec& o) { model_of(convention::flow, y, t, o); };
    const std::string text = std::string("stork: ") + who + ": " + param + " = " + value + " is invalid";
    REQUIRE_THROWS_AS(stork::integrate(m, f, x, flow_from_one, stork::normal_noise{1}), stork::error);
    REQUIRE_THROWS_WITH(stork::integrate(m, f, x, flow_from_one, stork::normal_noise{1}),
                        Catch::Contains(text));
    REQUIRE(same_bits(x, before));
    REQUIRE_THROWS_WITH(stork::make_scheduler(m, flow_from_one, x, stork::normal_noise{1}),
                        Catch::Contains(text));
  };
  check(stork::ddim_trailing{.eta = -1.0}, "ddim_trailing", "eta", "-1");
  check(stork::ddim_trailing{.eta = 1.0, .s_noise = nan}, "ddim_trailing", "s_noise", "nan");
  check(stork::dpmpp_2s_ancestral{.eta = nan}, "dpmpp_2s_ancestral", "eta", "nan");
  check(stork::dpmpp_2s_ancestral{.s_noise = -0.5}, "dpmpp_2s_ancestral", "s_noise", "-0.5");
  check(stork::res_2s{.eta = inf}, "res_2s", "eta", "inf");
  check(stork::res_2s{.s_noise = -inf}, "res_2s", "s_noise", "-inf");
  check(stork::er_sde{.eta = -0.1}, "er_sde", "eta", "-0.1");
  check(stork::er_sde{.s_noise = inf}, "er_sde", "s_noise", "inf");
  check(stork::lcm{.noise_scale_start = -1.0}, "lcm", "noise_scale_start", "-1");
  check(stork::lcm{.noise_scale_end = nan}, "lcm", "noise_scale_end", "nan");
  check(stork::tcd{.eta = 1.5}, "tcd", "eta", "1.5");
  check(stork::tcd{.eta = -0.5}, "tcd", "eta", "-0.5");
  check(stork::tcd{.eta = nan}, "tcd", "eta", "nan");
  check(stork::tcd{.num_train_timesteps = 1}, "tcd", "num_train_timesteps", "1");
  check(stork::tcd{.beta_start = 0.0}, "tcd", "beta_start", "0");
  check(stork::tcd{.beta_end = 1.0}, "tcd", "beta_end", "1");
  // Noise is added only going toward data: a rising grid is rejected by every method.
  for_each_noisy([&](const char* name, const auto& m) {
    INFO(name);
    vec x = start_of(convention::ve);
    REQUIRE_THROWS_WITH(stork::make_scheduler(m, vec{0.5, 1.0, 2.0}, x, stork::ve{}, stork::normal_noise{1}),
                        Catch::Contains("times[1] = 1 is invalid"));
  });
  // A VP stage that would lie beyond a grid not ending at data (eta > 1 puts σ_s below σ_{n+1}; here on the
  // last interval, the two before it have σ_down = 0 and no stage).
  vec x = start_of(convention::vp);
  REQUIRE_THROWS_WITH(stork::make_scheduler(stork::dpmpp_2s_ancestral{.eta = 1.1}, vec{1.0, 0.8, 0.6, 0.5}, x,
                                            vp_x0, stork::normal_noise{1}),
                      Catch::Contains("dpmpp_2s_ancestral: times[2] = 0.6") &&
                          Catch::Contains("beyond the grid's last point"));
}

TEST_CASE("menu: a failing draw in a two-stage interval leaves x and the scheduler as they were",
          "[menu][stochastic][error]") {
  for (const convention c : {convention::ve, convention::flow}) {
    for_each_noisy([&](const char* name, const auto& m) {
      INFO(name_of(c) << ", " << name);
      const vec grid = grid_of(c, 5);
      const vec expected = run(m, c, grid, start_of(c), stork::normal_noise{2});
      stork::normal_noise inner{2};
      int calls = 0;
      bool failed = false;
      auto source = [&](vec& z) {
        if (++calls == 2 && !failed) {
          failed = true;
          throw std::runtime_error("rng lost");
        }
        inner(z);
      };
      vec x = start_of(c), out(x.size());
      with_scheduler(
          m, c, grid, x,
          [&](auto sch) {
            while (!sch.done()) {
              model_of(c, x, sch.time(), out);
              const vec x_before = x;
              const double t = sch.time();
              const std::size_t nfe = sch.nfe();
              const bool at = sch.at_grid_point();
              try {
                sch.step(out, x);
              } catch (const std::runtime_error&) {
                REQUIRE(same_bits(x, x_before));
                REQUIRE(sch.time() == t);
                REQUIRE(sch.nfe() == nfe);
                REQUIRE(sch.at_grid_point() == at);
                sch.step(out, x);  // the retry draws what the failed call would have
              }
            }
          },
          std::ref(source));
      REQUIRE(failed);
      REQUIRE(same_bits(x, expected));
    });
  }
}

TEST_CASE("menu: no allocation while stepping, double and float states", "[menu][stochastic][alloc]") {
  for (const convention c : {convention::ve, convention::flow, convention::vp}) {
    for_each_noisy([&](const char* name, const auto& m) {
      INFO(name_of(c) << ", " << name);
      const vec grid = grid_of(c, 6);
      vec x = start_of(c), out(x.size());
      with_scheduler(
          m, c, grid, x,
          [&](auto sch) {
            while (!sch.done()) {
              model_of(c, x, sch.time(), out);  // (the closed form allocates)
              const std::size_t mark = allocation_count();
              sch.step(out, x);
              REQUIRE(allocation_count() == mark);
            }
          },
          stork::normal_noise{1});
      std::vector<float> xf(x.size()), outf(x.size());
      auto sch = stork::make_scheduler(m, grid_of(convention::flow, 6), xf, stork::normal_noise{1});
      while (!sch.done()) {
        flow_velocity<float>(xf, sch.time(), outf);
        const std::size_t mark = allocation_count();
        sch.step(outf, xf);
        REQUIRE(allocation_count() == mark);
      }
    });
  }
}
