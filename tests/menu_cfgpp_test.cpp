// Tests of the CFG++ samplers (<stork/methods/euler_cfg_pp.hpp>), gradient estimation
// (<stork/methods/euler_ge.hpp>), the Brownian tree (<stork/brownian_tree_noise.hpp>) and
// dpmpp_2m_sde_bt: parity with transcriptions of stable-diffusion.cpp's sample_euler_cfg_pp,
// sample_euler_ancestral_cfg_pp, sample_gradient_estimation, BrownianTreeNoiseSampler and
// sample_dpmpp_2m_sde_bt (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp, commit 97d2990807fe) and
// of ComfyUI's sample_euler_ancestral_cfg_pp and sample_gradient_estimation (comfyanonymous/ComfyUI,
// comfy/k_diffusion/sampling.py), written here from their rules in plain loops, in double and in float as
// sd.cpp computes, under one recorded noise sequence; VP against the VE run of the equivalent model; the
// hand-over of the unconditional prediction; the Brownian property of the tree; the cross-cutting checks
// (determinism, float32, errors, no allocation) of the CFG++ methods, which need a two-output model.
#include <stork/eigen.hpp>
#include <stork/stork.hpp>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "support/all_methods.hpp"
#include "support/alloc_counter.hpp"
#include "support/gaussian_mixture.hpp"
#include "support/problems.hpp"

using namespace stork_test;
using vec = std::vector<double>;
using fvec = std::vector<float>;

namespace {

/// Prints the numbers a test measured when STORK_TEST_VERBOSE is set.
template <class... A>
void report(const char* format, A... a) {
  if (!std::getenv("STORK_TEST_VERBOSE")) return;
  std::printf("menu_cfgpp: ");
  std::printf(format, a...);
  std::printf("\n");
}

/// max_i |a_i − b_i| / max(1, |b_i|) for any two vectors of numbers.
template <class A, class B>
double diff(const A& a, const B& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i]))));
  return m;
}

template <class T, class U>
std::vector<T> as(const std::vector<U>& v) {
  return std::vector<T>(v.begin(), v.end());
}

/// The bound of a float comparison: float round-off, stated as 2e-5 (a few hundred float ulps of the
/// O(1) results) plus four times the transcription's own float error (its float run against the same
/// computation in double): where the defining formula itself is ill-conditioned in float (sd.cpp's
/// σ_from² − σ_to² on the fine steps near σ = 1 of a flow grid), its float rounding sets the scale.
inline double float_bound(double own_float_error) { return 2e-5 + 4.0 * own_float_error; }

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Transcriptions of stable-diffusion.cpp (src/runtime/denoiser.hpp), in the precision T (sd.cpp: float).

namespace sdcpp {

template <class T>
using tv = std::vector<T>;
/// denoise(x, σ, D): the callback's `pred` (x̂₀ of the guided output).
template <class T>
using denoiser = std::function<void(const tv<T>&, T, tv<T>&)>;
/// denoise(x, σ, D, D_u): `pred` and `pred_uncond` (x̂₀ of the unconditional output).
template <class T>
using guided_denoiser = std::function<void(const tv<T>&, T, tv<T>&, tv<T>&)>;
/// randn_like(x): one N(0, I) draw shaped like x (recorded); the arguments are the interval.
template <class T>
using randn = std::function<tv<T>(double, double)>;

/// get_ancestral_step (VE): σ_up = min(σ_to, η·√max(σ_to²(σ_from² − σ_to²)/σ_from², 0)) when σ_from² > 0,
/// σ_down = √(σ_to² − σ_up²) (0 if not positive); (σ_to, 0) when η <= 0.
template <class T>
std::pair<T, T> get_ancestral_step(T from, T to, T eta) {
  T up = 0, down = to;
  if (eta <= T(0)) return {down, up};
  const T from2 = from * from, to2 = to * to;
  if (from2 > T(0)) {
    const T term = to2 * (from2 - to2) / from2;
    up = std::min(to, eta * std::sqrt(std::max(term, T(0))));
  }
  const T down2 = to2 - up * up;
  down = down2 > T(0) ? std::sqrt(down2) : T(0);
  return {down, up};
}

/// get_ancestral_step_flow: η capped at 1, σ_down = σ_to(1 + (σ_to/σ_from − 1)η) clamped to [0, σ_to],
/// a = (1 − σ_to)/(1 − σ_down), r = clamp(σ_down/σ_to·a, −1, 1), σ_up = σ_to·√max(1 − r², 0).
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

/// sample_euler_cfg_pp: d = (x − D_u)/σ_i; x = D + d·σ_{i+1}.
template <class T>
tv<T> sample_euler_cfg_pp(const guided_denoiser<T>& model, tv<T> x, const tv<T>& sigmas, std::size_t& calls) {
  tv<T> den(x.size()), unc(x.size());
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma = sigmas[i];
    model(x, sigma, den, unc), ++calls;
    for (std::size_t k = 0; k < x.size(); ++k) {
      const T d = (x[k] - unc[k]) / sigma;
      x[k] = den[k] + d * sigmas[i + 1];
    }
  }
  return x;
}

/// sample_euler_ancestral_cfg_pp: d = (x − D_u)/σ_i; (σ_down, σ_up) = get_ancestral_step(σ_i, σ_{i+1}, η)
/// (the VE one, for flow too); x = D + d·σ_down; if σ_{i+1} > 0: x += randn_like(x)·σ_up.
template <class T>
tv<T> sample_euler_ancestral_cfg_pp(const guided_denoiser<T>& model, tv<T> x, const tv<T>& sigmas,
                                    const randn<T>& rng, T eta, std::size_t& calls) {
  tv<T> den(x.size()), unc(x.size());
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma = sigmas[i];
    model(x, sigma, den, unc), ++calls;
    const auto [down, up] = get_ancestral_step(sigmas[i], sigmas[i + 1], eta);
    for (std::size_t k = 0; k < x.size(); ++k) {
      const T d = (x[k] - unc[k]) / sigma;
      x[k] = den[k] + d * down;
    }
    if (sigmas[i + 1] > T(0)) {
      const tv<T> z = rng(sigmas[i], sigmas[i + 1]);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] += z[k] * up;
    }
  }
  return x;
}

/// sample_gradient_estimation(γ): x = D when σ_{i+1} = 0; else (σ_down, σ_up, a) = get_ancestral_step(σ_i,
/// σ_{i+1}, η, is_flow), d = (x − D)/σ_i, dt = σ_down − σ_i, x += (γ·d + (1 − γ)·d_old)·dt (d·dt on the
/// first step), d_old = d; if σ_up > 0: (flow: x *= a) x += randn_like(x)·σ_up.
template <class T>
tv<T> sample_gradient_estimation(const denoiser<T>& model, tv<T> x, const tv<T>& sigmas, const randn<T>& rng,
                                 bool is_flow, T eta, T gamma, std::size_t& calls) {
  tv<T> den(x.size()), d(x.size()), old_d;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const T sigma = sigmas[i], sigma_to = sigmas[i + 1];
    model(x, sigma, den), ++calls;
    if (sigma_to == T(0)) {
      x = den;
      continue;
    }
    T down, up, alpha = 1;
    if (is_flow) {
      std::tie(down, up, alpha) = get_ancestral_step_flow(sigma, sigma_to, eta);
    } else {
      std::tie(down, up) = get_ancestral_step(sigma, sigma_to, eta);
    }
    for (std::size_t k = 0; k < x.size(); ++k) d[k] = (x[k] - den[k]) / sigma;
    const T dt = down - sigma;
    for (std::size_t k = 0; k < x.size(); ++k) {
      if (!old_d.empty()) {
        const T d_bar = d[k] * gamma + old_d[k] * (T(1) - gamma);
        x[k] += d_bar * dt;
      } else {
        x[k] += d[k] * dt;
      }
    }
    old_d = d;
    if (up > T(0)) {
      if (is_flow)
        for (T& v : x) v *= alpha;
      const tv<T> z = rng(sigma, sigma_to);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] += z[k] * up;
    }
  }
  return x;
}

