/// @file
/// @brief Internal: the fused linear-combination kernel for contiguous float/double storage.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <utility>

namespace stork::detail {

/// out[i] = Σ_k a[k]·x_k[i] with the number of terms known at compile time: one pass, every input read
/// before out[i] is written, so out may alias any input. Aliasing is only ever exact (same element),
/// never shifted, so there is no loop-carried dependence: `ivdep` lets the compiler vectorise.
template <class T, std::size_t... K>
void lincomb_fixed(T* out, std::size_t n, const double* a, const T* const* x, std::index_sequence<K...>) {
  const double c[] = {a[K]...};
  const T* const p[] = {x[K]...};
#if defined(__GNUC__) && !defined(__clang__)  // clang vectorises with runtime alias checks by itself
#pragma GCC ivdep
#endif
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>((... + (c[K] * static_cast<double>(p[K][i]))));
}

/// Any number of terms: blocks of 256 scalars accumulated in double on the stack, so memory is still
/// read once and out may alias any input.
template <class T, class Ptr, class Data>
void lincomb_blocked(T* out, std::size_t n, std::span<const double> a, std::span<Ptr const> xs, Data data) {
  constexpr std::size_t block = 256;
  double acc[block];
  for (std::size_t i0 = 0; i0 < n; i0 += block) {
    const std::size_t len = std::min(block, n - i0);
    const T* x0 = data(xs[0]) + i0;
    for (std::size_t i = 0; i < len; ++i) acc[i] = a[0] * static_cast<double>(x0[i]);
    for (std::size_t k = 1; k < a.size(); ++k) {
      const T* xk = data(xs[k]) + i0;
      const double ak = a[k];
      for (std::size_t i = 0; i < len; ++i) acc[i] += ak * static_cast<double>(xk[i]);
    }
    for (std::size_t i = 0; i < len; ++i) out[i0 + i] = static_cast<T>(acc[i]);
  }
}

/// Dispatch on the number of terms; `data(xs[k])` yields the k-th input's pointer.
template <class T, class Ptr, class Data>
void lincomb_contiguous(T* out, std::size_t n, std::span<const double> a, std::span<Ptr const> xs,
                        Data data) {
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

template <class T>
bool all_finite(const T* x, std::size_t n) noexcept {
  // Sum of x·0 is NaN iff some element is NaN or Inf; one vectorisable pass.
  T acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc += x[i] * T(0);
  return acc == T(0);
}

}  // namespace stork::detail
