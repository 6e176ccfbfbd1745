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
/// - `S make_like(const S& x)`: a new state of the same shape as `x`; contents unspecified;
/// - `void lincomb(S& out, std::span<const double> a, std::span<const S* const> x)`: `out = Σ a[k]·*x[k]`;
///   `out` may be the same object as any `*x[k]`; `a.size() == x.size() >= 1`.
///
/// Optional members, used when present:
/// - `std::size_t size(const S& x)`: number of scalars: lets the samplers reject a model output of the
///   wrong size;
/// - `bool all_finite(const S& x)`: false if any scalar is NaN or ±Inf: lets the samplers reject non-finite
///   values.
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

/// @brief An object that performs the state operations of S: the default is `state_ops<S>{}` (static
/// members called through an object), and an engine may pass its own — one that holds a context, an
/// allocator or a stream — to `make_scheduler` and `integrate`.
///
/// Required: `ops.make_like(x)` → S and `ops.lincomb(out, a, xs)` with the meaning of `state_ops`; optional:
/// `ops.size(x)`, `ops.all_finite(x)`. The samplers call `make_like` only while a scheduler is constructed
/// (never while stepping) and hold one ops object per scheduler (copied in, so keep a reference or pointer
/// inside it when the context must be shared).
/// Example: `struct pool_ops { my_pool* pool; S make_like(const S& x); void lincomb(S&, ...); };`
template <class O, class S>
concept StateOps = std::copy_constructible<O> &&
    requires(O& ops, const S& cx, S& out, std::span<const double> a, std::span<const S* const> xs) {
  { ops.make_like(cx) } -> std::same_as<S>;
  ops.lincomb(out, a, xs);
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
template <class O, class S>
concept ops_size = requires(O& ops, const S& x) {
  { ops.size(x) } -> std::convertible_to<std::size_t>;
};
template <class O, class S>
concept ops_all_finite = requires(O& ops, const S& x) {
  { ops.all_finite(x) } -> std::convertible_to<bool>;
};

/// `n` independent temporaries shaped like `x`: one `make_like` each, never copies of one (a state type
/// whose copies share storage, like a tensor handle, would otherwise get n aliases of one buffer).
template <class S, class Ops>
std::vector<S> make_states(Ops& ops, std::size_t n, const S& x) {
  std::vector<S> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) v.push_back(ops.make_like(x));
  return v;
}
template <State S>
std::vector<S> make_states(std::size_t n, const S& x) {
  state_ops<S> ops;
  return make_states(ops, n, x);
}

/// `out = Σ a[k]·x[k]` through `ops`, a fixed number of terms.
template <std::size_t N, class S, class Ops>
void comb(Ops& ops, S& out, const std::array<double, N>& a, const std::array<const S*, N>& x) {
  static_assert(N >= 1);
  ops.lincomb(out, std::span<const double>(a), std::span<const S* const>(x));
}
/// `out = Σ a[k]·x[k]` through `ops`, the first `n` terms of the arrays.
template <std::size_t N, class S, class Ops>
void comb_n(Ops& ops, S& out, const std::array<double, N>& a, const std::array<const S*, N>& x,
            std::size_t n) {
  ops.lincomb(out, std::span<const double>(a.data(), n), std::span<const S* const>(x.data(), n));
}
/// `out = x` through `ops` (a one-term combination: an exact copy).
template <class S, class Ops>
void copy(Ops& ops, S& out, const S& x) {
  comb<1>(ops, out, {1.0}, {&x});
}

}  // namespace detail

/// @brief `out = Σ a[k]·x[k]` for a fixed number of terms (no allocation).
/// @par Cost: one `state_ops<S>::lincomb`, i.e. one pass over memory.
template <State S, std::size_t N>
void lincomb(S& out, const std::array<double, N>& a, const std::array<const S*, N>& x) {
  state_ops<S> ops;
  detail::comb<N>(ops, out, a, x);
}

/// @brief `out = x` through the state algebra (a one-term linear combination: exact copy).
template <State S>
void assign(S& out, const S& x) {
  lincomb<S, 1>(out, {1.0}, {&x});
}

}  // namespace stork