/// BrownianTreeNoiseSampler, as written there (recursive bridge, a map cache, float tensors): W(t_min) = 0,
/// W(t_max) = randn(seed mix64(seed, 0xBF58…))·√(float)(t_max − t_min); bridge(a, c, w_a, w_c, t, node,
/// depth) bisects toward t, the midpoint ½(w_a + w_c) + std·randn(node), node seeds mix64(node, 1) / (node,
/// 2), linear interpolation at depth 0 or c − a < 1e-9; call(σ_a, σ_b) = (w(max) − w(min))·(1/√span).
class brownian_tree {
 public:
  brownian_tree(std::size_t n, double sigma_min, double sigma_max, std::uint64_t seed)
      : n_(n), t_min_(sigma_min), t_max_(sigma_max), root_seed_(mix64(seed, 0x9E3779B97F4A7C15ULL)) {
    w_max_ = randn_seeded(mix64(seed, 0xBF58476D1CE4E5B9ULL));
    const float s = std::sqrt(static_cast<float>(t_max_ - t_min_));
    for (float& v : w_max_) v = v * s;
  }
  fvec operator()(double sigma_a, double sigma_b) {
    const double a = clamp(std::min(sigma_a, sigma_b)), b = clamp(std::max(sigma_a, sigma_b));
    const fvec wb = w(b), wa = w(a);
    fvec dw(n_);
    for (std::size_t i = 0; i < n_; ++i) dw[i] = wb[i] - wa[i];
    const float span = static_cast<float>(std::max(std::abs(sigma_b - sigma_a), 1e-12));
    const float inv = 1.0f / std::sqrt(span);
    for (float& v : dw) v = v * inv;
    return dw;
  }

 private:
  static std::uint64_t mix64(std::uint64_t v, std::uint64_t salt) {
    std::uint64_t z = v + salt;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// STDDefaultRNG: manual_seed((unsigned int)seed), randn(n) with one normal_distribution<float>.
  fvec randn_seeded(std::uint64_t seed) const {
    std::default_random_engine generator;
    generator.seed((unsigned int)seed);
    std::normal_distribution<float> distribution(0.0f, 1.0f);
    fvec r;
    for (std::size_t i = 0; i < n_; ++i) r.push_back(distribution(generator));
    return r;
  }
  double clamp(double t) const { return std::min(std::max(t, t_min_), t_max_); }
  fvec w(double t) {
    const auto it = cache_.find(t);
    if (it != cache_.end()) return it->second;
    const fvec out = bridge(t_min_, t_max_, fvec(n_, 0.0f), w_max_, t, root_seed_, 24);
    cache_.emplace(t, out);
    return out;
  }
  fvec bridge(double a, double c, const fvec& w_a, const fvec& w_c, double t, std::uint64_t node, int depth) {
    fvec r(n_);
    if (depth <= 0 || c - a < 1e-9) {
      const float alpha = (c > a) ? static_cast<float>((t - a) / (c - a)) : 0.5f;
      for (std::size_t i = 0; i < n_; ++i) {
        const float l = (1.0f - alpha) * w_a[i], rr = alpha * w_c[i];
        r[i] = l + rr;
      }
      return r;
    }
    const double m = 0.5 * (a + c);
    const double std_dev = std::sqrt((c - m) * (m - a) / (c - a));
    const fvec z = randn_seeded(node);
    for (std::size_t i = 0; i < n_; ++i) {
      const float s = w_a[i] + w_c[i], h = 0.5f * s, q = static_cast<float>(std_dev) * z[i];
      r[i] = h + q;
    }
    if (t == m) return r;
    if (t < m) return bridge(a, m, w_a, r, t, mix64(node, 1), depth - 1);
    return bridge(m, c, r, w_c, t, mix64(node, 2), depth - 1);
  }

  std::size_t n_;
  double t_min_, t_max_;
  std::uint64_t root_seed_;
  fvec w_max_;
  std::map<double, fvec> cache_;
};

/// sample_dpmpp_2m_sde / sample_dpmpp_2m_sde_bt (the same steps; the noise from `rng`): x = D when
/// σ_{i+1} = 0; else t = −log σ_i, s = −log σ_{i+1}, h = s − t, η_h = η·h, a = σ_{i+1}/σ_i·e^{−η_h},
/// b = −expm1(−h − η_h), x = a·x + b·D, + (½b/r)·(D − D_old) with r = h_last/h after the first step, +
/// randn·σ_{i+1}·√(−expm1(−2η_h)) when η > 0; D_old = D, h_last = h.
template <class T>
tv<T> sample_dpmpp_2m_sde(const denoiser<T>& model, tv<T> x, const tv<T>& sigmas, const randn<T>& rng, T eta,
                          std::size_t& calls) {
  tv<T> den(x.size()), old;
  T h_last = 0;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den), ++calls;
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

}  // namespace sdcpp

// ComfyUI (comfy/k_diffusion/sampling.py) where it defines the flow rule: CONST models step in the half
// log-SNR λ = log((1 − σ)/σ), α = σ·e^λ.
namespace comfy {

template <class T>
using tv = std::vector<T>;

/// sigma_to_half_log_snr: −logit(σ) for CONST (flow) models, −log σ otherwise.
template <class T>
T half_log_snr(T sigma, bool is_const) {
  return is_const ? std::log((T(1) - sigma) / sigma) : -std::log(sigma);
}

/// k-diffusion's get_ancestral_step: (σ_to, 0) if not η; σ_up = min(σ_to, η·(σ_to²(σ_from² −
/// σ_to²)/σ_from²)^½), σ_down = (σ_to² − σ_up²)^½.
template <class T>
std::pair<T, T> get_ancestral_step(T from, T to, T eta) {
  if (eta == T(0)) return {to, T(0)};
  T up = std::min(to, eta * std::sqrt(to * to * (from * from - to * to) / (from * from)));
  if (std::isnan(up)) up = to;  // Python's min(σ_to, nan) is σ_to (σ_from = inf: a flow grid from σ = 1)
  return {std::sqrt(to * to - up * up), up};
}

/// sample_euler_ancestral_cfg_pp (and sample_euler_cfg_pp = η = 0, s_noise = 0): x = D when σ_{i+1} = 0; else
/// α_s = σ_i·e^{λ_i}, α_t = σ_{i+1}·e^{λ_{i+1}}, d = (x − α_s·D_u)/σ_i, (σ_down, σ_up) = get_ancestral_step(
/// σ_i/α_s, σ_{i+1}/α_t, η), x = α_t·D + α_t·σ_down·d, + α_t·noise·s_noise·σ_up if η > 0 and s_noise > 0.
template <class T>
tv<T> sample_euler_ancestral_cfg_pp(const sdcpp::guided_denoiser<T>& model, tv<T> x, const tv<T>& sigmas,
                                    const sdcpp::randn<T>& rng, T eta, T s_noise, bool is_const,
                                    std::size_t& calls) {
  tv<T> den(x.size()), unc(x.size());
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den, unc), ++calls;
    if (sigmas[i + 1] == T(0)) {
      x = den;
      continue;
    }
    const T alpha_s = sigmas[i] * std::exp(half_log_snr(sigmas[i], is_const));
    const T alpha_t = sigmas[i + 1] * std::exp(half_log_snr(sigmas[i + 1], is_const));
    auto [down, up] = get_ancestral_step(sigmas[i] / alpha_s, sigmas[i + 1] / alpha_t, eta);
    down = alpha_t * down;
    for (std::size_t k = 0; k < x.size(); ++k) {
      const T d = (x[k] - alpha_s * unc[k]) / sigmas[i];
      x[k] = alpha_t * den[k] + down * d;
    }
    if (eta > T(0) && s_noise > T(0)) {
      const tv<T> z = rng(sigmas[i], sigmas[i + 1]);
      for (std::size_t k = 0; k < x.size(); ++k) x[k] += alpha_t * z[k] * s_noise * up;
    }
  }
  return x;
}

/// sample_gradient_estimation(ge_gamma) (deterministic): d = to_d(x, σ_i, D), dt = σ_{i+1} − σ_i; x = D when
/// σ_{i+1} = 0; else x = x + d·dt and, from the second step, x = x + (γ − 1)(d − d_old)·dt; d_old = d.
template <class T>
tv<T> sample_gradient_estimation(const sdcpp::denoiser<T>& model, tv<T> x, const tv<T>& sigmas, T gamma,
                                 std::size_t& calls) {
  tv<T> den(x.size()), d(x.size()), old_d;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    model(x, sigmas[i], den), ++calls;
    for (std::size_t k = 0; k < x.size(); ++k) d[k] = (x[k] - den[k]) / sigmas[i];
    const T dt = sigmas[i + 1] - sigmas[i];
    if (sigmas[i + 1] == T(0)) {
      x = den;
    } else {
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + d[k] * dt;
      if (i >= 1)
        for (std::size_t k = 0; k < x.size(); ++k) x[k] = x[k] + (gamma - T(1)) * (d[k] - old_d[k]) * dt;
    }
    old_d = d;
  }
  return x;
}

}  // namespace comfy

// ---------------------------------------------------------------------------------------------------------
// The problems: a guided pair of models (the conditional three-blob mixture, an unconditional broad
// Gaussian, CFG scale 2.5) in VE (denoisers) and rectified flow (velocities), 8 points in 2-D.

