/// @file
/// @brief `stork::brownian_tree_noise`: stable-diffusion.cpp's seeded Brownian tree, a noise source whose
/// draws depend on the interval [σ_from, σ_to], not on the step count (for `stork::dpmpp_2m_sde_bt`).
///
/// Standard library only; for contiguous floating-point states (`std::vector<float>`,
/// `std::vector<double>`, dense Eigen objects).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include "stork/detail/span.hpp"
#include "stork/error.hpp"

namespace stork {

namespace detail {
/// A contiguous state of floating-point values: `out.data()` points at `out.size()` of them.
template <class S, class = void>
struct is_contiguous_floating : std::false_type {};
template <class S>
struct is_contiguous_floating<
    S, std::void_t<decltype(std::declval<S&>().data()), decltype(std::declval<S&>().size())>>
    : std::is_floating_point<
          std::remove_cv_t<std::remove_reference_t<decltype(*std::declval<S&>().data())>>> {};
}  // namespace detail

/// @brief A Brownian motion W on [σ_min, σ_max] fixed by a seed, sampled lazily by bisection: the noise
/// source `noise(out, σ_from, σ_to)` returns (W(b) − W(a))/√|σ_to − σ_from|, a standard-normal draw, with
/// a = min and b = max of the two σ clamped to [σ_min, σ_max].
///
/// The construction is stable-diffusion.cpp's `BrownianTreeNoiseSampler` (leejet/stable-diffusion.cpp,
/// src/runtime/denoiser.hpp; after torchsde's BrownianTree as k-diffusion's `BrownianTreeNoiseSampler`
/// uses it), step for step: W(σ_min) = 0 and W(σ_max) = √(σ_max − σ_min)·z₀, z₀ drawn with the seed
/// mix64(seed, 0xBF58476D1CE4E5B9); W(t) bisects [σ_min, σ_max] 24 times toward t, each midpoint m of [a, c]
/// the Brownian bridge W(m) = ½(W(a) + W(c)) + √((c − m)(m − a)/(c − a))·z drawn with the node's seed (the
/// root's mix64(seed, 0x9E3779B97F4A7C15), the children's mix64(parent, 1) and mix64(parent, 2)), stopping
/// early at t = m or when c − a < 1e-9, and interpolating linearly in the last interval. Every z is
/// `std::normal_distribution<float>` on `std::default_random_engine` seeded with the low 32 bits of the
/// node's seed (sd.cpp's `STDDefaultRNG`), a fresh distribution per node, and every operation is the same
/// float operation in the same order: the draws are sd.cpp's bit for bit when both are built with the same
/// standard library (the engine and the normal distribution are implementation-defined: libstdc++, libc++
/// and MSVC each have their own) and without FMA contraction of the float expressions (x86-64's default).
/// Float states get those floats; double states the same floats, widened.
///
/// The Brownian property, exactly as the tree defines it: W(c) − W(a) = (W(c) − W(b)) + (W(b) − W(a)), so the
/// draw over [a, c] times √(c − a) is the sum of the draws over [a, b] and [b, c], each times the square root
/// of its length (to float rounding): a coarse grid sees the sum of a fine grid's increments, and the same
/// seed gives the same path at every step count. Differences from sd.cpp: it caches every W(t) it computed
/// (a std::map of tensors); this source keeps the last two (a sampler asks for W(σ_n) and W(σ_{n+1}), then
/// W(σ_{n+1}) again), which changes the cost, not the values. k-diffusion/ComfyUI (torchsde) draw other
/// numbers (another RNG and tree), with the same law; their sign convention is W(σ_to) − W(σ_from), sd.cpp's
/// (and this) W(max) − W(min).
/// @code
/// stork::brownian_tree_noise tree(x, sigmas, seed);  // the tree over the grid's σ range
/// stork::integrate(stork::dpmpp_2m_sde_bt{}, f, x, sigmas, std::ref(tree));
/// @endcode
/// @par Cost: a draw computes W at both ends unless cached: per new point 24 levels of one N(0, 1) float per
/// value (`std::normal_distribution`) and two float operations per value, so a sampler step costs about 24
/// normal draws per value; no allocation after construction (5 float buffers of the state's size).
class brownian_tree_noise {
 public:
  /// A tree for states of `size` values over [sigma_min, sigma_max] (0 <= sigma_min < sigma_max, finite).
  brownian_tree_noise(std::size_t size, double sigma_min, double sigma_max, std::uint64_t seed)
      : t_min_(sigma_min), t_max_(sigma_max), root_seed_(mix64(seed, 0x9E3779B97F4A7C15ULL)) {
    if (!(std::isfinite(sigma_min) && sigma_min >= 0.0))
      detail::fail("brownian_tree_noise", "sigma_min", sigma_min, "it must be finite and >= 0");
    if (!(std::isfinite(sigma_max) && sigma_max > sigma_min))
      detail::fail("brownian_tree_noise", "sigma_max", sigma_max,
                   "it must be finite and above sigma_min = " + detail::describe(sigma_min));
    w_max_.resize(size);
    normals(w_max_.data(), size, mix64(seed, 0xBF58476D1CE4E5B9ULL));
    const float scale = std::sqrt(static_cast<float>(t_max_ - t_min_));
    for (float& w : w_max_) w = w * scale;
    for (auto* b : {&wa_, &wc_}) b->resize(size);
    for (cached& c : cache_) c.w.resize(size);
  }

