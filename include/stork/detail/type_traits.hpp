/// @file
/// @brief Internal: the detection idiom the library's requirements are written in (one mechanism for C++17
/// and C++20: every requirement is a constexpr trait first; see `stork/detail/config.hpp`).
#pragma once

#include <type_traits>
#include <utility>

#include "stork/detail/config.hpp"

namespace stork::detail {

/// `detail::remove_cvref_t` (C++20) for both standards.
template <class T>
using remove_cvref_t = std::remove_cv_t<std::remove_reference_t<T>>;

/// No type: what `detected_t` is when the expression is ill-formed.
struct nonesuch {
  nonesuch() = delete;
  ~nonesuch() = delete;
  nonesuch(const nonesuch&) = delete;
  void operator=(const nonesuch&) = delete;
};

template <class AlwaysVoid, template <class...> class Op, class... A>
struct detector {
  using value_t = std::false_type;
  using type = nonesuch;
};
template <template <class...> class Op, class... A>
struct detector<std::void_t<Op<A...>>, Op, A...> {
  using value_t = std::true_type;
  using type = Op<A...>;
};

/// True when `Op<A...>` (an alias template naming an expression's type) is well-formed.
template <template <class...> class Op, class... A>
inline constexpr bool is_detected_v = detector<void, Op, A...>::value_t::value;
/// The type `Op<A...>` names, or `nonesuch`.
template <template <class...> class Op, class... A>
using detected_t = typename detector<void, Op, A...>::type;
/// True when `Op<A...>` is well-formed and its type is exactly `To`.
template <class To, template <class...> class Op, class... A>
inline constexpr bool is_detected_exact_v = std::is_same_v<detected_t<Op, A...>, To>;
/// True when `Op<A...>` is well-formed and its type converts to `To`.
template <class To, template <class...> class Op, class... A>
inline constexpr bool is_detected_convertible_v = std::is_convertible_v<detected_t<Op, A...>, To>;

}  // namespace stork::detail