namespace {

enum class convention { ve, flow };
const char* name_of(convention c) { return c == convention::ve ? "VE" : "flow"; }

const gaussian_mixture& cond() {
  static const gaussian_mixture g = three_blobs();
  return g;
}
const gaussian_mixture& uncond() {
  static const gaussian_mixture g{2, {1.0}, {{0.2, -0.1}}, {1.0}};
  return g;
}
constexpr double cfg_scale = 2.5;

/// The model's own output (a VE denoiser's x̂₀ or a flow velocity) of one mixture at (x, t).
void raw(convention c, const gaussian_mixture& g, const vec& x, double t, vec& o) {
  if (c == convention::ve)
    g.posterior_quantity(gaussian_mixture::quantity::mean, 1.0, t, x, o);
  else
    g.flow_velocity(x, t, o);
}

/// What the engine hands stork: the guided output uncond + s·(cond − uncond) and the unconditional one, of
/// the model's prediction type, computed in double and rounded to T (a float network hands back floats).
template <class T>
void outputs(convention c, const std::vector<T>& x, double t, std::vector<T>& out, std::vector<T>& unc) {
  const vec xd(x.begin(), x.end());
  vec oc(x.size()), ou(x.size());
  raw(c, cond(), xd, t, oc);
  raw(c, uncond(), xd, t, ou);
  for (std::size_t i = 0; i < x.size(); ++i) {
    out[i] = static_cast<T>(ou[i] + cfg_scale * (oc[i] - ou[i]));
    unc[i] = static_cast<T>(ou[i]);
  }
}

/// What stable-diffusion.cpp's callback returns: the x̂₀ of both (flow: D = x − σ·v, in T as sd.cpp's c_skip
/// and c_out do it).
template <class T>
void denoised(convention c, const std::vector<T>& x, T sigma, std::vector<T>& den, std::vector<T>& unc) {
  outputs<T>(c, x, double(sigma), den, unc);
  if (c == convention::flow)
    for (std::size_t i = 0; i < x.size(); ++i) {
      den[i] = den[i] * (-sigma) + x[i];
      unc[i] = unc[i] * (-sigma) + x[i];
    }
}

/// The same for one (unguided) model: the conditional mixture.
template <class T>
void single(convention c, const std::vector<T>& x, double t, std::vector<T>& out) {
  const vec xd(x.begin(), x.end());
  vec o(x.size());
  raw(c, cond(), xd, t, o);
  std::copy(o.begin(), o.end(), out.begin());
}
template <class T>
void single_denoised(convention c, const std::vector<T>& x, T sigma, std::vector<T>& den) {
  single<T>(c, x, double(sigma), den);
  if (c == convention::flow)
    for (std::size_t i = 0; i < x.size(); ++i) den[i] = den[i] * (-sigma) + x[i];
}

vec grid_of(convention c, int steps, bool from_one = true) {
  if (c == convention::ve)
    return stork::karras_sigmas(steps, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0});
  vec g = stork::flow_sigmas(steps + (from_one ? 0 : 1), {.shift = 3.0});
  if (!from_one) g.erase(g.begin());  // starts below σ = 1
  return g;
}

/// The grid as T holds it (sd.cpp's sigmas are float), back in double for stork: both see the same values.
template <class T>
vec rounded(const vec& g) {
  vec r;
  for (const double s : g) r.push_back(double(static_cast<T>(s)));
  return r;
}

vec start_of(convention c, unsigned seed = 4) {
  vec x = fixed_noise(16, seed);
  if (c == convention::ve)
    for (double& v : x) v *= 14.6146;
  return x;
}

/// A recorded noise sequence: draw j is fixed_noise(16, 1000 + j) (rounded to T). `source()` replays it to
/// stork, `sampler()` to a transcription; both count.
template <class T>
struct recording {
  std::vector<std::vector<T>> draws;
  explicit recording(std::size_t count = 200) {
    for (std::size_t j = 0; j < count; ++j) draws.push_back(as<T>(fixed_noise(16, unsigned(1000 + j))));
  }
  auto source(std::size_t& calls) const {
    return [this, &calls](std::vector<T>& out) { out = draws.at(calls++); };
  }
  sdcpp::randn<T> sampler(std::size_t& calls) const {
    return [this, &calls](double, double) { return draws.at(calls++); };
  }
};

/// integrate a CFG++ method in convention c on states of T.
template <class T, class M, class... A>
std::vector<T> run_cfg(const M& m, convention c, const vec& grid, std::vector<T> x, A&&... a) {
  auto model = [c](const std::vector<T>& y, double t, std::vector<T>& o, std::vector<T>& u) {
    outputs<T>(c, y, t, o, u);
  };
  if (c == convention::ve)
    stork::integrate(m, stork::field(model, stork::ve{}), x, grid, std::forward<A>(a)...);
  else
    stork::integrate(m, model, x, grid, std::forward<A>(a)...);
  return x;
}

/// The engine loop for a CFG++ method: step(out, uncond, x) or zero-copy step(x).
template <class T, class M, class... A>
std::vector<T> loop_cfg(const M& m, convention c, const vec& grid, std::vector<T> x, bool zero_copy,
                        A&&... a) {
  std::vector<T> out(x.size()), unc(x.size());
  auto go = [&](auto sch) {
    while (!sch.done()) {
      if (zero_copy) {
        outputs<T>(c, x, sch.time(), sch.output_buffer(), sch.unconditional_buffer());
        sch.step(x);
      } else {
        outputs<T>(c, x, sch.time(), out, unc);
        sch.step(out, unc, x);
      }
    }
  };
  if (c == convention::ve)
    go(stork::make_scheduler(m, grid, x, stork::ve{}, std::forward<A>(a)...));
  else
    go(stork::make_scheduler(m, grid, x, std::forward<A>(a)...));
  return x;
}

/// Calls f(args...) with a seeded normal_noise appended for the stochastic methods only.
template <class M, class F>
decltype(auto) with_noise(unsigned seed, F&& f) {
  if constexpr (stork::detail::is_stochastic_v<M>)
    return f(stork::normal_noise{seed});
  else
    return f();
}

