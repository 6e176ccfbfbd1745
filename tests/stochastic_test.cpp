// Tests of the stochastic samplers (<stork/methods/euler_ancestral.hpp>, <stork/methods/dpmpp_sde.hpp>) and
// of <stork/noise.hpp>: parity with transcriptions of k-diffusion's sample_euler_ancestral,
// sample_dpmpp_2m_sde (midpoint and heun) and sample_dpmpp_3m_sde (crowsonkb/k-diffusion,
// k_diffusion/sampling.py, written here from its update rules in plain loops) under one recorded noise
// sequence; for rectified flow, against the flow rules of stable-diffusion.cpp (sample_euler_ancestral with
// get_ancestral_step_flow, sample_dpmpp_2m_sde on the flow σ: leejet/stable-diffusion.cpp,
// src/runtime/denoiser.hpp) and of ComfyUI (sample_dpmpp_2m_sde / sample_dpmpp_3m_sde for CONST models in
// the half log-SNR, sample_euler_ancestral_RF: comfyanonymous/ComfyUI, comfy/k_diffusion/sampling.py), in
// double and float; the measurement behind flow_rule; eta = 0 against the deterministic methods bit for
// bit; VP models against the VE run of the equivalent model; the distribution sampled from a Gaussian's
// exact denoiser; the noise contract (one call per interval that adds noise, in grid order); the two
// fronts; no allocation while stepping.
#include <stork/eigen.hpp>
#include <stork/methods/dpmpp_sde.hpp>
#include <stork/methods/euler_ancestral.hpp>
#include <stork/noise.hpp>
#include <stork/stork.hpp>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "support/alloc_counter.hpp"
#include "support/conventions.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace kd_sde {

using denoiser = std::function<void(const vec&, double, vec&)>;
/// noise_sampler(sigma, sigma_next): one N(0, I) draw shaped like x.
using noise_sampler = std::function<vec(double, double)>;

vec to_d(const vec& x, double sigma, const vec& den) {
  vec d(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) d[i] = (x[i] - den[i]) / sigma;
  return d;
}

/// get_ancestral_step(sigma_from, sigma_to, eta): (sigma_to, 0) when eta is 0, else
/// sigma_up = min(sigma_to, eta·(sigma_to²(sigma_from² − sigma_to²)/sigma_from²)^½),
/// sigma_down = (sigma_to² − sigma_up²)^½.
std::pair<double, double> get_ancestral_step(double sigma_from, double sigma_to, double eta) {
  if (eta == 0.0) return {sigma_to, 0.0};
  const double up = std::min(
      sigma_to, eta * std::sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) /
                                (sigma_from * sigma_from)));
  return {std::sqrt(sigma_to * sigma_to - up * up), up};
}

/// sample_euler_ancestral(eta, s_noise): d = to_d(x, σ_i, D); x ← x + d·(σ_down − σ_i); then, when
/// σ_{i+1} > 0, x ← x + noise_sampler(σ_i, σ_{i+1})·s_noise·σ_up.
vec sample_euler_ancestral(const denoiser& model, vec x, const vec& sigmas, double eta, double s_noise,
                           const noise_sampler& noise) {
  vec den(x.size());
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den);
    const auto [down, up] = get_ancestral_step(sigmas[i], sigmas[i + 1], eta);
    const vec d = to_d(x, sigmas[i], den);
    const double dt = down - sigmas[i];
    for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + d[k] * dt;
    if (sigmas[i + 1] > 0) {
      const vec z = noise(sigmas[i], sigmas[i + 1]);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + z[k] * s_noise * up;
    }
  }
  return x;
}

/// sample_dpmpp_2m_sde(eta, s_noise, solver_type): x = D when σ_{i+1} = 0; else t = −log σ_i,
/// s = −log σ_{i+1}, h = s − t, η_h = eta·h, x ← (σ_{i+1}/σ_i)·e^{−η_h}·x + (−expm1(−h − η_h))·D, then with a
/// previous D (r = h_last/h) heun: x += ((−expm1(−h − η_h))/(−h − η_h) + 1)·(1/r)·(D − D_old), midpoint:
/// x += ½·(−expm1(−h − η_h))·(1/r)·(D − D_old); if eta: x += noise·σ_{i+1}·√(−expm1(−2η_h))·s_noise.
/// old_denoised = D and h_last = h after every step.
vec sample_dpmpp_2m_sde(const denoiser& model, vec x, const vec& sigmas, double eta, double s_noise,
                        const noise_sampler& noise, bool heun) {
  vec den(x.size()), old;
  double h = 0.0, h_last = 0.0;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den);
    if (sigmas[i + 1] == 0.0) {
      x = den;
    } else {
      const double t = -std::log(sigmas[i]), s = -std::log(sigmas[i + 1]);
      h = s - t;
      const double eta_h = eta * h;
      for (std::size_t k = 0; k < x.size(); ++k)
        x[k] = sigmas[i + 1] / sigmas[i] * std::exp(-eta_h) * x[k] + -std::expm1(-h - eta_h) * den[k];
      if (!old.empty()) {
        const double r = h_last / h;
        for (std::size_t k = 0; k < x.size(); ++k) {
          if (heun)
            x[k] = x[k] + (-std::expm1(-h - eta_h) / (-h - eta_h) + 1) * (1 / r) * (den[k] - old[k]);
          else
            x[k] = x[k] + 0.5 * -std::expm1(-h - eta_h) * (1 / r) * (den[k] - old[k]);
        }
      }
      if (eta != 0.0) {
        const vec z = noise(sigmas[i], sigmas[i + 1]);
        for (std::size_t k = 0; k < x.size(); ++k)
          x[k] = x[k] + z[k] * sigmas[i + 1] * std::sqrt(-std::expm1(-2 * eta_h)) * s_noise;
      }
    }
    old = den;
    h_last = h;
  }
  return x;
}

/// sample_dpmpp_3m_sde(eta, s_noise): x = D when σ_{i+1} = 0; else h = s − t, h_η = h(eta + 1),
/// x ← e^{−h_η}·x + (−expm1(−h_η))·D, then with two previous D's (r0 = h_1/h, r1 = h_2/h):
/// d1_0 = (D − D_1)/r0, d1_1 = (D_1 − D_2)/r1, d1 = d1_0 + (d1_0 − d1_1)·r0/(r0 + r1), d2 = (d1_0 − d1_1)/(r0
/// + r1), φ₂ = expm1(−h_η)/h_η + 1, φ₃ = φ₂/h_η − ½, x += φ₂·d1 − φ₃·d2; with one (r = h_1/h): x += φ₂·(D −
/// D_1)/r; if eta: x += noise·σ_{i+1}·√(−expm1(−2h·eta))·s_noise. The D's and h's shift after every step.
vec sample_dpmpp_3m_sde(const denoiser& model, vec x, const vec& sigmas, double eta, double s_noise,
                        const noise_sampler& noise) {
  vec den(x.size()), den_1, den_2;
  double h = 0.0, h_1 = 0.0, h_2 = 0.0;
  bool has_h1 = false, has_h2 = false;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den);
    if (sigmas[i + 1] == 0.0) {
      x = den;
    } else {
      const double t = -std::log(sigmas[i]), s = -std::log(sigmas[i + 1]);
      h = s - t;
      const double h_eta = h * (eta + 1);
      for (std::size_t k = 0; k < x.size(); ++k)
        x[k] = std::exp(-h_eta) * x[k] + -std::expm1(-h_eta) * den[k];
      if (has_h2) {
        const double r0 = h_1 / h, r1 = h_2 / h;
        const double phi_2 = std::expm1(-h_eta) / h_eta + 1, phi_3 = phi_2 / h_eta - 0.5;
        for (std::size_t k = 0; k < x.size(); ++k) {
          const double d1_0 = (den[k] - den_1[k]) / r0, d1_1 = (den_1[k] - den_2[k]) / r1;
          const double d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1), d2 = (d1_0 - d1_1) / (r0 + r1);
          x[k] = x[k] + phi_2 * d1 - phi_3 * d2;
        }
      } else if (has_h1) {
        const double r = h_1 / h, phi_2 = std::expm1(-h_eta) / h_eta + 1;
        for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + phi_2 * ((den[k] - den_1[k]) / r);
      }
      if (eta != 0.0) {
        const vec z = noise(sigmas[i], sigmas[i + 1]);
        for (std::size_t k = 0; k < x.size(); ++k)
          x[k] = x[k] + z[k] * sigmas[i + 1] * std::sqrt(-std::expm1(-2 * h * eta)) * s_noise;
      }
    }
    den_2 = den_1, den_1 = den;
    h_2 = h_1, h_1 = h;
    has_h2 = has_h1, has_h1 = true;
  }
  return x;
}

}  // namespace kd_sde

