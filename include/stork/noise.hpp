/// @file
/// @brief `stork::normal_noise`: a seeded source of standard-normal draws for the stochastic samplers, for
/// contiguous floating-point states (`std::vector<float>`, `std::vector<double>`, dense Eigen objects).
///
/// The samplers never draw random numbers themselves: the engine passes a noise source `noise(S& out)` that
/// fills `out` with independent N(0, 1) values (a GPU engine uses its own device RNG). This is a small
/// convenience source for CPU states; standard library only.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <type_traits>
#include <utility>

#include "stork/detail/type_traits.hpp"

namespace stork {

namespace detail {
/// A contiguous state of floating-point values: `out.data()` points at `out.size()` of them.
template <class S>
using data_element_t = remove_cvref_t<decltype(*std::declval<S&>().data())>;
template <class S>
using size_member_t = decltype(std::declval<S&>().size());
template <class S>
inline constexpr bool contiguous_floating =
    is_detected_v<size_member_t, S>&& std::is_floating_point_v<detected_t<data_element_t, S>>;
}  // namespace detail

/// @brief A seeded stream of independent standard-normal draws: `noise(out)` fills `out` with the next
/// `size()` values of the stream, in memory order.
///
/// The stream is `std::mt19937_64` (whose output the C++ standard fixes) turned into N(0, 1) by Box–Muller
/// in double (two uniforms (k + ½)/2⁵³ from the top 53 bits of two outputs give two draws, used in turn), so
/// draw i of a seed is the same whatever the sizes of the states it was split into, on every platform
/// whose `log`, `sqrt`, `cos` and `sin` round alike (float states get the double draw rounded).
/// The samplers hold a copy of their noise source: pass `std::ref(noise)` to `integrate`/`make_scheduler`
/// to go on with one stream across runs.
/// @code
/// stork::integrate(stork::euler_ancestral{}, f, x, sigmas, stork::normal_noise{42});
/// @endcode
/// @par Cost: per value one 64-bit Mersenne Twister output and half a Box–Muller transform (a log, a square
/// root and a cos or sin); no allocation.
class normal_noise {
 public:
  /// The stream of `seed` (`std::mt19937_64` seeded with it).
  explicit normal_noise(std::uint64_t seed = 0) : engine_(seed) {}

  /// Fills `out` with the next `out.size()` draws of the stream.
  template <class S, std::enable_if_t<detail::contiguous_floating<S>, int> = 0>
  void operator()(S& out) {
    using T = detail::remove_cvref_t<decltype(*out.data())>;
    auto* p = out.data();
    const auto n = static_cast<std::size_t>(out.size());
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(next());
  }

  /// The next draw of the stream.
  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = uniform(), u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1)), theta = 2.0 * pi * u2;
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }

 private:
  static constexpr double pi = 3.141592653589793238462643383279502884;  // std::numbers::pi (C++20)

  /// (k + ½)/2⁵³ from the top 53 bits: in (0, 1), never 0 (log) nor 1.
  double uniform() { return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1p-53; }

  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace stork