/// integrate a one-output method in convention c on states of T.
template <class T, class M, class... A>
std::vector<T> run_single(const M& m, convention c, const vec& grid, std::vector<T> x, A&&... a) {
  auto model = [c](const std::vector<T>& y, double t, std::vector<T>& o) { single<T>(c, y, t, o); };
  if (c == convention::ve)
    stork::integrate(m, stork::field(model, stork::ve{}), x, grid, std::forward<A>(a)...);
  else
    stork::integrate(m, model, x, grid, std::forward<A>(a)...);
  return x;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------

TEST_CASE(
    "cfg_pp: euler_cfg_pp and euler_a_cfg_pp equal stable-diffusion.cpp's samplers, VE and flow, double",
    "[cfg_pp][sdcpp]") {
  const recording<double> rec;
  double worst = 0.0, worst_a = 0.0;
  for (const convention c : {convention::ve, convention::flow}) {
    for (const int steps : {3, 10, 25}) {
      const vec sigmas = grid_of(c, steps), x0 = start_of(c);
      const std::size_t n = sigmas.size() - 1;
      sdcpp::guided_denoiser<double> den = [c](const vec& x, double s, vec& d, vec& u) {
        denoised<double>(c, x, s, d, u);
      };
      INFO(name_of(c) << ", " << n << " steps");
      {  // euler_cfg_pp (flow: sd.cpp's rule, the default)
        std::size_t ref_calls = 0;
        const vec ref = sdcpp::sample_euler_cfg_pp(den, x0, sigmas, ref_calls);
        const vec x = run_cfg<double>(stork::euler_cfg_pp{}, c, sigmas, x0);
        const double d = diff(x, ref);
        worst = std::max(worst, d);
        INFO("euler_cfg_pp: " << d);
        REQUIRE(d < 1e-12);
        REQUIRE(ref_calls == n);
        REQUIRE(diff(x, x0) > 0.1);
      }
      for (const double eta : {1.0, 0.5, 1.7}) {  // euler_a_cfg_pp, flow with {.flow = sd_cpp}
        INFO("euler_a_cfg_pp, eta " << eta);
        std::size_t ref_calls = 0, ref_draws = 0, draws = 0;
        std::size_t model_calls = 0;
        sdcpp::guided_denoiser<double> counted = [&](const vec& x, double s, vec& d, vec& u) {
          den(x, s, d, u);
        };
        const vec ref =
            sdcpp::sample_euler_ancestral_cfg_pp(counted, x0, sigmas, rec.sampler(ref_draws), eta, ref_calls);
        const stork::euler_a_cfg_pp m{.eta = eta, .s_noise = 1.0, .flow = stork::flow_rule::sd_cpp};
        auto model = [&](const vec& y, double t, vec& o, vec& u) {
          ++model_calls;
          outputs<double>(c, y, t, o, u);
        };
        vec x = x0;
        stork::stats r;
        if (c == convention::ve)
          r = stork::integrate(m, stork::field(model, stork::ve{}), x, sigmas, rec.source(draws));
        else
          r = stork::integrate(m, model, x, sigmas, rec.source(draws));
        const double d = diff(x, ref);
        worst_a = std::max(worst_a, d);
        INFO("difference " << d);
        REQUIRE(d < 1e-12);
        REQUIRE(r.nfe == n);
        REQUIRE(model_calls == ref_calls);
        REQUIRE(draws == ref_draws);  // one draw per interval that does not end at σ = 0
        REQUIRE(draws == n - 1);
        // The engine loop, with its own buffers and zero-copy, gives the same bits.
        std::size_t d1 = 0, d2 = 0;
        REQUIRE(same_bits(loop_cfg<double>(m, c, sigmas, x0, false, rec.source(d1)), x));
        REQUIRE(same_bits(loop_cfg<double>(m, c, sigmas, x0, true, rec.source(d2)), x));
      }
    }
  }
  report("sd.cpp transcriptions, double: euler_cfg_pp worst %.3g, euler_a_cfg_pp %.3g", worst, worst_a);
}

TEST_CASE("cfg_pp: float states follow sd.cpp's float computation to float round-off",
          "[cfg_pp][sdcpp][float32]") {
  // sd.cpp computes in float (sigmas, coefficients and tensors); stork rounds each coefficient to float once
  // and combines in float. The difference is float round-off accumulated over the steps (bound:
  // float_bound); measured worst with STORK_TEST_VERBOSE.
  const recording<float> rec;
  auto wide = [&rec](std::size_t& k) -> sdcpp::randn<double> {
    return [&rec, &k](double, double) { return as<double>(rec.draws.at(k++)); };
  };
  double worst = 0.0, worst_a = 0.0;
  for (const convention c : {convention::ve, convention::flow}) {
    for (const int steps : {10, 25}) {
      const vec sigmas = rounded<float>(grid_of(c, steps));
      const fvec sf = as<float>(sigmas), x0 = as<float>(start_of(c));
      sdcpp::guided_denoiser<float> den = [c](const fvec& x, float s, fvec& d, fvec& u) {
        denoised<float>(c, x, s, d, u);
      };
      sdcpp::guided_denoiser<double> den_d = [c](const vec& x, double s, vec& d, vec& u) {
        denoised<double>(c, x, s, d, u);
      };
      INFO(name_of(c) << ", " << steps << " steps");
      std::size_t calls = 0;
      const fvec ref = sdcpp::sample_euler_cfg_pp(den, x0, sf, calls);
      const vec ref_d = sdcpp::sample_euler_cfg_pp(den_d, as<double>(x0), sigmas, calls);
      const fvec x = run_cfg<float>(stork::euler_cfg_pp{}, c, sigmas, x0);
      double d = diff(x, ref), bound = float_bound(diff(ref, ref_d));
      worst = std::max(worst, d);
      INFO("euler_cfg_pp " << d << ", bound " << bound);
      REQUIRE(d < bound);
      std::size_t a = 0, b = 0, k = 0;
      const fvec ref_a = sdcpp::sample_euler_ancestral_cfg_pp(den, x0, sf, rec.sampler(a), 1.0f, calls);
      const vec ref_ad =
          sdcpp::sample_euler_ancestral_cfg_pp(den_d, as<double>(x0), sigmas, wide(k), 1.0, calls);
      const fvec xa = run_cfg<float>(stork::euler_a_cfg_pp{.flow = stork::flow_rule::sd_cpp}, c, sigmas, x0,
                                     rec.source(b));
      d = diff(xa, ref_a), bound = float_bound(diff(ref_a, ref_ad));
      worst_a = std::max(worst_a, d);
      INFO("euler_a_cfg_pp " << d << ", bound " << bound);
      report("float %s %d steps euler_a_cfg_pp: %.3g (transcription's own float error %.3g)", name_of(c),
             steps, d, diff(ref_a, ref_ad));
      REQUIRE(d < bound);
      REQUIRE(a == b);
    }
  }
  report("sd.cpp transcriptions, float: euler_cfg_pp worst %.3g, euler_a_cfg_pp %.3g", worst, worst_a);
}

TEST_CASE("cfg_pp: flow_rule::log_snr is ComfyUI's CFG++ for flow (CONST) models", "[cfg_pp][comfyui]") {
  // ComfyUI's sample_euler_ancestral_cfg_pp in the flow's half log-SNR (α = 1 − σ), double; η = 0 is its
  // sample_euler_cfg_pp. From σ = 1 (α = 0) ComfyUI's λ is −∞ and its NaN split gives σ_up = σ_{n+1}/α_{n+1},
  // which is stork's limit for η = 1 (and η = 0); other η are compared from below σ = 1.
  const recording<double> rec;
  double worst = 0.0;
  sdcpp::guided_denoiser<double> den = [](const vec& x, double s, vec& d, vec& u) {
    denoised<double>(convention::flow, x, s, d, u);
  };
  for (const bool from_one : {true, false}) {
    for (const double eta : {0.0, 1.0, 0.6}) {
      if (from_one && eta != 0.0 && eta != 1.0) continue;
      const vec sigmas = grid_of(convention::flow, 12, from_one), x0 = start_of(convention::flow);
      INFO("from sigma = " << sigmas.front() << ", eta " << eta);
      std::size_t calls = 0, ref_draws = 0, draws = 0;
      const vec ref = comfy::sample_euler_ancestral_cfg_pp(den, x0, sigmas, rec.sampler(ref_draws), eta, 1.0,
                                                           true, calls);
      const vec x = eta == 0.0 ? run_cfg<double>(stork::euler_cfg_pp{.flow = stork::flow_rule::log_snr},
                                                 convention::flow, sigmas, x0)
                               : run_cfg<double>(stork::euler_a_cfg_pp{.eta = eta}, convention::flow, sigmas,
                                                 x0, rec.source(draws));
      const double d = diff(x, ref);
      worst = std::max(worst, d);
      INFO("difference " << d);
      REQUIRE(d < 1e-12);
      REQUIRE(draws == ref_draws);
    }
  }
  // In VE the two rules are the same thing: ComfyUI's (α = 1) is sd.cpp's.
  const vec sigmas = grid_of(convention::ve, 12), x0 = start_of(convention::ve);
  sdcpp::guided_denoiser<double> den_ve = [](const vec& x, double s, vec& d, vec& u) {
    denoised<double>(convention::ve, x, s, d, u);
  };
  std::size_t calls = 0, ref_draws = 0, draws = 0;
  const vec ref = comfy::sample_euler_ancestral_cfg_pp(den_ve, x0, sigmas, rec.sampler(ref_draws), 0.8, 0.7,
                                                       false, calls);
  const vec x = run_cfg<double>(stork::euler_a_cfg_pp{.eta = 0.8, .s_noise = 0.7}, convention::ve, sigmas, x0,
                                rec.source(draws));
  REQUIRE(diff(x, ref) < 1e-12);
  report("ComfyUI CFG++ transcriptions: worst %.3g", worst);
}

TEST_CASE("cfg_pp: without guidance CFG++ is the method it modifies", "[cfg_pp]") {
  // D_c = D_u: euler_cfg_pp is Euler (in σ: sd.cpp's rule, and ComfyUI's, whose flow DDIM is Euler too);
  // euler_a_cfg_pp is Euler ancestral in VE.
  for (const convention c : {convention::ve, convention::flow}) {
    const vec sigmas = grid_of(c, 12), x0 = start_of(c);
    auto same = [c](const vec& y, double t, vec& o, vec& u) {
      single<double>(c, y, t, o);
      u = o;
    };
    for (const stork::flow_rule rule : {stork::flow_rule::sd_cpp, stork::flow_rule::log_snr}) {
      vec x = x0;
      if (c == convention::ve)
        stork::integrate(stork::euler_cfg_pp{.flow = rule}, stork::field(same, stork::ve{}), x, sigmas);
      else
        stork::integrate(stork::euler_cfg_pp{.flow = rule}, same, x, sigmas);
      INFO(name_of(c));
      REQUIRE(diff(x, run_single<double>(stork::euler{}, c, sigmas, x0)) < 1e-13);
    }
  }
  const vec sigmas = grid_of(convention::ve, 12), x0 = start_of(convention::ve);
  auto same = [](const vec& y, double t, vec& o, vec& u) {
    single<double>(convention::ve, y, t, o);
    u = o;
  };
  vec x = x0;
  stork::integrate(stork::euler_a_cfg_pp{.eta = 0.7}, stork::field(same, stork::ve{}), x, sigmas,
                   stork::normal_noise{3});
  REQUIRE(diff(x, run_single<double>(stork::euler_ancestral{.eta = 0.7}, convention::ve, sigmas, x0,
                                     stork::normal_noise{3})) < 1e-12);
  // η = 0: euler_a_cfg_pp is euler_cfg_pp and draws nothing.
  auto never = [](vec&) { FAIL("the noise source was called"); };
  for (const convention c : {convention::ve, convention::flow})
    for (const stork::flow_rule rule : {stork::flow_rule::sd_cpp, stork::flow_rule::log_snr})
      REQUIRE(diff(run_cfg<double>(stork::euler_a_cfg_pp{.eta = 0.0, .flow = rule}, c, grid_of(c, 9),
                                   start_of(c), never),
                   run_cfg<double>(stork::euler_cfg_pp{.flow = rule}, c, grid_of(c, 9), start_of(c))) <
              1e-14);
}

TEST_CASE("cfg_pp: flow_rule, measured: sd.cpp's euler_a_cfg_pp on a flow model is biased, ComfyUI's is not",
          "[cfg_pp][flow][distribution]") {
  // Without guidance (uncond = out) on the flow Gaussian N(1, ½²) from x = ε at σ = 1, shift 3: the exact
  // output mean and variance (the run is affine in the start and the draws: one probe each). sd.cpp's rule
  // (the VE formula on the flow σ) drifts away from the data; ComfyUI's converges like Euler ancestral.
  auto velocity = [](const vec& x, double sigma, vec& v, vec& u) {  // N(1, ½²)'s exact flow velocity
    const double a = 1.0 - sigma, g = a * 0.25 / (a * a * 0.25 + sigma * sigma);
    for (std::size_t i = 0; i < x.size(); ++i) v[i] = (x[i] - (1.0 + g * (x[i] - a))) / sigma;
    u = v;
  };
  auto moments = [&](const stork::euler_a_cfg_pp& m, const vec& sigmas) {
    vec x(sigmas.size() + 2, 0.0);
    x[1] = 1.0;
    std::size_t call = 0;
    auto draw = [&](vec& z) {
      std::fill(z.begin(), z.end(), 0.0);
      z.at(2 + call++) = 1.0;
    };
    stork::integrate(m, velocity, x, sigmas, std::ref(draw));
    double var = (x[1] - x[0]) * (x[1] - x[0]);
    for (std::size_t i = 2; i < x.size(); ++i) var += (x[i] - x[0]) * (x[i] - x[0]);
    return std::pair<double, double>{x[0], var / 0.25 - 1.0};
  };
  std::string line;
  for (const int steps : {16, 64, 256, 1024}) {
    const vec sigmas = stork::flow_sigmas(steps, {.shift = 3.0});
    const auto [m_log, v_log] = moments(stork::euler_a_cfg_pp{}, sigmas);
    const auto [m_sd, v_sd] = moments(stork::euler_a_cfg_pp{.flow = stork::flow_rule::sd_cpp}, sigmas);
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "\n  %4d steps: log_snr mean %.4f var err %+.4f | sd_cpp mean %.4f var err %+.4f", steps,
                  m_log, v_log, m_sd, v_sd);
    line += buf;
    REQUIRE(std::abs(m_log - 1.0) < 1e-12);
    if (steps == 1024) {
      REQUIRE(std::abs(v_log) < 0.02);
      REQUIRE(m_sd > 1.7);
    }
  }
  report("euler_a_cfg_pp on a flow Gaussian, exact moments:%s", line.c_str());
}