// The flow rules (x = (1 − σ)·x₀ + σ·ε, D = x − σ·v), in the precision T (stable-diffusion.cpp: float).
namespace flow_rules {

template <class T>
using tv = std::vector<T>;
template <class T>
using denoiser = std::function<void(const tv<T>&, T, tv<T>&)>;
template <class T>
using randn = std::function<tv<T>(T, T)>;

/// stable-diffusion.cpp's get_ancestral_step_flow: η capped at 1, σ_down = σ_to(1 + (σ_to/σ_from − 1)η)
/// clamped to [0, σ_to], a = (1 − σ_to)/(1 − σ_down), r = clamp(σ_down/σ_to·a, −1, 1),
/// σ_up = σ_to·√max(1 − r², 0); (σ_to, 0, 1) when η <= 0 or a σ <= 0 or σ_down >= 1.
template <class T>
std::tuple<T, T, T> get_ancestral_step_flow(T from, T to, T eta) {
  T down = to, up = 0, alpha = 1;
  if (eta <= T(0) || from <= T(0) || to <= T(0)) return {down, up, alpha};
  eta = std::min(eta, T(1));
  const T ratio = to / from;
  down = to * (T(1) + (ratio - T(1)) * eta);
  down = std::max(T(0), std::min(to, down));
  const T denom = T(1) - down;
  if (denom <= T(0)) return {to, up, alpha};
  alpha = (T(1) - to) / denom;
  T term = (down / to) * alpha;
  term = std::max(T(-1), std::min(T(1), term));
  up = to * std::sqrt(std::max(T(1) - term * term, T(0)));
  return {down, up, alpha};
}

/// stable-diffusion.cpp's sample_euler_ancestral with is_flow_denoiser: x = D when σ_{i+1} = 0; η = 0:
/// x = r·x + (1 − r)·D with r = σ_{i+1}/σ_i; else (σ_down, σ_up, a) = get_ancestral_step_flow,
/// r = σ_down/σ_i, x = r·x + (1 − r)·D, and if σ_up > 0: x *= a, x += randn·σ_up.
template <class T>
tv<T> sdcpp_euler_ancestral(const denoiser<T>& model, tv<T> x, const tv<T>& sigmas, T eta,
                            const randn<T>& rng) {
  tv<T> den(x.size());
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma = sigmas[i], sigma_to = sigmas[i + 1];
    model(x, sigma, den);
    if (sigma_to == T(0)) {
      x = den;
    } else if (eta == T(0)) {
      const T r = sigma_to / sigma;
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = r * x[k] + (T(1) - r) * den[k];
    } else {
      const auto [down, up, alpha] = get_ancestral_step_flow(sigma, sigma_to, eta);
      const T r = down / sigma;
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = r * x[k] + (T(1) - r) * den[k];
      if (up > T(0)) {
        for (T& v : x) v *= alpha;
        const tv<T> z = rng(sigma, sigma_to);
        for (std::size_t k = 0; k < x.size(); ++k) x[k] += z[k] * up;
      }
    }
  }
  return x;
}

/// ComfyUI's sample_euler_ancestral_RF(eta, s_noise): x = D when σ_{i+1} = 0; else σ_down = σ_{i+1}(1 +
/// (σ_{i+1}/σ_i − 1)η), α_{i+1} = 1 − σ_{i+1}, α_down = 1 − σ_down, renoise = (σ_{i+1}² − σ_down²α_{i+1}²/
/// α_down²)^½, x = (σ_down/σ_i)·x + (1 − σ_down/σ_i)·D, and if η > 0: x = (α_{i+1}/α_down)·x +
/// noise·s_noise·renoise.
template <class T>
tv<T> comfy_euler_ancestral_rf(const denoiser<T>& model, tv<T> x, const tv<T>& sigmas, T eta, T s_noise,
                               const randn<T>& rng) {
  tv<T> den(x.size());
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den);
    if (sigmas[i + 1] == T(0)) {
      x = den;
      continue;
    }
    const T down = sigmas[i + 1] * (T(1) + (sigmas[i + 1] / sigmas[i] - T(1)) * eta);
    const T a1 = T(1) - sigmas[i + 1], ad = T(1) - down;
    const T renoise = std::sqrt(sigmas[i + 1] * sigmas[i + 1] - down * down * a1 * a1 / (ad * ad));
    const T r = down / sigmas[i];
    for (std::size_t k = 0; k < x.size(); ++k) x[k] = r * x[k] + (T(1) - r) * den[k];
    if (eta > T(0)) {
      const tv<T> z = rng(sigmas[i], sigmas[i + 1]);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = (a1 / ad) * x[k] + z[k] * s_noise * renoise;
    }
  }
  return x;
}

/// stable-diffusion.cpp's sample_dpmpp_2m_sde (no flow flag: the VE formula on the flow σ): x = D when
/// σ_{i+1} = 0; else t = −log σ_i, s = −log σ_{i+1}, h = s − t, η_h = η·h, a = σ_{i+1}/σ_i·e^{−η_h},
/// b = −expm1(−h − η_h), x = a·x + b·D (+ (½b/r)(D − D_old), r = h_last/h, after the first step) + randn·
/// σ_{i+1}·√(−expm1(−2η_h)) when η > 0.
template <class T>
tv<T> sdcpp_dpmpp_2m_sde(const denoiser<T>& model, tv<T> x, const tv<T>& sigmas, T eta, const randn<T>& rng) {
  tv<T> den(x.size()), old;
  T h_last = 0;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den);
    if (sigmas[i + 1] == T(0)) {
      x = den;
    } else {
      const T t = -std::log(sigmas[i]), s = -std::log(sigmas[i + 1]), h = s - t, eta_h = eta * h;
      const T a = sigmas[i + 1] / sigmas[i] * std::exp(-eta_h), b = -std::expm1(-h - eta_h);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = a * x[k] + b * den[k];
      if (!old.empty()) {
        const T r = h_last / h;
        for (std::size_t k = 0; k < x.size(); ++k) x[k] += (T(0.5) * b / r) * (den[k] - old[k]);
      }
      if (eta > T(0)) {
        const tv<T> z = rng(sigmas[i], sigmas[i + 1]);
        const T c = sigmas[i + 1] * std::sqrt(-std::expm1(T(-2) * eta_h));
        for (std::size_t k = 0; k < x.size(); ++k) x[k] += z[k] * c;
      }
      h_last = h;
    }
    old = den;
  }
  return x;
}

/// ComfyUI's sample_dpmpp_2m_sde for CONST models (λ = log((1 − σ)/σ), α_t = σ_{i+1}e^{λ_t}): x = D when
/// σ_{i+1} = 0; else h = λ_t − λ_s, h_η = h(η + 1), x = σ_{i+1}/σ_i·e^{−hη}·x + α_t(−expm1(−h_η))·D, then
/// with a previous D (r = h_last/h) heun: + α_t((−expm1(−h_η))/(−h_η) + 1)(1/r)(D − D_old), midpoint:
/// + ½α_t(−expm1(−h_η))(1/r)(D − D_old); + noise·σ_{i+1}·√(−expm1(−2hη))·s_noise when η, s_noise > 0.
template <class T>
tv<T> comfy_dpmpp_2m_sde(const denoiser<T>& model, tv<T> x, const tv<T>& sigmas, T eta, T s_noise, bool heun,
                         const randn<T>& rng) {
  auto lambda = [](T sigma) { return std::log((T(1) - sigma) / sigma); };
  tv<T> den(x.size()), old;
  T h = 0, h_last = 0;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den);
    if (sigmas[i + 1] == T(0)) {
      x = den;
    } else {
      const T ls = lambda(sigmas[i]), lt = lambda(sigmas[i + 1]);
      h = lt - ls;
      const T h_eta = h * (eta + T(1)), alpha_t = sigmas[i + 1] * std::exp(lt);
      for (std::size_t k = 0; k < x.size(); ++k)
        x[k] = sigmas[i + 1] / sigmas[i] * std::exp(-h * eta) * x[k] + alpha_t * -std::expm1(-h_eta) * den[k];
      if (!old.empty()) {
        const T r = h_last / h;
        for (std::size_t k = 0; k < x.size(); ++k) {
          if (heun)
            x[k] += alpha_t * (-std::expm1(-h_eta) / (-h_eta) + T(1)) * (T(1) / r) * (den[k] - old[k]);
          else
            x[k] += T(0.5) * alpha_t * -std::expm1(-h_eta) * (T(1) / r) * (den[k] - old[k]);
        }
      }
      if (eta > T(0) && s_noise > T(0)) {
        const tv<T> z = rng(sigmas[i], sigmas[i + 1]);
        for (std::size_t k = 0; k < x.size(); ++k)
          x[k] += z[k] * sigmas[i + 1] * std::sqrt(-std::expm1(T(-2) * h * eta)) * s_noise;
      }
    }
    old = den;
    h_last = h;
  }
  return x;
}

