/// @file
/// @brief The `Parameterisation` concept: how a model output becomes the velocity the methods integrate.
///
/// A model plugs in as a callback `model(x, t, out)`. What `out` means is the parameterisation. For every
/// process and prediction type stork handles, the velocity is affine in the state with scalar
/// coefficients, dx/dt = a(t)·x + b(t)·out, and so is the data prediction x̂₀ = c(t)·x + d(t)·out:
/// a parameterisation supplies these scalars (`stork::model<Process>` for every noise process and
/// prediction type, `stork::flow_velocity` for a plain velocity field).
#pragma once

#include <type_traits>
#include <utility>

#include "stork/detail/config.hpp"
#include "stork/detail/type_traits.hpp"

namespace stork {

/// @brief The scalars of an affine map of (x, model output o): `state·x + output·o`.
struct affine_velocity {
  double state = 0.0;
  double output = 1.0;
};

namespace detail {
template <class P>
using affine_t = decltype(std::declval<const P&>().affine(0.0));
template <class P>
using denoise_t = decltype(std::declval<const P&>().denoise(0.0));
template <class P>
using identity_t = decltype(P::identity);
template <class P>
using output_is_velocity_t = decltype(std::declval<const P&>().output_is_velocity());
template <class P>
using callable_at_t = decltype(std::declval<const P&>().callable_at(0.0));
}  // namespace detail

/// @brief A parameterisation: `p.affine(t)` gives the velocity dx/dt = state·x + output·o in terms of the
/// model output o at (x, t).
///
/// Optional members, used when present:
/// - `p.denoise(t)` → `affine_velocity`: the data prediction x̂₀ = state·x + output·o (data-prediction
///   methods, previews, STORK's final denoise);
/// - `p.alpha(t)`, `p.sigma(t)` → double: the noise process x_t = α·x₀ + σ·ε (data-prediction and
///   stochastic methods);
/// - `p.output_is_velocity()` → bool: true when o is dx/dt itself: the samplers skip the conversion pass;
/// - `p.callable_at(t)` → bool: false where the model cannot be called (σ = 0 for an ε, x̂₀ or v model);
/// - `p.validate(times)`: throws stork::error for bad parameters or a grid outside the domain;
/// - `P::identity` (static constexpr bool): the output is the velocity, known at compile time.
///
/// Example: `struct my_drift { stork::affine_velocity affine(double t) const { return {-t, 1.0}; } };`
/// The C++17 spelling of the `Parameterisation` concept.
template <class P>
inline constexpr bool is_parameterisation_v =
    std::is_copy_constructible_v<P>&& detail::is_detected_exact_v<affine_velocity, detail::affine_t, P>;

#if STORK_HAS_CPP20
/// @brief The concept of `is_parameterisation_v<P>`.
template <class P>
concept Parameterisation = is_parameterisation_v<P>;
#endif

namespace detail {

/// True when `P` declares at compile time that its output is the velocity (`flow_velocity`).
template <class P>
constexpr bool is_identity_v = [] {
  if constexpr (is_detected_v<identity_t, P>)
    return static_cast<bool>(P::identity);
  else
    return false;
}();

/// True when the model output is the velocity itself (no conversion needed), at compile or run time.
template <STORK_CONCEPT(Parameterisation) P>
bool output_is_velocity(const P& p) noexcept {
  if constexpr (is_identity_v<P>)
    return true;
  else if constexpr (is_detected_v<output_is_velocity_t, P>)
    return p.output_is_velocity();
  else
    return false;
}

/// False where the model cannot be called (σ = 0 for an ε, x̂₀ or v model); true when `P` does not say.
template <STORK_CONCEPT(Parameterisation) P>
bool callable_at(const P& p, double t) noexcept {
  if constexpr (is_detected_v<callable_at_t, P>)
    return p.callable_at(t);
  else
    return true;
}

/// `p.denoise(t)` exists: the output determines x̂₀.
template <class P>
inline constexpr bool has_denoise =
    is_parameterisation_v<P>&& is_detected_exact_v<affine_velocity, denoise_t, P>;

}  // namespace detail
}  // namespace stork