  /// The tree stable-diffusion.cpp's `sample_dpmpp_2m_sde_bt` builds for a grid: states shaped like `like`,
  /// over [the smallest σ > 0 of `sigmas`, the largest].
  template <class S>
  brownian_tree_noise(const S& like, span<const double> sigmas, std::uint64_t seed)
      : brownian_tree_noise(static_cast<std::size_t>(like.size()), range_of(sigmas).first,
                            range_of(sigmas).second, seed) {}

  /// stable-diffusion.cpp's tree seed from its sampler RNG: two floats drawn (`rng->randn(2)`) whose 8 bytes
  /// are copied into a 64-bit integer (the first float in the low 32 bits, as memcpy on a little-endian
  /// machine does).
  static std::uint64_t seed_from_draws(float first, float second) noexcept {
    std::uint32_t lo = 0, hi = 0;
    std::memcpy(&lo, &first, sizeof lo);
    std::memcpy(&hi, &second, sizeof hi);
    return static_cast<std::uint64_t>(lo) | (static_cast<std::uint64_t>(hi) << 32);
  }

  /// Fills `out` with (W(b) − W(a))/√max(|sigma_to − sigma_from|, 1e-12), a = min(σ) and b = max(σ) clamped
  /// to the tree's range. Throws stork::error for a state of another size or a non-finite σ.
  template <class S>
  void operator()(S& out, double sigma_from, double sigma_to) {
    static_assert(detail::is_contiguous_floating<S>::value,
                  "stork: brownian_tree_noise fills contiguous floating-point states (std::vector<float>, "
                  "std::vector<double>, dense Eigen objects)");
    const auto n = static_cast<std::size_t>(out.size());
    if (n != w_max_.size())
      detail::fail("brownian_tree_noise", "state size", n,
                   "the tree was built for " + std::to_string(w_max_.size()));
    if (!std::isfinite(sigma_from) || !std::isfinite(sigma_to))
      detail::fail("brownian_tree_noise", std::isfinite(sigma_from) ? "sigma_to" : "sigma_from",
                   std::isfinite(sigma_from) ? sigma_to : sigma_from, "it must be finite");
    const double a = clamp(std::min(sigma_from, sigma_to)), b = clamp(std::max(sigma_from, sigma_to));
    const std::vector<float>& wb = w(b);
    const std::vector<float>& wa = w(a);  // a miss takes the other cache slot: wb stays valid
    const float length = static_cast<float>(std::max(std::abs(sigma_to - sigma_from), 1e-12));
    const float inv = 1.0f / std::sqrt(length);
    auto* p = out.data();
    using T = std::remove_cv_t<std::remove_reference_t<decltype(*p)>>;
    for (std::size_t i = 0; i < n; ++i) {
      const float dw = wb[i] - wa[i];
      p[i] = static_cast<T>(dw * inv);
    }
  }

