/// @file
/// @brief Internal: the fused linear-combination kernel for contiguous floating-point storage.
///
/// Arithmetic is in the state's own scalar type, never narrower than float (`arithmetic_t<T>`): each
/// double coefficient is rounded to it once per call and every element is accumulated in it. Double
/// states therefore compute exactly as before (double coefficients, double accumulation); float states
/// run at the full SIMD width of float, which is what makes them as fast as a plain float loop.
///
/// Accuracy of a float state with k terms: |out − Σ a_k·x_k| ≤ γ_{k+1}·Σ|a_k·x_k|, where u = 2⁻²⁴ and
/// γ_m = m·u/(1 − m·u). Each term goes through at most k + 1 roundings (its coefficient, its product,
/// k − 1 partial sums; Higham, Accuracy and Stability of Numerical Algorithms, §3.1). The error is
/// relative to the sizes of the terms, not of the result: a combination that cancels (1 + 1e-8 − 1)
/// keeps only the float accuracy of its terms, as a float loop does. Double states: the same with
/// u = 2⁻⁵³ and exact coefficients.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include "stork/detail/span.hpp"

namespace stork::detail {

/// The type a state of scalar T is computed in: T itself, but at least float (a narrower T would lose
/// too much in the sums).
template <class T>
using arithmetic_t = std::common_type_t<T, float>;

#if defined(__GNUC__)  // GCC and clang: explicit SIMD through the vector extensions
/// Float SIMD register: 32 bytes where AVX is enabled, else 16 (SSE2 on x86-64, NEON on AArch64; other
/// targets lower it to what they have). Explicit because GCC 12 at -O2 does not vectorise a loop
/// whose trip count is unknown (its very-cheap cost model refuses the scalar epilogue), and -O2 is
/// the build type most users have.
#if defined(__AVX__)
inline constexpr std::size_t simd_float_bytes = 32;
#else
inline constexpr std::size_t simd_float_bytes = 16;
#endif
typedef float simd_float __attribute__((vector_size(simd_float_bytes)));
inline constexpr std::size_t simd_float_lanes = simd_float_bytes / sizeof(float);

/// c[K]·x, or x itself for the first term when its coefficient is 1 (`Unit`): the same value, one
/// multiplication less (the common x + Σ w_k·F_k of Euler, STORK on flows and iPNDM).
template <bool Unit, std::size_t K, class V, class C>
V scaled_term(const C* c, const V* x) {
  if constexpr (Unit && K == 0)
    return x[0];
  else
    return c[K] * x[K];
}

/// out[i] = Σ_k c[k]·p[k][i] for n floats: pairs of whole vectors (two per iteration: the loop overhead
/// is then small enough that the loop runs at the speed of the cache whatever its alignment in the
/// code), one more whole vector if there is one, then the remaining elements one by one with the same
/// arithmetic (the result does not depend on an element's position). All inputs of an iteration are
/// loaded before its outputs are stored, so out may alias any input.
template <bool Unit, std::size_t... K>
void lincomb_simd_float(float* out, std::size_t n, const float* c, const float* const* p,
                        std::index_sequence<K...>) {
  constexpr std::size_t w = simd_float_lanes, bytes = sizeof(simd_float);
  const simd_float cv[] = {(simd_float{} + c[K])...};  // broadcasts
  const std::size_t pairs = n - n % (2 * w), whole = n - n % w;
  for (std::size_t i = 0; i < pairs; i += 2 * w) {
    simd_float u[sizeof...(K)], v[sizeof...(K)];
    (std::memcpy(&u[K], p[K] + i, bytes), ...);  // unaligned loads
    (std::memcpy(&v[K], p[K] + i + w, bytes), ...);
    const simd_float ru = (... + scaled_term<Unit, K>(cv, u)), rv = (... + scaled_term<Unit, K>(cv, v));
    std::memcpy(out + i, &ru, bytes);
    std::memcpy(out + i + w, &rv, bytes);
  }
  if (pairs < whole) {
    simd_float u[sizeof...(K)];
    (std::memcpy(&u[K], p[K] + pairs, bytes), ...);
    const simd_float ru = (... + scaled_term<Unit, K>(cv, u));
    std::memcpy(out + pairs, &ru, bytes);
  }
  for (std::size_t i = whole; i < n; ++i) {
    float u[sizeof...(K)];
    ((u[K] = p[K][i]), ...);
    out[i] = (... + scaled_term<Unit, K>(c, u));
  }
}
#endif

/// out[i] = Σ_k a[k]·x_k[i] with the number of terms known at compile time: one pass, every input read
/// before out[i] is written, so out may alias any input. Aliasing is only ever exact (same element),
/// never shifted, so there is no loop-carried dependence: `ivdep` lets the compiler vectorise (GCC 12
/// does at -O3, not at -O2). Sums are left to right, k = 0 first, in `arithmetic_t<T>`; float goes
/// through the explicit SIMD kernel above.
template <class T, std::size_t... K>
void lincomb_fixed(T* out, std::size_t n, const double* a, const T* const* x,
                   std::index_sequence<K...> terms) {
  using R = arithmetic_t<T>;
  const R c[] = {static_cast<R>(a[K])...};
  const T* const p[] = {x[K]...};
#if defined(__GNUC__)
  if constexpr (std::is_same_v<T, float>) {
    if (c[0] == 1.0f) return lincomb_simd_float<true>(out, n, c, p, terms);
    return lincomb_simd_float<false>(out, n, c, p, terms);
  }
#else
  (void)terms;
#endif
#if defined(__GNUC__) && !defined(__clang__)  // clang vectorises with runtime alias checks by itself
#pragma GCC ivdep
#endif
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>((... + (c[K] * static_cast<R>(p[K][i]))));
}

/// Any number of terms: blocks of 256 scalars accumulated in `arithmetic_t<T>` on the stack, so memory
/// is still read once and out may alias any input.
template <class T, class Ptr, class Data>
void lincomb_blocked(T* out, std::size_t n, span<const double> a, span<Ptr const> xs, Data data) {
  using R = arithmetic_t<T>;
  constexpr std::size_t block = 256;
  R acc[block];
  for (std::size_t i0 = 0; i0 < n; i0 += block) {
    const std::size_t len = std::min(block, n - i0);
    const T* x0 = data(xs[0]) + i0;
    const R a0 = static_cast<R>(a[0]);
    for (std::size_t i = 0; i < len; ++i) acc[i] = a0 * static_cast<R>(x0[i]);
    for (std::size_t k = 1; k < a.size(); ++k) {
      const T* xk = data(xs[k]) + i0;
      const R ak = static_cast<R>(a[k]);
      for (std::size_t i = 0; i < len; ++i) acc[i] += ak * static_cast<R>(xk[i]);
    }
    for (std::size_t i = 0; i < len; ++i) out[i0 + i] = static_cast<T>(acc[i]);
  }
}

/// Dispatch on the number of terms; `data(xs[k])` yields the k-th input's pointer.
template <class T, class Ptr, class Data>
void lincomb_contiguous(T* out, std::size_t n, span<const double> a, span<Ptr const> xs, Data data) {
  constexpr std::size_t max_fixed = 8;
  const T* p[max_fixed];
  const std::size_t terms = a.size();
  if (terms <= max_fixed) {
    for (std::size_t k = 0; k < terms; ++k) p[k] = data(xs[k]);
    switch (terms) {
      case 1:
        return lincomb_fixed(out, n, a.data(), p, std::make_index_sequence<1>{});
      case 2:
        return lincomb_fixed(out, n, a.data(), p, std::make_index_sequence<2>{});
      case 3:
        return lincomb_fixed(out, n, a.data(), p, std::make_index_sequence<3>{});
      case 4:
        return lincomb_fixed(out, n, a.data(), p, std::make_index_sequence<4>{});
      case 5:
        return lincomb_fixed(out, n, a.data(), p, std::make_index_sequence<5>{});
      case 6:
        return lincomb_fixed(out, n, a.data(), p, std::make_index_sequence<6>{});
      case 7:
        return lincomb_fixed(out, n, a.data(), p, std::make_index_sequence<7>{});
      case 8:
        return lincomb_fixed(out, n, a.data(), p, std::make_index_sequence<8>{});
      default:
        return;
    }
  }
  lincomb_blocked(out, n, a, xs, data);  // more than 8 terms: user code, rare
}

/// False iff some x[i] is NaN or ±Inf: x·0 is NaN exactly for those (±0 otherwise). The scalar form sums
/// x·0 (a chain of dependent additions, one element per add latency, and not vectorised: reordering a
/// float sum is not allowed); float and double instead OR together the bit patterns of x·0 over whole
/// vectors, which has no long dependency and runs at the speed of the read: the OR has bits outside the
/// sign bit iff some x·0 was a NaN. The answer does not depend on the order.
template <class T>
bool all_finite(const T* x, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(__GNUC__)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using bits_t = std::conditional_t<std::is_same_v<T, float>, std::uint32_t, std::uint64_t>;
    typedef T vec __attribute__((vector_size(simd_float_bytes)));
    typedef bits_t bits __attribute__((vector_size(simd_float_bytes)));
    constexpr std::size_t w = sizeof(vec) / sizeof(T);
    const std::size_t pairs = n - n % (2 * w);
    const vec zero{};
    bits seen{};
    for (; i < pairs; i += 2 * w) {
      vec u, v;
      std::memcpy(&u, x + i, sizeof(vec));
      std::memcpy(&v, x + i + w, sizeof(vec));
      seen |= reinterpret_cast<bits>(u * zero) | reinterpret_cast<bits>(v * zero);
    }
    constexpr bits_t magnitude = ~bits_t{0} >> 1;  // every bit but the sign
    for (std::size_t l = 0; l < w; ++l)
      if ((seen[l] & magnitude) != 0) return false;
  }
#endif
  T acc = 0;
  for (; i < n; ++i) acc += x[i] * T(0);
  return acc == T(0);
}

}  // namespace stork::detail