namespace {

/// A VP ε model pair (the guided and the unconditional ε̂ of the two mixtures under vp_linear) against the
/// VE run of the equivalent model: x_VE = x/α, σ_VE = σ/α, the same D's.
template <class M, class... A>
double vp_against_ve(const M& m, A... noise) {
  const stork::vp_linear vp{};
  const vec taus = stork::vp_taus(15);
  vec sigmas(taus.size());
  for (std::size_t i = 0; i < taus.size(); ++i) sigmas[i] = vp.sigma(taus[i]) / vp.alpha(taus[i]);
  const vec x0 = fixed_noise(16, 7);
  vec x0_ve = x0;
  for (double& v : x0_ve) v /= vp.alpha(taus.front());
  vec x = x0, x_ve = x0_ve;
  if constexpr (stork::detail::needs_unconditional_v<M>) {
    auto eps = [&](const vec& y, double t, vec& o, vec& u) {
      vec oc(y.size());
      cond().model_output(vp, stork::prediction::epsilon, y, t, oc);
      uncond().model_output(vp, stork::prediction::epsilon, y, t, u);
      for (std::size_t i = 0; i < y.size(); ++i) o[i] = u[i] + cfg_scale * (oc[i] - u[i]);
    };
    stork::integrate(m, stork::field(eps, vp), x, taus, noise...);
    stork::integrate(m,
                     stork::field([](const vec& y, double s, vec& o,
                                     vec& u) { outputs<double>(convention::ve, y, s, o, u); },
                                  stork::ve{}),
                     x_ve, sigmas, noise...);
  } else {
    auto eps = [&](const vec& y, double t, vec& o) {
      cond().model_output(vp, stork::prediction::epsilon, y, t, o);
    };
    stork::integrate(m, stork::field(eps, vp), x, taus, noise...);
    stork::integrate(
        m,
        stork::field([](const vec& y, double s, vec& o) { single<double>(convention::ve, y, s, o); },
                     stork::ve{}),
        x_ve, sigmas, noise...);
  }
  for (double& v : x_ve) v *= vp.alpha(taus.back());
  REQUIRE(diff(x, x0) > 0.1);
  return diff(x, x_ve);
}

}  // namespace

TEST_CASE("cfg_pp, euler_ge: a VP model runs as the VE run of the equivalent model",
          "[cfg_pp][euler_ge][vp]") {
  REQUIRE(vp_against_ve(stork::euler_cfg_pp{}) < 1e-12);
  REQUIRE(vp_against_ve(stork::euler_a_cfg_pp{}, stork::normal_noise{2}) < 1e-12);
  REQUIRE(vp_against_ve(stork::euler_ge{}, stork::normal_noise{2}) < 1e-12);
  REQUIRE(vp_against_ve(stork::euler_ge{.gamma = 1.6, .eta = 0.8}, stork::normal_noise{2}) < 1e-12);
}

TEST_CASE("cfg_pp: the hand-over of the unconditional prediction", "[cfg_pp][handover]") {
  const vec sigmas = grid_of(convention::ve, 8), x0 = start_of(convention::ve);
  // An engine whose uncond is the same object as its output (no guidance) is fine.
  {
    vec x = x0, o(16);
    auto sch = stork::make_scheduler(stork::euler_cfg_pp{}, sigmas, x, stork::ve{});
    while (!sch.done()) {
      single<double>(convention::ve, x, sch.time(), o);
      sch.step(o, o, x);
    }
    REQUIRE(diff(x, run_single<double>(stork::euler{}, convention::ve, sigmas, x0)) < 1e-13);
  }
  // Bad unconditional outputs: stork::error naming it, x and the scheduler unchanged, then the run goes on.
  auto sch = stork::make_scheduler(stork::euler_a_cfg_pp{}, sigmas, x0, stork::ve{}, stork::normal_noise{1});
  vec x = x0, o(16), u(16);
  outputs<double>(convention::ve, x, sch.time(), o, u);
  vec shorter(15, 0.0), nan = u;
  nan[3] = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(sch.step(o, shorter, x), Catch::Contains("unconditional output size = 15"));
  REQUIRE_THROWS_WITH(sch.step(o, nan, x),
                      Catch::Contains("unconditional output at t = 14.6") && Catch::Contains("NaN or Inf"));
  REQUIRE_THROWS_WITH(sch.step(o, x, x), Catch::Contains("uncond = x (the same object)"));
  REQUIRE_THROWS_WITH(sch.step(x, u, x), Catch::Contains("out = x (the same object)"));
  REQUIRE(same_bits(x, x0));
  REQUIRE(sch.nfe() == 0);
  REQUIRE(sch.time() == sigmas.front());
  sch.step(o, u, x);
  REQUIRE(sch.nfe() == 1);
  // A model's own exception in integrate passes through, x untouched.
  struct lost {};
  vec y = x0;
  auto broken = [](const vec&, double, vec&, vec&) { throw lost{}; };
  REQUIRE_THROWS_AS(stork::integrate(stork::euler_cfg_pp{}, stork::field(broken, stork::ve{}), y, sigmas),
                    lost);
  REQUIRE(same_bits(y, x0));
}

// ---------------------------------------------------------------------------------------------------------

