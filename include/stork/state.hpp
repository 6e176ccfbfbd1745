/// @file
/// @brief The state algebra: `stork::state_ops<S>` and the `State` concept.
///
/// The samplers touch a state only through two operations: "make a temporary like x" and the fused
/// linear combination `out = Σ a[k]·x[k]` (one pass over memory). A GPU buffer, a sharded tensor or
/// any other container becomes a state by specialising `state_ops` for it; the core never reads an
/// element. This header provides the specialisations for `std::vector<float>` and
/// `std::vector<double>`; `<stork/eigen.hpp>` adds dense Eigen objects.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <span>
#include <vector>

#include "stork/detail/contiguous.hpp"

namespace stork {

/// @brief Customisation point: the vector operations a state type must provide.
///
/// Required members (all static):
/// | expression | meaning |
/// |---|---|
/// | `S make_like(const S& x)` | a new state of the same shape as `x`; contents unspecified |
/// | `void lincomb(S& out, std::span<const double> a, std::span<const S* const> x)` | `out = Σ a[k]·*x[k]`;
/// `out` may be the same object as any `*x[k]`; `a.size() == x.size() >= 1` |
///
/// Optional members, used when present:
/// | expression | meaning |
/// |---|---|
/// | `std::size_t size(const S& x)` | number of scalars: lets the samplers reject a model output of the wrong
/// size | | `bool all_finite(const S& x)` | false if any scalar is NaN or ±Inf: lets the samplers reject
/// non-finite values |
///
/// Coefficients are `double`; the precision of the arithmetic is the implementation's choice. The library's
/// own kernels (`std::vector`, Eigen) compute in the state's scalar type, at least float, with each
/// coefficient rounded to it once: a float state runs as fast as a plain float loop, and its error is
/// that of float arithmetic on the terms, |out − Σ a_k·x_k| ≤ γ_{k+1}·Σ|a_k·x_k| (γ_m ≈ m·2⁻²⁴ for k terms).
/// A type stored in fewer bits than float (half, bfloat16) should accumulate in float or wider.
template <class S>
struct state_ops;

/// @brief A type the samplers can integrate: `state_ops<S>` provides `make_like` and `lincomb`.
///
/// Example: `static_assert(stork::State<std::vector<float>>);`
template <class S>
concept State = std::copy_constructible<S> &&
    requires(const S& cx, S& out, std::span<const double> a, std::span<const S* const> xs) {
  { state_ops<S>::make_like(cx) } -> std::same_as<S>;
  state_ops<S>::lincomb(out, a, xs);
};

/// @brief `state_ops` for `std::vector<float>` and `std::vector<double>`.
///
/// `lincomb` is one pass over memory for up to 8 terms, in T: double states in double, float states in
/// float (coefficients rounded to float once, explicit SIMD under GCC and clang; error bound in
/// `stork/detail/contiguous.hpp`).
template <class T>
requires std::floating_point<T>
struct state_ops<std::vector<T>> {
  static std::vector<T> make_like(const std::vector<T>& x) { return std::vector<T>(x.size()); }
  static std::size_t size(const std::vector<T>& x) noexcept { return x.size(); }
  static bool all_finite(const std::vector<T>& x) noexcept { return detail::all_finite(x.data(), x.size()); }
  static void lincomb(std::vector<T>& out, std::span<const double> a,
                      std::span<const std::vector<T>* const> x) {
    detail::lincomb_contiguous(out.data(), out.size(), a, x,
                               [](const std::vector<T>* v) { return v->data(); });
  }
};

namespace detail {

template <class S>
concept has_size = requires(const S& x) {
  { state_ops<S>::size(x) } -> std::convertible_to<std::size_t>;
};
template <class S>
concept has_all_finite = requires(const S& x) {
  { state_ops<S>::all_finite(x) } -> std::convertible_to<bool>;
};

/// `n` independent temporaries shaped like `x`: one `make_like` each, never copies of one (a state type
/// whose copies share storage, like a tensor handle, would otherwise get n aliases of one buffer).
template <State S>
std::vector<S> make_states(std::size_t n, const S& x) {
  std::vector<S> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) v.push_back(state_ops<S>::make_like(x));
  return v;
}

}  // namespace detail

/// @brief `out = Σ a[k]·x[k]` for a fixed number of terms (no allocation).
/// @par Cost: one `state_ops<S>::lincomb`, i.e. one pass over memory.
template <State S, std::size_t N>
void lincomb(S& out, const std::array<double, N>& a, const std::array<const S*, N>& x) {
  static_assert(N >= 1);
  state_ops<S>::lincomb(out, std::span<const double>(a), std::span<const S* const>(x));
}

/// @brief `out = x` through the state algebra (a one-term linear combination: exact copy).
template <State S>
void assign(S& out, const S& x) {
  lincomb<S, 1>(out, {1.0}, {&x});
}

}  // namespace stork