/// ComfyUI's sample_dpmpp_3m_sde for CONST models: as comfy_dpmpp_2m_sde with x ← σ_{i+1}/σ_i·e^{−hη}·x +
/// α_t(−expm1(−h_η))·D, then with two previous D's (r0 = h_1/h, r1 = h_2/h) d1_0 = (D − D_1)/r0, d1_1 =
/// (D_1 − D_2)/r1, d1 = d1_0 + (d1_0 − d1_1)r0/(r0 + r1), d2 = (d1_0 − d1_1)/(r0 + r1), φ₂ = expm1(−h_η)/h_η
/// + 1, φ₃ = φ₂/h_η − ½, x += α_tφ₂·d1 − α_tφ₃·d2; with one: x += α_tφ₂·(D − D_1)/r.
template <class T>
tv<T> comfy_dpmpp_3m_sde(const denoiser<T>& model, tv<T> x, const tv<T>& sigmas, T eta, T s_noise,
                         const randn<T>& rng) {
  auto lambda = [](T sigma) { return std::log((T(1) - sigma) / sigma); };
  tv<T> den(x.size()), den_1, den_2;
  T h = 0, h_1 = 0, h_2 = 0;
  bool has_h1 = false, has_h2 = false;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den);
    if (sigmas[i + 1] == T(0)) {
      x = den;
    } else {
      const T ls = lambda(sigmas[i]), lt = lambda(sigmas[i + 1]);
      h = lt - ls;
      const T h_eta = h * (eta + T(1)), alpha_t = sigmas[i + 1] * std::exp(lt);
      for (std::size_t k = 0; k < x.size(); ++k)
        x[k] = sigmas[i + 1] / sigmas[i] * std::exp(-h * eta) * x[k] + alpha_t * -std::expm1(-h_eta) * den[k];
      if (has_h2) {
        const T r0 = h_1 / h, r1 = h_2 / h;
        const T phi_2 = std::expm1(-h_eta) / h_eta + T(1), phi_3 = phi_2 / h_eta - T(0.5);
        for (std::size_t k = 0; k < x.size(); ++k) {
          const T d1_0 = (den[k] - den_1[k]) / r0, d1_1 = (den_1[k] - den_2[k]) / r1;
          const T d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1), d2 = (d1_0 - d1_1) / (r0 + r1);
          x[k] += (alpha_t * phi_2) * d1 - (alpha_t * phi_3) * d2;
        }
      } else if (has_h1) {
        const T r = h_1 / h, phi_2 = std::expm1(-h_eta) / h_eta + T(1);
        for (std::size_t k = 0; k < x.size(); ++k) x[k] += (alpha_t * phi_2) * ((den[k] - den_1[k]) / r);
      }
      if (eta > T(0) && s_noise > T(0)) {
        const tv<T> z = rng(sigmas[i], sigmas[i + 1]);
        for (std::size_t k = 0; k < x.size(); ++k)
          x[k] += z[k] * sigmas[i + 1] * std::sqrt(-std::expm1(T(-2) * h * eta)) * s_noise;
      }
    }
    den_2 = den_1, den_1 = den;
    h_2 = h_1, h_1 = h;
    has_h2 = has_h1, has_h1 = true;
  }
  return x;
}

}  // namespace flow_rules

namespace {

/// Prints the numbers a test measured when STORK_TEST_VERBOSE is set.
template <class... A>
void report(const char* format, A... a) {
  if (!std::getenv("STORK_TEST_VERBOSE")) return;
  std::printf("stochastic: ");
  std::printf(format, a...);
  std::printf("\n");
}

const gaussian_mixture& blobs() {
  static const gaussian_mixture g = three_blobs();
  return g;
}

/// A recorded noise sequence: draw j is fixed_noise(n, 1000 + j). `source()` replays it to stork (counting
/// the calls), `sampler()` to a transcription.
struct recording {
  std::size_t n;
  std::vector<vec> draws;
  explicit recording(std::size_t size, std::size_t count = 200) : n(size) {
    for (std::size_t j = 0; j < count; ++j) draws.push_back(fixed_noise(n, unsigned(1000 + j)));
  }
  auto source(std::size_t& calls) const {
    return [this, &calls](vec& out) { out = draws.at(calls++); };
  }
  kd_sde::noise_sampler sampler(std::size_t& calls) const {
    return [this, &calls](double, double) { return draws.at(calls++); };
  }
};

/// A noise source that must never be called.
struct no_calls {
  void operator()(vec&) const { FAIL("the noise source was called"); }
};

/// The VE denoiser of the three-blob mixture.
void ve_denoiser(const vec& x, double sigma, vec& out) {
  REQUIRE(sigma > 0.0);  // never called at σ = 0
  blobs().posterior_quantity(gaussian_mixture::quantity::mean, 1.0, sigma, x, out);
}

const auto ve_field = stork::field(ve_denoiser, stork::ve{}, stork::prediction::sample);

vec start(double sigma_max, unsigned seed) {
  vec x = fixed_noise(16, seed);
  for (double& v : x) v *= sigma_max;
  return x;
}

/// The four configurations under test, by name.
template <class F>
void for_each_stochastic(double eta, double s_noise, F&& f) {
  f("euler_ancestral", stork::euler_ancestral{.eta = eta, .s_noise = s_noise});
  f("dpmpp_2m_sde midpoint",
    stork::dpmpp_2m_sde{.eta = eta, .solver = stork::sde_solver::midpoint, .s_noise = s_noise});
  f("dpmpp_2m_sde heun",
    stork::dpmpp_2m_sde{.eta = eta, .solver = stork::sde_solver::heun, .s_noise = s_noise});
  f("dpmpp_3m_sde", stork::dpmpp_3m_sde{.eta = eta, .s_noise = s_noise});
}

/// The transcription of method `m`.
template <class M>
vec transcription(const M& m, const vec& x0, const vec& sigmas, const kd_sde::noise_sampler& noise) {
  const kd_sde::denoiser model = ve_denoiser;
  if constexpr (std::is_same_v<M, stork::euler_ancestral>)
    return kd_sde::sample_euler_ancestral(model, x0, sigmas, m.eta, m.s_noise, noise);
  else if constexpr (std::is_same_v<M, stork::dpmpp_2m_sde>)
    return kd_sde::sample_dpmpp_2m_sde(model, x0, sigmas, m.eta, m.s_noise, noise,
                                       m.solver == stork::sde_solver::heun);
  else
    return kd_sde::sample_dpmpp_3m_sde(model, x0, sigmas, m.eta, m.s_noise, noise);
}

}  // namespace

TEST_CASE(
    "stochastic: euler_ancestral, dpmpp_2m_sde (midpoint, heun) and dpmpp_3m_sde equal k-diffusion's "
    "samplers under one recorded noise sequence",
    "[stochastic][kdiffusion]") {
  const recording rec(16);
  double worst = 0.0;
  auto check = [&](const char* grid_name, const vec& sigmas) {
    const std::size_t n = sigmas.size() - 1;
    for (const double eta : {1.0, 0.5, 1.7}) {
      for (const double s_noise : {1.0, 0.8}) {
        for_each_stochastic(eta, s_noise, [&](const char* name, const auto& m) {
          for (unsigned seed : {1u, 2u}) {
            INFO(grid_name << ", " << n << " steps, " << name << ", eta " << eta << ", s_noise " << s_noise
                           << ", seed " << seed);
            const vec x0 = start(sigmas.front(), seed);
            std::size_t kd_calls = 0, calls = 0;
            const vec ref = transcription(m, x0, sigmas, rec.sampler(kd_calls));
            vec x = x0;
            const stork::stats r = stork::integrate(m, ve_field, x, sigmas, rec.source(calls));
            REQUIRE(r.nfe == n);
            REQUIRE(calls == kd_calls);  // one draw per interval that adds noise, the same draws
            REQUIRE(calls == n - 1);     // every interval but the one ending at σ = 0
            const double d = rel_diff(x, ref);
            worst = std::max(worst, d);
            INFO("max relative difference " << d);
            REQUIRE(d < 1e-12);
            // The engine-owned loop with model<ve> gives the same bits as integrate.
            vec y = x0, out(y.size());
            std::size_t loop_calls = 0;
            auto sch = stork::make_scheduler(
                m, sigmas, y, stork::model<stork::ve>{.process = {}, .prediction = stork::prediction::sample},
                rec.source(loop_calls));
            while (!sch.done()) {
              ve_denoiser(y, sch.time(), out);
              sch.step(out, y);
            }
            REQUIRE(same_bits(y, x));
            REQUIRE(loop_calls == calls);
          }
        });
      }
    }
  };
  check("karras", stork::karras_sigmas(10, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0}));
  check("karras", stork::karras_sigmas(25, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0}));
  check("exponential", stork::exponential_sigmas(15, {.sigma_min = 0.0292, .sigma_max = 14.6146}));
  check("karras EDM", stork::karras_sigmas(18, {.sigma_min = 0.002, .sigma_max = 80.0, .rho = 7.0}));
  check("karras 3 steps", stork::karras_sigmas(3, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0}));
  report("transcriptions: worst max relative difference %.3g", worst);
}