TEST_CASE("euler_ge: equals stable-diffusion.cpp's sample_gradient_estimation, VE and flow, double and float",
          "[euler_ge][sdcpp]") {
  // float: sd.cpp's float computation against stork's float states, bound float_bound.
  double worst = 0.0, worst_f = 0.0;
  for (const convention c : {convention::ve, convention::flow}) {
    for (const int steps : {3, 10, 25}) {
      for (const double eta : {0.0, 1.0, 0.5}) {
        for (const double gamma : {2.0, 1.5, 1.0}) {
          INFO(name_of(c) << ", " << steps << " steps, eta " << eta << ", gamma " << gamma);
          const stork::euler_ge m{.gamma = gamma, .eta = eta};
          {  // double
            const recording<double> rec;
            const vec sigmas = grid_of(c, steps), x0 = start_of(c);
            sdcpp::denoiser<double> den = [c](const vec& x, double s, vec& d) {
              single_denoised<double>(c, x, s, d);
            };
            std::size_t calls = 0, ref_draws = 0, draws = 0;
            const vec ref = sdcpp::sample_gradient_estimation(den, x0, sigmas, rec.sampler(ref_draws),
                                                              c == convention::flow, eta, gamma, calls);
            std::size_t model_calls = 0;
            auto model = [&](const vec& y, double t, vec& o) {
              ++model_calls;
              single<double>(c, y, t, o);
            };
            vec x = x0;
            if (c == convention::ve)
              stork::integrate(m, stork::field(model, stork::ve{}), x, sigmas, rec.source(draws));
            else
              stork::integrate(m, model, x, sigmas, rec.source(draws));
            const double d = diff(x, ref);
            worst = std::max(worst, d);
            INFO("double: " << d);
            REQUIRE(d < 1e-12);
            REQUIRE(model_calls == calls);
            REQUIRE(draws == ref_draws);
            REQUIRE(draws == (eta > 0.0 ? sigmas.size() - 2 : 0));
          }
          {  // float
            const recording<float> rec;
            const vec sigmas = rounded<float>(grid_of(c, steps));
            const fvec sf = as<float>(sigmas), x0 = as<float>(start_of(c));
            sdcpp::denoiser<float> den = [c](const fvec& x, float s, fvec& d) {
              single_denoised<float>(c, x, s, d);
            };
            std::size_t calls = 0, ref_draws = 0, draws = 0;
            const fvec ref = sdcpp::sample_gradient_estimation(
                den, x0, sf, rec.sampler(ref_draws), c == convention::flow, float(eta), float(gamma), calls);
            std::size_t k = 0;
            sdcpp::randn<double> wide = [&rec, &k](double, double) { return as<double>(rec.draws.at(k++)); };
            sdcpp::denoiser<double> den_d = [c](const vec& x, double s, vec& d) {
              single_denoised<double>(c, x, s, d);
            };
            const vec ref_d = sdcpp::sample_gradient_estimation(den_d, as<double>(x0), sigmas, wide,
                                                                c == convention::flow, eta, gamma, calls);
            const fvec x = run_single<float>(m, c, sigmas, x0, rec.source(draws));
            const double d = diff(x, ref), bound = float_bound(diff(ref, ref_d));
            worst_f = std::max(worst_f, d);
            INFO("float: " << d << ", bound " << bound);
            REQUIRE(d < bound);
            REQUIRE(draws == ref_draws);
          }
        }
      }
    }
  }
  report("euler_ge vs sd.cpp: worst %.3g (double), %.3g (float)", worst, worst_f);
}

