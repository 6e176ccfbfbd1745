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
#include <cstddef>
#include <type_traits>
#include <vector>

#include "stork/detail/config.hpp"
#include "stork/detail/contiguous.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/type_traits.hpp"

namespace stork {

/// @brief Customisation point: the vector operations a state type must provide.
///
/// Required members (all static):
/// - `S make_like(const S& x)`: a new state of the same shape as `x`; contents unspecified;
/// - `void lincomb(S& out, span<const double> a, span<const S* const> x)`: `out = Σ a[k]·*x[k]`;
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

namespace detail {
template <class S>
using make_like_t = decltype(state_ops<S>::make_like(std::declval<const S&>()));
template <class S>
using static_lincomb_t = decltype(state_ops<S>::lincomb(
    std::declval<S&>(), std::declval<span<const double>>(), std::declval<span<const S* const>>()));
template <class O, class S>
using ops_make_like_t = decltype(std::declval<O&>().make_like(std::declval<const S&>()));
template <class O, class S>
using ops_lincomb_t = decltype(std::declval<O&>().lincomb(
    std::declval<S&>(), std::declval<span<const double>>(), std::declval<span<const S* const>>()));
template <class S>
using static_size_t = decltype(state_ops<S>::size(std::declval<const S&>()));
template <class S>
using static_all_finite_t = decltype(state_ops<S>::all_finite(std::declval<const S&>()));
template <class O, class S>
using ops_size_t = decltype(std::declval<O&>().size(std::declval<const S&>()));
template <class O, class S>
using ops_all_finite_t = decltype(std::declval<O&>().all_finite(std::declval<const S&>()));
}  // namespace detail

/// @brief True when S is a type the samplers can integrate: copy-constructible, and `state_ops<S>` provides
/// `make_like` (returning S) and `lincomb`. The C++17 spelling of the `State` concept.
///
/// Example: `static_assert(stork::is_state_v<std::vector<float>>);`
template <class S>
inline constexpr bool is_state_v =
    std::is_copy_constructible_v<S>&& detail::is_detected_exact_v<S, detail::make_like_t, S>&&
        detail::is_detected_v<detail::static_lincomb_t, S>;

#if STORK_HAS_CPP20
/// @brief A type the samplers can integrate: `state_ops<S>` provides `make_like` and `lincomb`
/// (the concept of `is_state_v<S>`).
///
/// Example: `static_assert(stork::State<std::vector<float>>);`
template <class S>
concept State = is_state_v<S>;
#endif

namespace detail {
/// The state operations of `std::vector<T>`, T = float or double (the two specialisations below).
template <class T>
struct vector_ops {
  static std::vector<T> make_like(const std::vector<T>& x) { return std::vector<T>(x.size()); }
  static std::size_t size(const std::vector<T>& x) noexcept { return x.size(); }
  static bool all_finite(const std::vector<T>& x) noexcept { return detail::all_finite(x.data(), x.size()); }
  static void lincomb(std::vector<T>& out, span<const double> a, span<const std::vector<T>* const> x) {
    detail::lincomb_contiguous(out.data(), out.size(), a, x,
                               [](const std::vector<T>* v) { return v->data(); });
  }
};
}  // namespace detail

/// @brief `state_ops` for `std::vector<float>` and `std::vector<double>`.
///
/// `lincomb` is one pass over memory for up to 8 terms, in T: double states in double, float states in
/// float (coefficients rounded to float once, explicit SIMD under GCC and clang; error bound in
/// `stork/detail/contiguous.hpp`).
template <>
struct state_ops<std::vector<float>> : detail::vector_ops<float> {};
template <>
struct state_ops<std::vector<double>> : detail::vector_ops<double> {};

/// @brief An object that performs the state operations of S: the default is `state_ops<S>{}` (static
/// members called through an object), and an engine may pass its own — one that holds a context, an
/// allocator or a stream — to `make_scheduler` and `integrate`.
///
/// Required: `ops.make_like(x)` → S and `ops.lincomb(out, a, xs)` with the meaning of `state_ops`; optional:
/// `ops.size(x)`, `ops.all_finite(x)`. The samplers call `make_like` only while a scheduler is constructed
/// (never while stepping) and hold one ops object per scheduler (copied in, so keep a reference or pointer
/// inside it when the context must be shared).
/// Example: `struct pool_ops { my_pool* pool; S make_like(const S& x); void lincomb(S&, ...); };`
/// The C++17 spelling of the `StateOps` concept.
template <class O, class S>
inline constexpr bool is_state_ops_v =
    std::is_copy_constructible_v<O>&& detail::is_detected_exact_v<S, detail::ops_make_like_t, O, S>&&
        detail::is_detected_v<detail::ops_lincomb_t, O, S>;
#if STORK_HAS_CPP20
/// @brief The concept of `is_state_ops_v<O, S>`: an object that performs the state operations of S.
template <class O, class S>
concept StateOps = is_state_ops_v<O, S>;
#endif

namespace detail {

/// `state_ops<S>::size(x)` exists (lets the samplers reject outputs of the wrong size).
template <class S>
inline constexpr bool has_size = is_detected_convertible_v<std::size_t, static_size_t, S>;
/// `state_ops<S>::all_finite(x)` exists (lets the samplers reject NaN/Inf).
template <class S>
inline constexpr bool has_all_finite = is_detected_convertible_v<bool, static_all_finite_t, S>;
/// `ops.size(x)` exists.
template <class O, class S>
inline constexpr bool ops_size = is_detected_convertible_v<std::size_t, ops_size_t, O, S>;
/// `ops.all_finite(x)` exists.
template <class O, class S>
inline constexpr bool ops_all_finite = is_detected_convertible_v<bool, ops_all_finite_t, O, S>;

/// `n` independent temporaries shaped like `x`: one `make_like` each, never copies of one (a state type
/// whose copies share storage, like a tensor handle, would otherwise get n aliases of one buffer).
template <class S, class Ops>
std::vector<S> make_states(Ops& ops, std::size_t n, const S& x) {
  std::vector<S> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) v.push_back(ops.make_like(x));
  return v;
}
template <STORK_CONCEPT(State) S>
std::vector<S> make_states(std::size_t n, const S& x) {
  state_ops<S> ops;
  return make_states(ops, n, x);
}

/// `out = Σ a[k]·x[k]` through `ops`, a fixed number of terms.
template <std::size_t N, class S, class Ops>
void comb(Ops& ops, S& out, const std::array<double, N>& a, const std::array<const S*, N>& x) {
  static_assert(N >= 1, "stork: a linear combination needs at least one term");
  ops.lincomb(out, span<const double>(a), span<const S* const>(x));
}
/// `out = Σ a[k]·x[k]` through `ops`, the first `n` terms of the arrays.
template <std::size_t N, class S, class Ops>
void comb_n(Ops& ops, S& out, const std::array<double, N>& a, const std::array<const S*, N>& x,
            std::size_t n) {
  ops.lincomb(out, span<const double>(a.data(), n), span<const S* const>(x.data(), n));
}
/// `out = x` through `ops` (a one-term combination: an exact copy).
template <class S, class Ops>
void copy(Ops& ops, S& out, const S& x) {
  comb<1>(ops, out, {1.0}, {&x});
}

}  // namespace detail

/// @brief `out = Σ a[k]·x[k]` for a fixed number of terms (no allocation).
/// @par Cost: one `state_ops<S>::lincomb`, i.e. one pass over memory.
template <STORK_CONCEPT(State) S, std::size_t N>
void lincomb(S& out, const std::array<double, N>& a, const std::array<const S*, N>& x) {
  state_ops<S> ops;
  detail::comb<N>(ops, out, a, x);
}

/// @brief `out = x` through the state algebra (a one-term linear combination: exact copy).
template <STORK_CONCEPT(State) S>
void assign(S& out, const S& x) {
  lincomb<S, 1>(out, {1.0}, {&x});
}

}  // namespace stork