namespace {

/// A grid and a model in each convention (tests/support/conventions.hpp): a VE denoiser on karras σ, a
/// rectified-flow velocity on shifted flow σ (from σ = 1, where λ = −∞), a VP ε model on vp_taus.
vec grid_of(convention c, int steps = 12) {
  switch (c) {
    case convention::ve:
      return stork::karras_sigmas(steps, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0});
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
      return blobs().model_output(stork::vp_linear{}, stork::prediction::epsilon, x, t, out);
  }
}
vec start_of(convention c, unsigned seed = 4) {
  vec x = fixed_noise(16, seed);
  if (c == convention::ve)
    for (double& v : x) v *= 14.6146;
  return x;
}

/// integrate in convention c, with optional arguments (a noise source).
template <class M, class... A>
vec run(const M& m, convention c, const vec& grid, vec x, A&&... a) {
  integrate_in(
      m, c, [c](const vec& y, double t, vec& o) { model_of(c, y, t, o); }, x, grid, std::forward<A>(a)...);
  return x;
}

/// The engine-owned loop in convention c, writing into output_buffer() (zero_copy) or an own buffer.
template <class M, class... A>
vec loop(const M& m, convention c, const vec& grid, vec x, bool zero_copy, A&&... a) {
  vec out(x.size());
  auto go = [&](auto sch) {
    while (!sch.done()) {
      model_of(c, x, sch.time(), zero_copy ? sch.output_buffer() : out);
      zero_copy ? sch.step(x) : sch.step(out, x);
    }
  };
  with_scheduler(m, c, grid, x, go, std::forward<A>(a)...);
  return x;
}

}  // namespace

namespace {

/// The three-blob mixture's flow velocity.
void blobs_velocity(const vec& x, double sigma, vec& v) { blobs().flow_velocity(x, sigma, v); }

/// The flow model of the three-blob mixture as stable-diffusion.cpp's denoiser sees it: D = x − σ·v (in T).
template <class T>
void flow_denoised(const std::vector<T>& x, T sigma, std::vector<T>& d) {
  const vec xd(x.begin(), x.end());
  vec v(x.size());
  blobs().flow_velocity(xd, double(sigma), v);
  for (std::size_t i = 0; i < x.size(); ++i) d[i] = static_cast<T>(v[i]) * (-sigma) + x[i];
}
/// The same velocity for stork, rounded to T.
template <class T>
void flow_velocity_t(const std::vector<T>& x, double sigma, std::vector<T>& v) {
  const vec xd(x.begin(), x.end());
  vec vd(x.size());
  blobs().flow_velocity(xd, sigma, vd);
  std::copy(vd.begin(), vd.end(), v.begin());
}

/// Recorded draws as T, replayed to stork (`source`) and to a transcription (`sampler`), both counting.
template <class T>
struct recording_t {
  std::vector<std::vector<T>> draws;
  recording_t() {
    for (unsigned j = 0; j < 200; ++j) {
      const vec z = fixed_noise(16, 1000 + j);
      draws.emplace_back(z.begin(), z.end());
    }
  }
  auto source(std::size_t& calls) const {
    return [this, &calls](std::vector<T>& out) { out = draws.at(calls++); };
  }
  flow_rules::randn<T> sampler(std::size_t& calls) const {
    return [this, &calls](T, T) { return draws.at(calls++); };
  }
};

template <class A, class B>
double max_rel(const A& a, const B& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i]))));
  return m;
}

}  // namespace

TEST_CASE("stochastic: flow models follow stable-diffusion.cpp's and ComfyUI's flow rules, double",
          "[stochastic][flow][sdcpp]") {
  // stork::rectified_flow (a plain velocity field): euler_ancestral is sd.cpp's sample_euler_ancestral with
  // get_ancestral_step_flow (and ComfyUI's sample_euler_ancestral_RF, which has s_noise, for eta <= 1);
  // dpmpp_2m_sde{.flow = sd_cpp} is sd.cpp's sample_dpmpp_2m_sde on the flow σ; the default dpmpp_2m_sde
  // (midpoint, heun) and dpmpp_3m_sde are ComfyUI's CONST form (compared on grids below σ = 1, where
  // ComfyUI does not move σ₀).
  const recording_t<double> rec;
  const flow_rules::denoiser<double> den = flow_denoised<double>;
  double worst = 0.0;
  auto check = [&](const char* what, const vec& sigmas, const auto& m, const auto& transcription) {
    INFO(what << ", " << sigmas.size() - 1 << " steps from sigma " << sigmas.front());
    const vec x0 = fixed_noise(16, 4);
    std::size_t ref_calls = 0, calls = 0, loop_calls = 0;
    const vec ref = transcription(x0, sigmas, rec.sampler(ref_calls));
    vec x = x0;
    const stork::stats r = stork::integrate(m, blobs_velocity, x, sigmas, rec.source(calls));
    const double d = max_rel(x, ref);
    worst = std::max(worst, d);
    INFO("max relative difference " << d);
    REQUIRE(d < 1e-12);
    REQUIRE(r.nfe == sigmas.size() - 1);
    REQUIRE(calls == ref_calls);
    REQUIRE(calls == sigmas.size() - 2);
    REQUIRE(rel_diff(x, x0) > 0.1);
    vec y = x0, out(16);
    auto sch = stork::make_scheduler(m, sigmas, y, stork::rectified_flow{}, rec.source(loop_calls));
    while (!sch.done()) {
      blobs_velocity(y, sch.time(), out);
      sch.step(out, y);
    }
    REQUIRE(same_bits(y, x));
  };
  for (const int steps : {3, 10, 25}) {
    const vec from_one = stork::flow_sigmas(steps, {.shift = 3.0});
    vec below = stork::flow_sigmas(steps + 1, {.shift = 3.0});
    below.erase(below.begin());
    for (const vec& g : {from_one, below}) {
      for (const double eta : {1.0, 0.5, 1.7}) {
        check("euler_ancestral vs sd.cpp", g, stork::euler_ancestral{.eta = eta},
              [&](const vec& x0, const vec& s, const flow_rules::randn<double>& z) {
                return flow_rules::sdcpp_euler_ancestral(den, x0, s, eta, z);
              });
        check("dpmpp_2m_sde sd_cpp vs sd.cpp", g,
              stork::dpmpp_2m_sde{.eta = eta, .flow = stork::flow_rule::sd_cpp},
              [&](const vec& x0, const vec& s, const flow_rules::randn<double>& z) {
                return flow_rules::sdcpp_dpmpp_2m_sde(den, x0, s, eta, z);
              });
      }
      for (const double eta : {1.0, 0.5})
        check("euler_ancestral vs ComfyUI RF", g, stork::euler_ancestral{.eta = eta, .s_noise = 0.8},
              [&](const vec& x0, const vec& s, const flow_rules::randn<double>& z) {
                return flow_rules::comfy_euler_ancestral_rf(den, x0, s, eta, 0.8, z);
              });
    }
    for (const double eta : {1.0, 0.5}) {
      for (const double s_noise : {1.0, 0.8}) {
        for (const bool heun : {false, true})
          check("dpmpp_2m_sde vs ComfyUI CONST", below,
                stork::dpmpp_2m_sde{.eta = eta,
                                    .solver = heun ? stork::sde_solver::heun : stork::sde_solver::midpoint,
                                    .s_noise = s_noise},
                [&](const vec& x0, const vec& s, const flow_rules::randn<double>& z) {
                  return flow_rules::comfy_dpmpp_2m_sde(den, x0, s, eta, s_noise, heun, z);
                });
        check("dpmpp_3m_sde vs ComfyUI CONST", below, stork::dpmpp_3m_sde{.eta = eta, .s_noise = s_noise},
              [&](const vec& x0, const vec& s, const flow_rules::randn<double>& z) {
                return flow_rules::comfy_dpmpp_3m_sde(den, x0, s, eta, s_noise, z);
              });
      }
    }
  }
  report("flow transcriptions: worst max relative difference %.3g", worst);
}