TEST_CASE("euler_ge: with eta = 0 it is ComfyUI's sample_gradient_estimation; gamma = 1 is Euler",
          "[euler_ge][comfyui]") {
  auto never = [](vec&) { FAIL("the noise source was called"); };
  for (const convention c : {convention::ve, convention::flow}) {
    const vec sigmas = grid_of(c, 12), x0 = start_of(c);
    sdcpp::denoiser<double> den = [c](const vec& x, double s, vec& d) {
      single_denoised<double>(c, x, s, d);
    };
    for (const double gamma : {2.0, 2.5}) {
      std::size_t calls = 0;
      const vec ref = comfy::sample_gradient_estimation(den, x0, sigmas, gamma, calls);
      INFO(name_of(c) << ", gamma " << gamma);
      REQUIRE(diff(run_single<double>(stork::euler_ge{.gamma = gamma}, c, sigmas, x0, never), ref) < 1e-12);
    }
    REQUIRE(diff(run_single<double>(stork::euler_ge{.gamma = 1.0}, c, sigmas, x0, never),
                 run_single<double>(stork::euler{}, c, sigmas, x0)) < 1e-13);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The Brownian tree.

TEST_CASE("brownian_tree_noise: stable-diffusion.cpp's BrownianTreeNoiseSampler bit for bit",
          "[brownian_tree][sdcpp]") {
  // The transcription above is sd.cpp's recursive construction with its map cache; stork's is iterative with
  // two cache slots. Same standard library, same floats.
  for (const std::uint64_t seed :
       {std::uint64_t{0}, std::uint64_t{42}, std::uint64_t{0x123456789ABCDEFULL}}) {
    const double lo = 0.0292, hi = 14.6146;
    sdcpp::brownian_tree ref(16, lo, hi, seed);
    stork::brownian_tree_noise tree(16, lo, hi, seed);
    const vec sigmas = stork::karras_sigmas(12, {.sigma_min = lo, .sigma_max = hi, .rho = 7.0});
    fvec z(16);
    std::vector<std::pair<double, double>> intervals;
    for (std::size_t i = 0; i + 2 < sigmas.size(); ++i) intervals.emplace_back(sigmas[i], sigmas[i + 1]);
    intervals.emplace_back(hi, lo);      // the whole range
    intervals.emplace_back(0.5, 7.25);   // reversed order, interior
    intervals.emplace_back(0.01, 0.02);  // below the range: both ends clamp to σ_min, span 0.01
    intervals.emplace_back(3.0, 3.0);    // empty: span 1e-12
    intervals.emplace_back(lo + 0.5 * (hi - lo), hi);  // the root's midpoint (t = m)
    for (const auto& [a, b] : intervals) {
      INFO("seed " << seed << ", [" << a << ", " << b << "]");
      tree(z, a, b);
      const fvec r = ref(a, b);
      REQUIRE(std::memcmp(z.data(), r.data(), 16 * sizeof(float)) == 0);
    }
    // Double states get the same floats, widened.
    vec zd(16);
    tree(zd, sigmas[3], sigmas[4]);
    const fvec r = ref(sigmas[3], sigmas[4]);
    for (std::size_t i = 0; i < 16; ++i) REQUIRE(zd[i] == double(r[i]));
  }
  // The seed sd.cpp's sample_dpmpp_2m_sde_bt makes of two float draws (memcpy of randn(2)).
  const float a = 0.3f, b = -1.7f;
  std::uint64_t expected = 0;
  const float both[2] = {a, b};
  std::memcpy(&expected, both, sizeof expected);
  REQUIRE(stork::brownian_tree_noise::seed_from_draws(a, b) == expected);
}

TEST_CASE("brownian_tree_noise: the Brownian property, and one path at every step count", "[brownian_tree]") {
  const double lo = 0.0292, hi = 14.6146;
  stork::brownian_tree_noise tree(64, lo, hi, 7);
  auto increment = [&tree](double a, double b) {  // W(b) − W(a) (a < b): the draw times √(b − a)
    vec z(64);
    tree(z, b, a);
    for (double& v : z) v *= double(std::sqrt(static_cast<float>(b - a)));
    return z;
  };
  // W(c) − W(a) = (W(c) − W(b)) + (W(b) − W(a)) to float rounding, at arbitrary points.
  double worst = 0.0;
  for (const auto& [a, b, c] :
       std::vector<std::array<double, 3>>{{0.1, 1.0, 5.0}, {lo, 2.0, hi}, {3.3, 3.31, 9.0}}) {
    const vec whole = increment(a, c), left = increment(a, b), right = increment(b, c);
    vec sum(64);
    for (std::size_t i = 0; i < 64; ++i) sum[i] = left[i] + right[i];
    worst = std::max(worst, diff(sum, whole));
  }
  report("Brownian property: worst %.3g", worst);
  REQUIRE(worst < 1e-5);
  // One path at two step counts: every coarse draw, times √ of its interval, is the sum of the fine draws in
  // it, each times √ of its own (a karras grid of 8 steps and the grid with each interval halved in σ).
  const vec coarse = stork::karras_sigmas(8, {.sigma_min = lo, .sigma_max = hi, .rho = 7.0});
  vec fine;
  for (std::size_t i = 0; i + 2 < coarse.size(); ++i) {
    fine.push_back(coarse[i]);
    fine.push_back(0.5 * (coarse[i] + coarse[i + 1]));
  }
  fine.push_back(coarse[coarse.size() - 2]);
  stork::brownian_tree_noise a(64, lo, hi, 11), b(64, lo, hi, 11);
  for (std::size_t i = 0; i + 2 < coarse.size(); ++i) {
    vec zc(64), z1(64), z2(64);
    a(zc, coarse[i], coarse[i + 1]);
    b(z1, fine[2 * i], fine[2 * i + 1]);
    b(z2, fine[2 * i + 1], fine[2 * i + 2]);
    vec lhs(64), rhs(64);
    for (std::size_t k = 0; k < 64; ++k) {
      lhs[k] = zc[k] * std::sqrt(coarse[i] - coarse[i + 1]);
      rhs[k] = z1[k] * std::sqrt(fine[2 * i] - fine[2 * i + 1]) +
               z2[k] * std::sqrt(fine[2 * i + 1] - fine[2 * i + 2]);
    }
    INFO("coarse interval " << i);
    REQUIRE(diff(lhs, rhs) < 1e-5);
  }
  // Another seed, another path.
  stork::brownian_tree_noise other(64, lo, hi, 12);
  vec z1(64), z2(64);
  a(z1, 1.0, 2.0);
  other(z2, 1.0, 2.0);
  REQUIRE(diff(z1, z2) > 0.1);
}

TEST_CASE("brownian_tree_noise: standard-normal draws, independent over disjoint intervals",
          "[brownian_tree]") {
  // 4096 values over the 20 intervals of a karras grid: each interval's draws have mean 0 and variance 1,
  // and the draws of neighbouring intervals are uncorrelated (bounds 4.5 standard errors).
  const std::size_t n = 4096;
  const vec sigmas = stork::karras_sigmas(20, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0});
  stork::brownian_tree_noise tree(n, 0.0292, 14.6146, 3);
  vec prev;
  for (std::size_t i = 0; i + 2 < sigmas.size(); ++i) {
    vec z(n);
    tree(z, sigmas[i], sigmas[i + 1]);
    double m = 0, v = 0, cov = 0;
    for (const double x : z) m += x / double(n);
    for (const double x : z) v += (x - m) * (x - m) / double(n - 1);
    INFO("interval " << i << ": mean " << m << ", variance " << v);
    REQUIRE(std::abs(m) < 4.5 / std::sqrt(double(n)));
    REQUIRE(std::abs(v - 1.0) < 4.5 * std::sqrt(2.0 / double(n)));
    if (!prev.empty()) {
      for (std::size_t k = 0; k < n; ++k) cov += z[k] * prev[k] / double(n);
      REQUIRE(std::abs(cov) < 4.5 / std::sqrt(double(n)));
    }
    prev = z;
  }
}

TEST_CASE("brownian_tree_noise: bad input", "[brownian_tree][error]") {
  REQUIRE_THROWS_WITH(stork::brownian_tree_noise(4, -1.0, 2.0, 0), Catch::Contains("sigma_min = -1"));
  REQUIRE_THROWS_WITH(stork::brownian_tree_noise(4, 1.0, 1.0, 0), Catch::Contains("sigma_max = 1"));
  REQUIRE_THROWS_WITH(stork::brownian_tree_noise(4, 0.0, std::numeric_limits<double>::infinity(), 0),
                      Catch::Contains("sigma_max = inf"));
  REQUIRE_THROWS_WITH(stork::brownian_tree_noise(vec(4), vec{1.0, 0.0}, 0),
                      Catch::Contains("sigmas.size() = 2"));
  stork::brownian_tree_noise tree(4, 0.1, 2.0, 0);
  vec z(5);
  REQUIRE_THROWS_WITH(tree(z, 1.0, 0.5), Catch::Contains("state size = 5") && Catch::Contains("built for 4"));
  z.resize(4);
  REQUIRE_THROWS_WITH(tree(z, std::nan(""), 0.5), Catch::Contains("sigma_from = nan"));
  // The grid constructor spans the grid's positive σ.
  const stork::brownian_tree_noise g(vec(3), vec{14.0, 3.0, 0.5, 0.0}, 1);
  REQUIRE(g.sigma_min() == 0.5);
  REQUIRE(g.sigma_max() == 14.0);
}

TEST_CASE("dpmpp_2m_sde_bt: stable-diffusion.cpp's sample_dpmpp_2m_sde_bt with its tree",
          "[dpmpp_2m_sde_bt][sdcpp]") {
  // sd.cpp: the tree over [the smallest σ > 0, the largest] seeded from two draws of its RNG; the steps
  // are sample_dpmpp_2m_sde's, the noise the tree's draw over [σ_i, σ_{i+1}]. stork: dpmpp_2m_sde_bt with a
  // brownian_tree_noise built the same way (VE; flow with flow_rule::sd_cpp, sd.cpp's). Double: the same
  // float draws, the steps in double, to 1e-12; float: sd.cpp's float steps, bound float_bound.
  const std::uint64_t seed = stork::brownian_tree_noise::seed_from_draws(0.25f, -0.75f);
  double worst = 0.0, worst_f = 0.0;
  for (const convention c : {convention::ve, convention::flow}) {
    for (const int steps : {5, 12, 30}) {
      for (const double eta : {1.0, 0.5}) {
        INFO(name_of(c) << ", " << steps << " steps, eta " << eta);
        const stork::dpmpp_2m_sde_bt m{.eta = eta, .s_noise = 1.0, .flow = stork::flow_rule::sd_cpp};
        {
          const vec sigmas = grid_of(c, steps), x0 = start_of(c);
          double lo = 1e300, hi = 0;
          for (const double s : sigmas)
            if (s > 0) lo = std::min(lo, s), hi = std::max(hi, s);
          sdcpp::brownian_tree ref_tree(16, lo, hi, seed);
          std::size_t calls = 0, ref_draws = 0, draws = 0;
          sdcpp::randn<double> rng = [&](double a, double b) {
            ++ref_draws;
            const fvec z = ref_tree(a, b);
            return vec(z.begin(), z.end());
          };
          sdcpp::denoiser<double> den = [c](const vec& x, double s, vec& d) {
            single_denoised<double>(c, x, s, d);
          };
          const vec ref = sdcpp::sample_dpmpp_2m_sde(den, x0, sigmas, rng, eta, calls);
          stork::brownian_tree_noise tree(x0, sigmas, seed);
          auto counted = [&](vec& z, double a, double b) {
            ++draws;
            tree(z, a, b);
          };
          const vec x = run_single<double>(m, c, sigmas, x0, counted);
          const double d = diff(x, ref);
          worst = std::max(worst, d);
          INFO("double " << d);
          REQUIRE(d < 1e-12);
          REQUIRE(draws == ref_draws);
          REQUIRE(draws == sigmas.size() - 2);
        }
        {
          const vec sigmas = rounded<float>(grid_of(c, steps));
          const fvec sf = as<float>(sigmas), x0 = as<float>(start_of(c));
          double lo = 1e300, hi = 0;
          for (const float s : sf)
            if (s > 0) lo = std::min(lo, double(s)), hi = std::max(hi, double(s));
          sdcpp::brownian_tree ref_tree(16, lo, hi, seed);
          std::size_t calls = 0;
          sdcpp::randn<float> rng = [&](double a, double b) { return ref_tree(a, b); };
          sdcpp::denoiser<float> den = [c](const fvec& x, float s, fvec& d) {
            single_denoised<float>(c, x, s, d);
          };
          const fvec ref = sdcpp::sample_dpmpp_2m_sde(den, x0, sf, rng, float(eta), calls);
          sdcpp::brownian_tree ref_tree_d(16, lo, hi, seed);
          sdcpp::randn<double> rng_d = [&](double a, double b) { return as<double>(ref_tree_d(a, b)); };
          sdcpp::denoiser<double> den_d = [c](const vec& x, double s, vec& d) {
            single_denoised<double>(c, x, s, d);
          };
          const vec ref_d = sdcpp::sample_dpmpp_2m_sde(den_d, as<double>(x0), sigmas, rng_d, eta, calls);
          const fvec x = run_single<float>(m, c, sigmas, x0, stork::brownian_tree_noise(x0, sigmas, seed));
          const double d = diff(x, ref), bound = float_bound(diff(ref, ref_d));
          worst_f = std::max(worst_f, d);
          INFO("float " << d << ", bound " << bound);
          REQUIRE(d < bound);
        }
      }
    }
  }
  report("dpmpp_2m_sde_bt vs sd.cpp: worst %.3g (double), %.3g (float)", worst, worst_f);
}

TEST_CASE("dpmpp_2m_sde_bt: the same seed gives nearby samples at different step counts",
          "[dpmpp_2m_sde_bt]") {
  // The point of the tree: the noise is one Brownian path, so refining the grid refines one trajectory. With
  // independent draws per step the samples at 20 and 40 steps are unrelated; with the tree they converge
  // toward one another.
  const vec x0 = start_of(convention::ve);
  auto sample = [&](int steps, bool tree) {
    const vec sigmas = grid_of(convention::ve, steps);
    if (tree)
      return run_single<double>(stork::dpmpp_2m_sde_bt{}, convention::ve, sigmas, x0,
                                stork::brownian_tree_noise(x0, sigmas, 5));
    return run_single<double>(stork::dpmpp_2m_sde_bt{}, convention::ve, sigmas, x0, stork::normal_noise{5});
  };
  const double tree_gap = diff(sample(40, true), sample(80, true)),
               plain_gap = diff(sample(40, false), sample(80, false));
  report("40 vs 80 steps: Brownian tree %.3g, independent draws %.3g", tree_gap, plain_gap);
  REQUIRE(tree_gap < 0.25 * plain_gap);
  REQUIRE(diff(sample(80, true), sample(160, true)) < tree_gap);
}

TEST_CASE("dpmpp_2m_sde_bt: a plain source is called without the interval; the steps are dpmpp_2m_sde's",
          "[dpmpp_2m_sde_bt]") {
  const vec sigmas = grid_of(convention::ve, 10), x0 = start_of(convention::ve);
  REQUIRE(same_bits(run_single<double>(stork::dpmpp_2m_sde_bt{.eta = 0.7}, convention::ve, sigmas, x0,
                                       stork::normal_noise{4}),
                    run_single<double>(stork::dpmpp_2m_sde{.eta = 0.7}, convention::ve, sigmas, x0,
                                       stork::normal_noise{4})));
  // The interval a source is handed: the grid interval of the draw, in grid order.
  std::vector<std::pair<double, double>> seen;
  auto source = [&seen](vec& z, double a, double b) {
    seen.emplace_back(a, b);
    std::fill(z.begin(), z.end(), 0.1);
  };
  run_single<double>(stork::dpmpp_2m_sde_bt{}, convention::ve, sigmas, x0, source);
  REQUIRE(seen.size() == sigmas.size() - 2);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    REQUIRE(seen[i].first == sigmas[i]);
    REQUIRE(seen[i].second == sigmas[i + 1]);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cross-cutting checks of the CFG++ methods (their model has two outputs, so the generic catalogue,
// float32 and determinism tests, which run one-output models, leave them to this file).

TEST_CASE("cfg_pp methods: determinism, both fronts, Eigen, float32 and no allocation",
          "[cfg_pp][determinism][float32][alloc]") {
  for_each_cfg_pp_method([](const auto& nm) {
    for (const convention c : {convention::ve, convention::flow}) {
      INFO(nm.name << ", " << name_of(c));
      const vec grid = grid_of(c, 10), x0 = start_of(c);
      using M = std::decay_t<decltype(nm.method)>;
      auto run = [&](auto... n) { return run_cfg<double>(nm.method, c, grid, x0, n...); };
      const vec a = with_noise<M>(9, run);
      REQUIRE(same_bits(with_noise<M>(9, run), a));
      REQUIRE(same_bits(
          with_noise<M>(9, [&](auto... n) { return loop_cfg<double>(nm.method, c, grid, x0, false, n...); }),
          a));
      REQUIRE(same_bits(
          with_noise<M>(9, [&](auto... n) { return loop_cfg<double>(nm.method, c, grid, x0, true, n...); }),
          a));
      // Eigen states: the same bits.
      Eigen::VectorXd e = Eigen::Map<const Eigen::VectorXd>(x0.data(), Eigen::Index(x0.size()));
      auto model = [c](const Eigen::VectorXd& y, double t, Eigen::VectorXd& o, Eigen::VectorXd& u) {
        const vec yv(y.data(), y.data() + y.size());
        vec ov(yv.size()), uv(yv.size());
        outputs<double>(c, yv, t, ov, uv);
        o = Eigen::Map<const Eigen::VectorXd>(ov.data(), o.size());
        u = Eigen::Map<const Eigen::VectorXd>(uv.data(), u.size());
      };
      with_noise<M>(9, [&](auto... n) {
        if (c == convention::ve)
          return stork::integrate(nm.method, stork::field(model, stork::ve{}), e, grid, n...);
        return stork::integrate(nm.method, model, e, grid, n...);
      });
      REQUIRE(std::memcmp(e.data(), a.data(), a.size() * sizeof(double)) == 0);
      // float states within 1e-5 of double (float32_test's bound), and not vacuously.
      const fvec f = with_noise<M>(
          9, [&](auto... n) { return run_cfg<float>(nm.method, c, grid, as<float>(x0), n...); });
      const double d = diff(f, a);
      INFO("float vs double " << d);
      REQUIRE(d < 1e-5);
      REQUIRE(d > 0.0);
      // No allocation while stepping (the model computes outside the count).
      vec x = x0, out(16), unc(16);
      auto go = [&](auto sch) {
        while (!sch.done()) {
          outputs<double>(c, x, sch.time(), out, unc);
          const std::size_t mark = allocation_count();
          sch.step(out, unc, x);
          REQUIRE(allocation_count() == mark);
        }
      };
      with_noise<M>(1, [&](auto... n) {
        if (c == convention::ve)
          go(stork::make_scheduler(nm.method, grid, x, stork::ve{}, n...));
        else
          go(stork::make_scheduler(nm.method, grid, x, n...));
      });
    }
  });
}

TEST_CASE("cfg_pp methods: bad options and grids throw stork::error naming them, x unchanged",
          "[cfg_pp][catalogue][error]") {
  const vec x0 = start_of(convention::flow);
  auto check = [&](auto m, const vec& grid, const char* param, const char* value) {
    vec x = x0;
    INFO(param << " = " << value);
    REQUIRE_THROWS_WITH(
        with_noise<decltype(m)>(
            1, [&](auto... n) { return run_cfg<double>(m, convention::flow, grid, x, n...); }),
        Catch::Contains(std::string(param) + " = " + value));
    REQUIRE(same_bits(x, x0));
  };
  const vec flow = grid_of(convention::flow, 6);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  check(stork::euler_a_cfg_pp{.eta = -1.0}, flow, "eta", "-1");
  check(stork::euler_a_cfg_pp{.eta = nan}, flow, "eta", "nan");
  check(stork::euler_a_cfg_pp{.s_noise = -0.5}, flow, "s_noise", "-0.5");
  check(stork::euler_a_cfg_pp{.flow = static_cast<stork::flow_rule>(9)}, flow, "flow", "9");
  check(stork::euler_cfg_pp{.flow = static_cast<stork::flow_rule>(9)}, flow, "flow", "9");
  for_each_cfg_pp_method([&](const auto& nm) {
    INFO(nm.name);
    check(nm.method, vec{0.2, 0.5, 0.9}, "times[1]", "0.5");       // rising: noise → data only
    check(nm.method, vec{1.0}, "times.size()", "1");               // one point
    check(nm.method, vec{1.0, nan, 0.0}, "times[1]", "nan");       // not finite
    check(nm.method, vec{1.0, 0.5, 0.5, 0.0}, "times[2]", "0.5");  // not strictly monotone
  });
  // euler_ge's own option.
  vec x = x0;
  REQUIRE_THROWS_WITH(
      run_single<double>(stork::euler_ge{.gamma = nan}, convention::flow, flow, x, stork::normal_noise{1}),
      Catch::Contains("euler_ge: gamma = nan"));
  REQUIRE_THROWS_WITH(
      run_single<double>(stork::euler_ge{.eta = -0.1}, convention::flow, flow, x, stork::normal_noise{1}),
      Catch::Contains("euler_ge: eta = -0.1"));
  REQUIRE_THROWS_WITH(run_single<double>(stork::dpmpp_2m_sde_bt{.flow = static_cast<stork::flow_rule>(5)},
                                         convention::flow, flow, x, stork::normal_noise{1}),
                      Catch::Contains("dpmpp_2m_sde_bt: flow = 5"));
}

TEST_CASE("euler_ge, dpmpp_2m_sde_bt: no allocation while stepping, the Brownian tree included",
          "[euler_ge][dpmpp_2m_sde_bt][alloc]") {
  for (const convention c : {convention::ve, convention::flow}) {
    const vec grid = grid_of(c, 8);
    auto check = [&](const auto& m, auto noise) {
      vec x = start_of(c), out(16);
      auto go = [&](auto sch) {
        while (!sch.done()) {
          single<double>(c, x, sch.time(), out);
          const std::size_t mark = allocation_count();
          sch.step(out, x);
          REQUIRE(allocation_count() == mark);
        }
      };
      if (c == convention::ve)
        go(stork::make_scheduler(m, grid, x, stork::ve{}, noise));
      else
        go(stork::make_scheduler(m, grid, x, noise));
    };
    INFO(name_of(c));
    check(stork::euler_ge{}, stork::normal_noise{1});
    check(stork::euler_ge{.eta = 1.0}, stork::normal_noise{1});
    check(stork::dpmpp_2m_sde_bt{}, stork::brownian_tree_noise(start_of(c), grid, 3));
  }
}
