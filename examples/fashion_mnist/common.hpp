/// @file
/// @brief Example code (not part of the library): pieces shared by the Fashion-MNIST loader, weight files
/// and trainers — CRC-32, a platform-independent random number generator and the error helper.
#pragma once

#include <sys/resource.h>
#include <stork/error.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <string_view>

namespace fashion_mnist {

/// CPU time this process has spent in user mode, in seconds (the trainers report it beside wall time).
inline double user_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec);
}

/// Throws stork::error("stork: fashion_mnist::<where>: <source>: <why>"): every failure names the function,
/// the file (or stream) and the problem.
[[noreturn]] inline void fail(std::string_view where, std::string_view source, std::string_view why) {
  std::string msg = "stork: fashion_mnist::";
  msg.append(where).append(": ").append(source).append(": ").append(why);
  throw stork::error(msg);
}

namespace detail {
inline constexpr std::array<std::uint32_t, 256> crc32_table = [] {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}();
}  // namespace detail

/// @brief CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, the one gzip and PNG use), continuing from
/// `crc` (0 to start). Check value: crc32("123456789") = 0xCBF43926.
inline std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0) {
  crc = ~crc;
  for (std::uint8_t b : bytes) crc = detail::crc32_table[(crc ^ b) & 0xFFU] ^ (crc >> 8);
  return ~crc;
}

/// Hexadecimal with `digits` digits, e.g. hex(0x1f, 2) = "1f".
inline std::string hex(std::uint64_t v, int digits) {
  std::string s(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4)
    s[static_cast<std::size_t>(i)] = "0123456789abcdef"[v & 0xFU];
  return s;
}

/// @brief Deterministic random numbers (splitmix64, Box–Muller normals): the same stream on every platform
/// and standard library, unlike the `<random>` distributions.
class rng {
 public:
  explicit rng(std::uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in (0, 1).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  /// Uniform integer in [0, n) (n ≥ 1; the modulo bias is below 2⁻⁴⁰ for n < 2²⁴).
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  /// Standard normal.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform())), th = 2.0 * std::numbers::pi * uniform();
    spare_ = r * std::sin(th);
    has_spare_ = true;
    return r * std::cos(th);
  }

 private:
  std::uint64_t s_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace fashion_mnist