  /// The tree's range.
  double sigma_min() const noexcept { return t_min_; }
  double sigma_max() const noexcept { return t_max_; }

 private:
  static constexpr int max_depth = 24;

  struct cached {
    double t = std::nan("");
    std::vector<float> w;
  };

  static std::pair<double, double> range_of(span<const double> sigmas) {
    double lo = std::numeric_limits<double>::infinity(), hi = 0.0;
    for (const double s : sigmas)
      if (s > 0.0) lo = std::min(lo, s), hi = std::max(hi, s);
    if (!(hi > lo))
      detail::fail("brownian_tree_noise", "sigmas.size()", sigmas.size(),
                   "the grid needs two different values above 0 to span a tree");
    return {lo, hi};
  }

  /// stable-diffusion.cpp's `mix64` (the splitmix64 finaliser of v + salt).
  static std::uint64_t mix64(std::uint64_t v, std::uint64_t salt) noexcept {
    std::uint64_t z = v + salt;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  /// n draws of `std::normal_distribution<float>` from `std::default_random_engine` seeded with
  /// `(unsigned int)seed`: sd.cpp's `STDDefaultRNG::manual_seed` then `randn(n)`.
  static void normals(float* out, std::size_t n, std::uint64_t seed) {
    std::default_random_engine generator;
    generator.seed(static_cast<unsigned int>(seed));
    std::normal_distribution<float> distribution(0.0f, 1.0f);
    for (std::size_t i = 0; i < n; ++i) out[i] = distribution(generator);
  }

  double clamp(double t) const noexcept { return std::min(std::max(t, t_min_), t_max_); }

  /// W(t), from the cache or by bisection (sd.cpp's `bridge`, iterated) into the least recently used of the
  /// two cache slots.
  const std::vector<float>& w(double t) {
    for (std::size_t k = 0; k < cache_.size(); ++k)
      if (cache_[k].t == t) {
        recent_ = k;
        return cache_[k].w;
      }
    recent_ = 1 - recent_;
    cached& slot = cache_[recent_];
    slot.t = std::nan("");  // invalid until written
    std::fill(wa_.begin(), wa_.end(), 0.0f);
    std::copy(w_max_.begin(), w_max_.end(), wc_.begin());
    double a = t_min_, c = t_max_;
    std::uint64_t seed = root_seed_;
    const std::size_t n = w_max_.size();
    for (int depth = max_depth;; --depth) {
      if (depth <= 0 || c - a < 1e-9) {
        const float alpha = c > a ? static_cast<float>((t - a) / (c - a)) : 0.5f, beta = 1.0f - alpha;
        for (std::size_t i = 0; i < n; ++i) {
          const float left = beta * wa_[i], right = alpha * wc_[i];
          slot.w[i] = left + right;
        }
        break;
      }
      const double m = 0.5 * (a + c);
      const float sd = static_cast<float>(std::sqrt((c - m) * (m - a) / (c - a)));
      // W(m) replaces the end on the side t is not on; at t = m it is the answer.
      std::vector<float>& wm = t == m ? slot.w : (t < m ? wc_ : wa_);
      std::default_random_engine generator;
      generator.seed(static_cast<unsigned int>(seed));
      std::normal_distribution<float> distribution(0.0f, 1.0f);
      for (std::size_t i = 0; i < n; ++i) {
        const float z = distribution(generator);
        const float sum = wa_[i] + wc_[i], half = 0.5f * sum, step = sd * z;
        wm[i] = half + step;
      }
      if (t == m) break;
      if (t < m)
        c = m, seed = mix64(seed, 1);
      else
        a = m, seed = mix64(seed, 2);
    }
    slot.t = t;
    return slot.w;
  }

  double t_min_, t_max_;
  std::uint64_t root_seed_;
  std::vector<float> w_max_, wa_, wc_;
  std::array<cached, 2> cache_{};
  std::size_t recent_ = 1;  // the slot used last
};

}  // namespace stork