TEST_CASE("stochastic: flow rules on float states follow sd.cpp's float computation to float round-off",
          "[stochastic][flow][sdcpp][float32]") {
  // sd.cpp computes in float (sigmas, coefficients, tensors); stork rounds its double coefficients to float
  // once and combines in float. Bound: 2e-5 plus four times the transcription's own float error (its float
  // run against the same run in double on the same float sigmas and draws), which is what float rounding
  // of the defining formula costs where it is ill-conditioned.
  const recording_t<float> rec;
  double worst = 0.0;
  for (const int steps : {10, 25}) {
    vec sigmas;
    for (const double sg : stork::flow_sigmas(steps, {.shift = 3.0})) sigmas.push_back(double(float(sg)));
    const std::vector<float> sf(sigmas.begin(), sigmas.end());
    const vec x0d = fixed_noise(16, 4);
    const std::vector<float> x0(x0d.begin(), x0d.end());
    const vec x0w(x0.begin(), x0.end());
    for (const double eta : {1.0, 0.5}) {
      auto compare = [&](const char* what, const auto& m, const auto& transcribe) {
        std::size_t a = 0, b = 0, k = 0;
        const std::vector<float> ref =
            transcribe(flow_rules::denoiser<float>(flow_denoised<float>), x0, sf, float(eta), rec.sampler(a));
        flow_rules::randn<double> wide = [&](double, double) {
          const std::vector<float>& z = rec.draws.at(k++);
          return vec(z.begin(), z.end());
        };
        const vec ref_d =
            transcribe(flow_rules::denoiser<double>(flow_denoised<double>), x0w, sigmas, eta, wide);
        std::vector<float> x = x0;
        stork::integrate(m, flow_velocity_t<float>, x, sigmas, rec.source(b));
        const double d = max_rel(x, ref), bound = 2e-5 + 4.0 * max_rel(ref, ref_d);
        worst = std::max(worst, d);
        INFO(what << ", " << steps << " steps, eta " << eta << ": " << d << ", bound " << bound);
        REQUIRE(d < bound);
        REQUIRE(a == b);
      };
      compare("euler_ancestral", stork::euler_ancestral{.eta = eta},
              [](const auto& den, const auto& x, const auto& s, auto e, const auto& z) {
                return flow_rules::sdcpp_euler_ancestral(den, x, s, e, z);
              });
      compare("dpmpp_2m_sde sd_cpp", stork::dpmpp_2m_sde{.eta = eta, .flow = stork::flow_rule::sd_cpp},
              [](const auto& den, const auto& x, const auto& s, auto e, const auto& z) {
                return flow_rules::sdcpp_dpmpp_2m_sde(den, x, s, e, z);
              });
    }
  }
  report("flow transcriptions, float: worst %.3g", worst);
}

TEST_CASE("stochastic: eta = 0 is the deterministic method bit for bit, and never calls the noise source",
          "[stochastic][eta0]") {
  for (const convention c : {convention::ve, convention::flow, convention::vp}) {
    for (const int steps : {1, 2, 5, 12}) {
      if (c == convention::vp && steps < 2) continue;  // vp_taus needs two steps
      INFO(name_of(c) << ", " << steps << " steps");
      const vec grid = grid_of(c, steps), x0 = start_of(c);
      // DPM-Solver++(2M) SDE with the midpoint correction is dpmpp_2m, in every convention.
      const vec a = run(stork::dpmpp_2m{}, c, grid, x0);
      REQUIRE(same_bits(run(stork::dpmpp_2m_sde{.eta = 0.0}, c, grid, x0, no_calls{}), a));
      REQUIRE(same_bits(loop(stork::dpmpp_2m_sde{.eta = 0.0}, c, grid, x0, true, no_calls{}), a));
      // s_noise has no effect without eta.
      REQUIRE(same_bits(run(stork::dpmpp_2m_sde{.eta = 0.0, .s_noise = 3.0}, c, grid, x0, no_calls{}), a));
      // Euler ancestral is DDIM, which in VE and flow time is Euler.
      const vec e = run(stork::euler{}, c, grid, x0);
      const vec ea = run(stork::euler_ancestral{.eta = 0.0}, c, grid, x0, no_calls{});
      if (c != convention::vp) {
        REQUIRE(same_bits(ea, e));
        REQUIRE(same_bits(loop(stork::euler_ancestral{.eta = 0.0}, c, grid, x0, false, no_calls{}), e));
      }
      // The others: no noise is drawn with eta = 0 (or s_noise = 0).
      run(stork::dpmpp_2m_sde{.eta = 0.0, .solver = stork::sde_solver::heun}, c, grid, x0, no_calls{});
      run(stork::dpmpp_3m_sde{.eta = 0.0}, c, grid, x0, no_calls{});
      run(stork::euler_ancestral{.eta = 1.0, .s_noise = 0.0}, c, grid, x0, no_calls{});
      run(stork::dpmpp_3m_sde{.eta = 1.0, .s_noise = 0.0}, c, grid, x0, no_calls{});
    }
  }
}

TEST_CASE("stochastic: in VP tau, euler_ancestral with eta = 0 is DDIM, not Euler in tau",
          "[stochastic][eta0]") {
  const stork::vp_linear vp{};
  const vec taus = grid_of(convention::vp, 10), x0 = start_of(convention::vp);
  // DDIM in plain loops: x ← (σ_{n+1}/σ_n)·x + (α_{n+1} − α_n·σ_{n+1}/σ_n)·x̂₀, x̂₀ = (x − σ_n·ε̂)/α_n.
  vec x = x0, eps(x.size());
  for (std::size_t n = 0; n + 1 < taus.size(); ++n) {
    model_of(convention::vp, x, taus[n], eps);
    const double a0 = vp.alpha(taus[n]), s0 = vp.sigma(taus[n]), a1 = vp.alpha(taus[n + 1]),
                 s1 = vp.sigma(taus[n + 1]);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double x0hat = (x[i] - s0 * eps[i]) / a0;
      x[i] = s1 / s0 * x[i] + (a1 - a0 * s1 / s0) * x0hat;
    }
  }
  const vec ea = run(stork::euler_ancestral{.eta = 0.0}, convention::vp, taus, x0, no_calls{});
  const double d = rel_diff(ea, x), to_euler = rel_diff(ea, run(stork::euler{}, convention::vp, taus, x0));
  report("VP eta = 0: euler_ancestral vs DDIM %.3g, vs Euler in tau %.3g", d, to_euler);
  REQUIRE(d < 1e-12);
  REQUIRE(to_euler > 1e-3);  // Euler in τ is another method
}

TEST_CASE(
    "stochastic: a VP model, and a flow model under ComfyUI's rule (the DPM++ SDEs), sampled in its own "
    "coordinates is the VE run of the equivalent model under the same noise",
    "[stochastic][ve]") {
  // x_VE = x/α, σ_VE = σ/α: the VE denoiser of the mixture at (x_VE, σ_VE) is the posterior mean of x₀ under
  // (α, σ) at x. Both runs draw the same recorded noise; at the end x = α·x_VE to round-off.
  const recording rec(16);
  double worst = 0.0;
  auto compare = [&](const char* what, const auto& process, stork::prediction p, const vec& grid) {
    vec sigmas(grid.size());
    for (std::size_t i = 0; i < grid.size(); ++i) sigmas[i] = process.sigma(grid[i]) / process.alpha(grid[i]);
    const vec x0 = start_of(convention::vp, 7);
    vec x0_ve = x0;
    for (double& v : x0_ve) v /= process.alpha(grid.front());
    auto model = [&](const vec& y, double t, vec& o) { blobs().model_output(process, p, y, t, o); };
    for (const double eta : {0.0, 1.0, 0.6}) {
      for_each_stochastic(eta, 1.0, [&](const char* name, const auto& m) {
        // Flow: Euler ancestral follows stable-diffusion.cpp's own flow rule (tested below against it).
        if (std::is_same_v<std::decay_t<decltype(process)>, stork::rectified_flow> &&
            std::is_same_v<std::decay_t<decltype(m)>, stork::euler_ancestral> && eta > 0.0)
          return;
        INFO(what << ", " << name << ", eta " << eta);
        std::size_t calls = 0, ve_calls = 0;
        vec x = x0, x_ve = x0_ve;
        stork::integrate(m, stork::field(model, process, p), x, grid, rec.source(calls));
        stork::integrate(m, ve_field, x_ve, sigmas, rec.source(ve_calls));
        REQUIRE(calls == ve_calls);
        for (double& v : x_ve) v *= process.alpha(grid.back());
        const double d = rel_diff(x, x_ve);
        worst = std::max(worst, d);
        INFO("max relative difference " << d);
        REQUIRE(d < 1e-12);
        REQUIRE(rel_diff(x, x0) > 0.1);  // the samples moved
      });
    }
  };
  const vec taus = stork::vp_taus(15);
  compare("VP linear, epsilon", stork::vp_linear{}, stork::prediction::epsilon, taus);
  compare("VP linear, v", stork::vp_linear{}, stork::prediction::v, taus);
  compare("VP scaled linear, sample", stork::vp_scaled_linear{}, stork::prediction::sample, taus);
  vec flow = stork::flow_sigmas(15, {.shift = 3.0});
  flow.erase(flow.begin());  // σ_VE is infinite at σ = 1
  compare("flow, velocity", stork::rectified_flow{}, stork::prediction::velocity, flow);
  compare("flow, epsilon", stork::rectified_flow{}, stork::prediction::epsilon, flow);
  report("VP/flow vs VE: worst max relative difference %.3g", worst);
}

TEST_CASE("stochastic: a flow grid from sigma = 1 (lambda = -inf): the first step of each flow rule",
          "[stochastic][flow]") {
  // At σ = 1 the state is pure noise. Under ComfyUI's rule (the 2M/3M SDE) the first step forgets it
  // entirely for eta >= 1: x₁ = α₁·D₀ + σ₁·z. Under stable-diffusion.cpp's (Euler ancestral) it keeps a part:
  // σ_down = σ₁², a = (1 − σ₁)/(1 − σ_down), x₁ = a·(σ_down·x₀ + (1 − σ_down)·D₀) + σ₁·√(1 − (a·σ₁)²)·z.
  const vec grid = stork::flow_sigmas(8, {.shift = 3.0});
  const vec x0 = start_of(convention::flow);
  const recording rec(16);
  for_each_stochastic(1.0, 1.0, [&](const char* name, const auto& m) {
    INFO(name);
    std::size_t calls = 0;
    vec x = x0, v(16);
    auto sch = stork::make_scheduler(m, grid, x, rec.source(calls));
    blobs().flow_velocity(x, sch.time(), v);
    sch.step(v, x);
    vec expected(16);
    const double s1 = grid[1];
    const bool ancestral = std::is_same_v<std::decay_t<decltype(m)>, stork::euler_ancestral>;
    const double down = s1 * s1, a = (1 - s1) / (1 - down), up = s1 * std::sqrt(1 - a * s1 * a * s1);
    for (std::size_t i = 0; i < 16; ++i)
      expected[i] = ancestral ? a * (down * x0[i] + (1 - down) * (x0[i] - v[i])) + up * rec.draws[0][i]
                              : (1 - s1) * (x0[i] - v[i]) + s1 * rec.draws[0][i];
    REQUIRE(calls == 1);
    REQUIRE(rel_diff(x, expected) < 1e-14);
    while (!sch.done()) {
      blobs().flow_velocity(x, sch.time(), v);
      sch.step(v, x);
    }
    for (const double xi : x) REQUIRE(std::isfinite(xi));
    REQUIRE(calls == grid.size() - 2);
  });
}

namespace {

/// Data N(μ, s²) in one dimension, a batch of independent points stored one after another: the exact VE
/// denoiser D(x, σ) = μ + s²/(s² + σ²)·(x − μ) and the exact rectified-flow velocity.
constexpr double data_mu = 1.0, data_s = 0.5;
void gaussian_denoiser(const vec& x, double sigma, vec& out) {
  const double g = data_s * data_s / (data_s * data_s + sigma * sigma);
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = data_mu + g * (x[i] - data_mu);
}
void gaussian_velocity(const vec& x, double sigma, vec& v) {  // v = (x − E[x₀|x])/σ, x = (1 − σ)x₀ + σε
  const double a = 1.0 - sigma, g = a * data_s * data_s / (a * a * data_s * data_s + sigma * sigma);
  for (std::size_t i = 0; i < x.size(); ++i) v[i] = (x[i] - (data_mu + g * (x[i] - a * data_mu))) / sigma;
}

/// EDM's Karras grid: σ_min = 0.002 keeps the final denoise's shrinkage s²/(s² + σ_min²) below 2e-5.
vec edm_grid(int steps) {
  return stork::karras_sigmas(steps, {.sigma_min = 0.002, .sigma_max = 80.0, .rho = 7.0});
}

/// The exact variance of a sampler's output on the Gaussian, without sampling: with a linear denoiser the
/// output is affine in the start and the draws, x_N − μ = a·(x_0 − μ) + Σ_i b_i·z_i, so one run on a
/// batch of probes gives every coefficient: point 0 starts at μ + 1 and draws nothing, point i starts at μ
/// and draws 1 at call i only. Var = a²·(s² + σ_max²) + Σ b_i² for x_0 ~ N(μ, s² + σ_max²) (the exact
/// marginal at σ_max); the mean is μ exactly.
template <class M>
double exact_variance(const M& m, const vec& sigmas) {
  const std::size_t probes = sigmas.size();  // at most one draw per interval
  vec x(probes, data_mu);
  x[0] += 1.0;
  std::size_t call = 0;
  auto unit_draw = [&](vec& z) {
    std::fill(z.begin(), z.end(), 0.0);
    z.at(++call) = 1.0;
  };
  stork::integrate(m, stork::field(gaussian_denoiser, stork::ve{}), x, sigmas, unit_draw);
  double var = (x[0] - data_mu) * (x[0] - data_mu) * (data_s * data_s + sigmas[0] * sigmas[0]);
  for (std::size_t i = 1; i < probes; ++i) var += (x[i] - data_mu) * (x[i] - data_mu);
  return var;
}

struct moments {
  double mean, var;
};
moments moments_of(const vec& x) {
  double m = 0, v = 0;
  for (const double xi : x) m += xi;
  m /= double(x.size());
  for (const double xi : x) v += (xi - m) * (xi - m);
  return {m, v / double(x.size() - 1)};
}

}  // namespace

TEST_CASE(
    "stochastic: the exact output variance on a Gaussian converges to the data's as the grid is refined",
    "[stochastic][distribution]") {
  // Weak convergence without sampling error (exact_variance): |Var − s²| shrinks at every doubling of the
  // steps from 16 on, and is small on a fine grid. Euler ancestral is first order with a large constant.
  const double s2 = data_s * data_s;
  for_each_stochastic(1.0, 1.0, [&](const char* name, const auto& m) {
    INFO(name);
    double previous = 1e300;
    std::string line;
    for (const int steps : {16, 32, 64, 128, 256, 1024}) {
      const double err = std::abs(exact_variance(m, edm_grid(steps)) / s2 - 1.0);
      line += " " + std::to_string(steps) + ": " + std::to_string(err);
      INFO(steps << " steps: relative variance error " << err);
      REQUIRE(err < previous);
      previous = err;
    }
    report("%s exact |Var/s^2 - 1| at steps%s", name, line.c_str());
    const bool ancestral = std::string(name) == "euler_ancestral";
    REQUIRE(previous < (ancestral ? 0.015 : 1e-3));  // at 1024 steps
  });
  // The probes are right: a sampler that adds noise needs one probe per draw, and the probe variance of
  // the ODE limit (eta = 0: only the start contributes) is the exact flow map's, s².
  const double ode = exact_variance(stork::dpmpp_2m_sde{.eta = 0.0}, edm_grid(256));
  REQUIRE(std::abs(ode / s2 - 1.0) < 1e-3);
}

namespace {

/// The exact mean and variance of a sampler's output on the flow Gaussian N(μ, s²) from x = ε at σ = 1,
/// without sampling: the run is affine in the start and the draws, x_N = c + a·x₀ + Σ_i b_i·z_i, so one run
/// on a batch of probes gives every coefficient: probe 0 starts at 0 and draws 0 (c), probe 1 starts at 1
/// (c + a), probe i + 2 draws 1 at call i only (c + b_i). Mean c, variance a² + Σ b_i² (x₀ ~ N(0, 1)).
/// `run(x, draw)` integrates the batch x, calling draw(z) for each draw.
template <class Run>
moments exact_flow_moments(std::size_t steps, Run&& run) {
  vec x(steps + 2, 0.0);
  x[1] = 1.0;
  std::size_t call = 0;
  auto draw = [&](vec& z) {
    std::fill(z.begin(), z.end(), 0.0);
    z.at(2 + call++) = 1.0;
  };
  run(x, draw);
  double var = (x[1] - x[0]) * (x[1] - x[0]);
  for (std::size_t i = 2; i < x.size(); ++i) var += (x[i] - x[0]) * (x[i] - x[0]);
  return {x[0], var};
}

/// Euler ancestral for flow as earlier versions ran it, in the VE coordinates x/α, σ/α (λ = log((1 − σ)/σ)):
/// u = min(1, η·√(1 − e^{−2h})), w = √(1 − u²), x ← w·(σ_{n+1}/σ_n)·x + α_{n+1}(1 − w·e^{−h})·D +
/// σ_{n+1}·u·z; x = D on the interval ending at σ = 0.
template <class Draw>
void euler_ancestral_ve_coordinates(vec& x, const vec& sigmas, Draw& draw) {
  vec v(x.size()), z(x.size());
  for (std::size_t n = 0; n + 1 < sigmas.size(); ++n) {
    const double s0 = sigmas[n], s1 = sigmas[n + 1];
    gaussian_velocity(x, s0, v);
    if (s1 == 0.0) {
      for (std::size_t i = 0; i < x.size(); ++i) x[i] -= s0 * v[i];
      continue;
    }
    const double l0 = s0 < 1.0 ? std::log((1 - s0) / s0) : -std::numeric_limits<double>::infinity();
    const double h = std::log((1 - s1) / s1) - l0;
    const double u = std::min(1.0, std::sqrt(-std::expm1(-2.0 * h))), w = std::sqrt(1.0 - u * u);
    draw(z);
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] = w * (s1 / s0) * x[i] + (1 - s1) * (1 - w * std::exp(-h)) * (x[i] - s0 * v[i]) + s1 * u * z[i];
  }
}

}  // namespace

TEST_CASE(
    "stochastic: flow_rule, measured on a flow Gaussian: sd.cpp's 2M SDE rule is biased, Euler a's is not",
    "[stochastic][flow][distribution]") {
  // Data N(1, ½²), rectified flow from σ = 1 on flow_sigmas(shift 3), the exact output mean and variance.
  // dpmpp_2m_sde with flow_rule::sd_cpp (stable-diffusion.cpp's VE formula on the flow σ) converges to a
  // wrong distribution (mean about 1.78, variance about twice the data's); ComfyUI's rule (the default)
  // converges to the data's. Euler ancestral: sd.cpp's flow rule (now the only one) and the VE-coordinates
  // form of earlier versions are equally good, which is why the latter is gone.
  const double s2 = data_s * data_s;
  std::string line;
  for (const int steps : {16, 64, 256, 1024}) {
    const vec sigmas = stork::flow_sigmas(steps, {.shift = 3.0});
    auto stork_run = [&](const auto& m) {
      return exact_flow_moments(sigmas.size(), [&](vec& x, auto& draw) {
        stork::integrate(m, gaussian_velocity, x, sigmas, std::ref(draw));
      });
    };
    const moments log_snr = stork_run(stork::dpmpp_2m_sde{});
    const moments sd_cpp = stork_run(stork::dpmpp_2m_sde{.flow = stork::flow_rule::sd_cpp});
    const moments ancestral = stork_run(stork::euler_ancestral{});
    const moments old = exact_flow_moments(
        sigmas.size(), [&](vec& x, auto& draw) { euler_ancestral_ve_coordinates(x, sigmas, draw); });
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "\n  %4d steps: 2M SDE log_snr mean %.4f var err %+.4f | sd_cpp mean %.4f var err %+.4f | "
                  "euler_a sd.cpp var err %+.4f, VE coordinates %+.4f",
                  steps, log_snr.mean, log_snr.var / s2 - 1, sd_cpp.mean, sd_cpp.var / s2 - 1,
                  ancestral.var / s2 - 1, old.var / s2 - 1);
    line += buf;
    REQUIRE(std::abs(ancestral.mean - data_mu) < 1e-12);  // both Euler a forms keep the mean exactly
    REQUIRE(std::abs(old.mean - data_mu) < 1e-12);
    REQUIRE(std::abs(log_snr.mean - data_mu) < 1e-12);
    if (steps == 1024) {
      REQUIRE(std::abs(log_snr.var / s2 - 1) < 2e-3);
      REQUIRE(sd_cpp.mean > 1.7);  // biased, and not converging
      REQUIRE(std::abs(sd_cpp.var / s2 - 1) > 0.9);
      REQUIRE(std::abs(ancestral.var / s2 - 1) < 0.02);  // first order, as in VE
      REQUIRE(std::abs(ancestral.var / s2 - 1) <= std::abs(old.var / s2 - 1) + 1e-4);
    }
  }
  report("flow Gaussian, exact moments:%s", line.c_str());
}

TEST_CASE("stochastic: 10^4 samples from a Gaussian's exact denoiser have its mean and variance",
          "[stochastic][distribution]") {
  // x_0 from the exact marginal at σ_max, the noise from stork::normal_noise. With N = 10⁴ independent
  // samples the sample mean has standard error s/√N and the sample variance s²·√(2/(N − 1)); the bounds
  // are 4.5 standard errors (a correct sampler fails them with probability below 1e-5), and the
  // discretisation bias on these grids is below 0.02 relative (the exact-variance test) — a fifth of the
  // variance bound for Euler ancestral on 1000 steps, under 1/50 for the others on 256.
  const std::size_t n = 10000;
  const double mean_tol = 4.5 * data_s / std::sqrt(double(n)),
               var_tol = 4.5 * data_s * data_s * std::sqrt(2.0 / double(n - 1));
  auto check = [&](const char* what, const vec& x, double mu, double var) {
    const moments mo = moments_of(x);
    report("%-32s mean %.4f (truth %.4f, tol %.4f)  var %.4f (truth %.4f, tol %.4f)", what, mo.mean, mu,
           mean_tol, mo.var, var, var_tol);
    INFO(what << ": mean " << mo.mean << ", variance " << mo.var);
    REQUIRE(std::abs(mo.mean - mu) < mean_tol);
    REQUIRE(std::abs(mo.var - var) < var_tol);
  };
  for_each_stochastic(1.0, 1.0, [&](const char* name, const auto& m) {
    const bool ancestral = std::string(name) == "euler_ancestral";
    // VE (k-diffusion's setting).
    const vec sigmas = edm_grid(ancestral ? 1000 : 256);
    vec x(n);
    stork::normal_noise start{1};
    start(x);
    for (double& v : x) v = data_mu + std::sqrt(data_s * data_s + sigmas[0] * sigmas[0]) * v;
    stork::integrate(m, stork::field(gaussian_denoiser, stork::ve{}), x, sigmas, stork::normal_noise{2});
    check((std::string(name) + ", VE").c_str(), x, data_mu, data_s * data_s);
    // Rectified flow from σ = 1, where x = ε exactly.
    vec y(n);
    stork::normal_noise{3}(y);
    stork::integrate(m, gaussian_velocity, y, stork::flow_sigmas(ancestral ? 1000 : 256, {.shift = 3.0}),
                     stork::normal_noise{4});
    check((std::string(name) + ", flow").c_str(), y, data_mu, data_s * data_s);
  });
}

TEST_CASE("stochastic: the noise source is called once per interval that adds noise, in grid order",
          "[stochastic][noise]") {
  for (const convention c : {convention::ve, convention::flow, convention::vp}) {
    for_each_stochastic(0.8, 1.0, [&](const char* name, const auto& m) {
      INFO(name_of(c) << ", " << name);
      const vec grid = grid_of(c, 9);
      const bool ends_at_data = grid.back() == 0.0;
      std::size_t calls = 0;
      std::vector<std::size_t> seen;  // the interval of each call
      vec x = start_of(c), out(x.size());
      auto body = [&](auto sch) {
        while (!sch.done()) {
          const std::size_t n = sch.interval(), before = calls;
          model_of(c, x, sch.time(), out);
          sch.step(out, x);
          const bool last = n + 2 == grid.size();
          REQUIRE(calls == before + (last && ends_at_data ? 0 : 1));
          if (calls > before) seen.push_back(n);
        }
      };
      auto source = [&](vec& z) {
        ++calls;
        stork::normal_noise{calls}(z);
      };
      with_scheduler(m, c, grid, x, body, source);
      for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == i);
      REQUIRE(seen.size() == grid.size() - (ends_at_data ? 2 : 1));
    });
  }
}

TEST_CASE(
    "stochastic: a bad draw or the source's own exception leaves x, the scheduler and the output buffer "
    "as they were",
    "[stochastic][noise][error]") {
  // The draw comes first: a resized, NaN or Inf draw throws stork::error, the source's own exception passes
  // through, and in both cases x, time(), nfe() and the zero-copy output buffer (the history slot the data
  // prediction is written into) are unchanged, so the step can be retried; the run then ends exactly where
  // an undisturbed run ends.
  struct source_failure {};
  for (const convention c : {convention::ve, convention::flow, convention::vp}) {
    for_each_stochastic(1.0, 1.0, [&](const char* name, const auto& m) {
      const vec grid = grid_of(c, 8);
      const vec expected = run(m, c, grid, start_of(c), stork::normal_noise{5});
      for (const int kind : {0, 1, 2, 3}) {  // resize, NaN, Inf, the source throws
        INFO(name_of(c) << ", " << name << ", kind " << kind);
        bool poison = false;
        stork::normal_noise rng{5};
        auto source = [&](vec& z) {
          if (!poison) return rng(z);
          poison = false;
          if (kind == 0) z.resize(z.size() + 1);
          if (kind == 1) z[3] = std::numeric_limits<double>::quiet_NaN();
          if (kind == 2) z[0] = -std::numeric_limits<double>::infinity();
          if (kind == 3) throw source_failure{};
        };
        vec x = start_of(c);
        auto body = [&](auto sch) {
          while (!sch.done()) {
            model_of(c, x, sch.time(), sch.output_buffer());
            if (sch.nfe() == 3) {
              poison = true;
              const vec x_before = x, out_before = sch.output_buffer();
              const double t = sch.time();
              if (kind == 3)
                REQUIRE_THROWS_AS(sch.step(x), source_failure);
              else
                REQUIRE_THROWS_AS(sch.step(x), stork::error);
              REQUIRE(same_bits(x, x_before));
              REQUIRE(same_bits(sch.output_buffer(), out_before));
              REQUIRE(sch.time() == t);
              REQUIRE(sch.nfe() == 3);
            }
            sch.step(x);
          }
        };
        with_scheduler(m, c, grid, x, body, std::ref(source));
        REQUIRE(same_bits(x, expected));
      }
    });
  }
  // The messages.
  vec x = start_of(convention::ve);
  const vec before = x;
  auto resize = [](vec& z) { z.resize(2); };
  auto nan = [](vec& z) { std::fill(z.begin(), z.end(), std::numeric_limits<double>::quiet_NaN()); };
  REQUIRE_THROWS_WITH(stork::integrate(stork::dpmpp_2m_sde{}, ve_field, x, grid_of(convention::ve), resize),
                      Catch::Contains("noise source: output size = 2") && Catch::Contains("expected 16"));
  REQUIRE_THROWS_WITH(stork::integrate(stork::euler_ancestral{}, ve_field, x, grid_of(convention::ve), nan),
                      Catch::Contains("noise source: the draw contains NaN or Inf"));
  REQUIRE(same_bits(x, before));
  // check_finite = false lets a non-finite draw through (the caller's choice).
  stork::integrate(stork::euler_ancestral{}, ve_field, x, grid_of(convention::ve), nan,
                   stork::sampler_options{.check_finite = false});
  REQUIRE(std::isnan(x[0]));
}

TEST_CASE(
    "stochastic: the engine loop (own buffer or zero-copy) equals integrate bit for bit, reruns are "
    "identical, and Eigen states give the same bits",
    "[stochastic][engine][determinism]") {
  for (const convention c : {convention::ve, convention::flow, convention::vp}) {
    for_each_stochastic(1.0, 1.0, [&](const char* name, const auto& m) {
      INFO(name_of(c) << ", " << name);
      const vec grid = grid_of(c, 10), x0 = start_of(c);
      const vec a = run(m, c, grid, x0, stork::normal_noise{9});
      REQUIRE(same_bits(run(m, c, grid, x0, stork::normal_noise{9}), a));
      REQUIRE(same_bits(loop(m, c, grid, x0, false, stork::normal_noise{9}), a));
      REQUIRE(same_bits(loop(m, c, grid, x0, true, stork::normal_noise{9}), a));
      REQUIRE_FALSE(same_bits(run(m, c, grid, x0, stork::normal_noise{10}), a));  // the noise matters
      // The same on Eigen::VectorXd, with the same noise source.
      Eigen::VectorXd e = Eigen::Map<const Eigen::VectorXd>(x0.data(), Eigen::Index(x0.size()));
      auto model = [c](const Eigen::VectorXd& y, double t, Eigen::VectorXd& o) {
        const vec yv(y.data(), y.data() + y.size());
        vec ov(yv.size());
        model_of(c, yv, t, ov);
        o = Eigen::Map<const Eigen::VectorXd>(ov.data(), o.size());
      };
      if (c == convention::ve)
        stork::integrate(m, stork::field(model, stork::ve{}), e, grid, stork::normal_noise{9});
      else if (c == convention::vp)
        stork::integrate(m, stork::field(model, stork::vp_linear{}), e, grid, stork::normal_noise{9});
      else
        stork::integrate(m, model, e, grid, stork::normal_noise{9});
      REQUIRE(std::memcmp(e.data(), a.data(), a.size() * sizeof(double)) == 0);
    });
  }
}

TEST_CASE("stochastic: no heap allocation while stepping, every method, convention and path",
          "[stochastic][alloc]") {
  for (const convention c : {convention::ve, convention::flow, convention::vp}) {
    for (const double eta : {0.0, 1.0}) {
      for_each_stochastic(eta, 1.0, [&](const char* name, const auto& m) {
        INFO(name_of(c) << ", " << name << ", eta " << eta);
        for (const bool zero_copy : {false, true}) {
          vec x = fixed_noise(64, 4), out(64);
          if (c == convention::ve)
            for (double& v : x) v *= 14.6;
          auto body = [&](auto sch) {
            while (!sch.done()) {
              model_of(c, x, sch.time(),
                       zero_copy ? sch.output_buffer() : out);  // (the closed form allocates)
              const std::size_t mark = allocation_count();
              zero_copy ? sch.step(x) : sch.step(out, x);
              REQUIRE(allocation_count() == mark);
            }
          };
          const vec grid = grid_of(c, 8);
          with_scheduler(m, c, grid, x, body, stork::normal_noise{1});
        }
      });
    }
  }
}

TEST_CASE("noise: normal_noise is a reproducible stream of standard-normal draws", "[stochastic][noise]") {
  // Moments of 10⁵ draws: mean within 4.5/√n, variance within 4.5·√(2/n), fourth moment near 3.
  const std::size_t n = 100000;
  vec z(n);
  stork::normal_noise{123}(z);
  const moments mo = moments_of(z);
  double m4 = 0;
  for (const double v : z) m4 += v * v * v * v;
  m4 /= double(n);
  report("normal_noise: mean %.4f, variance %.4f, fourth moment %.3f over %zu draws", mo.mean, mo.var, m4, n);
  REQUIRE(std::abs(mo.mean) < 4.5 / std::sqrt(double(n)));
  REQUIRE(std::abs(mo.var - 1.0) < 4.5 * std::sqrt(2.0 / double(n)));
  REQUIRE(std::abs(m4 - 3.0) < 4.5 * std::sqrt(96.0 / double(n)));  // Var(z⁴) = 105 − 9
  // The same seed gives the same stream whatever the sizes it is split into; another seed another stream.
  vec a(8), b(3), c(5);
  stork::normal_noise s1{7}, s2{7};
  s1(a), s2(b), s2(c);
  for (std::size_t i = 0; i < 3; ++i) REQUIRE(a[i] == b[i]);
  for (std::size_t i = 0; i < 5; ++i) REQUIRE(a[3 + i] == c[i]);
  vec other(8);
  stork::normal_noise{8}(other);
  REQUIRE(other != a);
  // float states get the double draws rounded; Eigen states the same draws as std::vector.
  std::vector<float> f(8);
  stork::normal_noise{7}(f);
  for (std::size_t i = 0; i < 8; ++i) REQUIRE(f[i] == static_cast<float>(a[i]));
  Eigen::VectorXd e(8);
  stork::normal_noise{7}(e);
  for (Eigen::Index i = 0; i < 8; ++i) REQUIRE(e[i] == a[std::size_t(i)]);
  // The samplers hold a copy of the source; std::ref shares one stream across runs.
  stork::normal_noise shared{7};
  const vec sigmas = grid_of(convention::ve, 6);
  vec x1 = start_of(convention::ve), x2 = x1, x3 = x1;
  stork::integrate(stork::euler_ancestral{}, ve_field, x1, sigmas, shared);
  stork::integrate(stork::euler_ancestral{}, ve_field, x2, sigmas, shared);
  REQUIRE(same_bits(x1, x2));  // `shared` itself did not move
  stork::integrate(stork::euler_ancestral{}, ve_field, x3, sigmas, std::ref(shared));
  REQUIRE(same_bits(x3, x1));
  vec x4 = start_of(convention::ve);
  stork::integrate(stork::euler_ancestral{}, ve_field, x4, sigmas, std::ref(shared));
  REQUIRE_FALSE(same_bits(x4, x1));  // the stream went on
}

TEST_CASE("stochastic: float states follow the double run to float precision", "[stochastic][float32]") {
  // The same start and the same draws (normal_noise rounds its double draws to float).
  const vec sigmas = grid_of(convention::ve, 12), x0 = start_of(convention::ve);
  for_each_stochastic(1.0, 1.0, [&](const char* name, const auto& m) {
    INFO(name);
    vec x = x0;
    std::vector<float> xf(x0.begin(), x0.end());
    stork::integrate(m, ve_field, x, sigmas, stork::normal_noise{6});
    auto den_f = [](const std::vector<float>& y, double sigma, std::vector<float>& out) {
      const vec yd(y.begin(), y.end());
      vec od(yd.size());
      blobs().posterior_quantity(gaussian_mixture::quantity::mean, 1.0, sigma, yd, od);
      for (std::size_t i = 0; i < od.size(); ++i) out[i] = static_cast<float>(od[i]);
    };
    stork::integrate(m, stork::field(den_f, stork::ve{}), xf, sigmas, stork::normal_noise{6});
    const vec back(xf.begin(), xf.end());
    const double d = rel_diff(back, x);
    INFO("max relative difference float vs double " << d);
    REQUIRE(d < 1e-4);
  });
}
