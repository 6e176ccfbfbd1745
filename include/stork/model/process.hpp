/// @file
/// @brief The `NoiseProcess` concept: how data and noise mix over time, x_t = α(t)·x₀ + σ(t)·ε.
///
/// The processes: `rectified_flow` (flow matching), `vp_linear`, `vp_scaled_linear` and `vp_discrete`
/// (variance preserving: DDPM, Stable Diffusion) and `ve` (variance exploding: k-diffusion's σ space).
/// A process says nothing about the model; `stork::model<Process>` adds the prediction type.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "stork/detail/config.hpp"
#include "stork/detail/span.hpp"
#include "stork/detail/type_traits.hpp"
#include "stork/error.hpp"
#include "stork/model/prediction.hpp"

namespace stork {

namespace detail {
template <class P>
using alpha_t = decltype(std::declval<const P&>().alpha(0.0));
template <class P>
using sigma_t = decltype(std::declval<const P&>().sigma(0.0));
template <class P>
using dalpha_t = decltype(std::declval<const P&>().dalpha(0.0));
template <class P>
using dsigma_t = decltype(std::declval<const P&>().dsigma(0.0));
template <class P>
using validate_t = decltype(std::declval<const P&>().validate(std::declval<span<const double>>()));
template <class P>
using default_prediction_t = decltype(P::default_prediction);
template <class P>
using variance_preserving_t = decltype(P::variance_preserving);
}  // namespace detail

/// @brief A noise process x_t = α(t)·x₀ + σ(t)·ε with its time derivatives and a domain check.
///
/// Members:
/// - `p.alpha(t)`, `p.sigma(t)`: α and σ at time t;
/// - `p.dalpha(t)`, `p.dsigma(t)`: dα/dt and dσ/dt;
/// - `p.validate(times)`: throws stork::error for bad parameters or a time outside the domain (an empty
///   span checks the parameters only);
/// - `P::default_prediction` (optional): what its models usually predict:
///   `make_scheduler(method, times, x, process)` assumes it;
/// - `P::variance_preserving` (optional): σ > 0 on the whole domain (VP in (0, 1]): STORK ends a run with a
///   denoise.
/// The C++17 spelling of the `NoiseProcess` concept.
template <class P>
inline constexpr bool is_noise_process_v =
    std::is_copy_constructible_v<P>&& detail::is_detected_convertible_v<double, detail::alpha_t, P>&&
        detail::is_detected_convertible_v<double, detail::sigma_t, P>&& detail::is_detected_convertible_v<
            double, detail::dalpha_t, P>&& detail::is_detected_convertible_v<double, detail::dsigma_t, P>&&
            detail::is_detected_v<detail::validate_t, P>;

#if STORK_HAS_CPP20
/// @brief The concept of `is_noise_process_v<P>`.
template <class P>
concept NoiseProcess = is_noise_process_v<P>;
#endif

namespace detail {

/// `P::default_prediction`, or ε when the process does not say.
template <class P>
constexpr prediction default_prediction_v = [] {
  if constexpr (is_detected_v<default_prediction_t, P>)
    return P::default_prediction;
  else
    return prediction::epsilon;
}();

/// `P::variance_preserving` (false when the process does not say).
template <class P>
constexpr bool variance_preserving_v = [] {
  if constexpr (is_detected_v<variance_preserving_t, P>)
    return static_cast<bool>(P::variance_preserving);
  else
    return false;
}();

/// Throws unless every time lies in (lo, hi] (or [lo, hi] with `closed_lo`) and is not NaN.
inline void check_times(std::string_view who, span<const double> times, double lo, double hi, bool closed_lo,
                        std::string_view why) {
  for (std::size_t i = 0; i < times.size(); ++i) {
    const double t = times[i];
    if (!((closed_lo ? t >= lo : t > lo) && t <= hi)) fail(who, "times[" + std::to_string(i) + "]", t, why);
  }
}

/// α, σ and their derivatives of a VP process from log α and g = d log α/dt (σ = √(1 − α²)).
struct vp_from_log_alpha {
  double log_alpha, dlog_alpha;
  double alpha() const noexcept { return std::exp(log_alpha); }
  double sigma() const noexcept { return std::sqrt(-std::expm1(2.0 * log_alpha)); }
  /// dα/dt = α·g.
  double dalpha() const noexcept { return alpha() * dlog_alpha; }
  /// dσ/dt = −α·(dα/dt)/σ = −α²·g/σ (from σ² = 1 − α²).
  double dsigma() const noexcept {
    const double a = alpha();
    return -a * a * dlog_alpha / sigma();
  }
};

}  // namespace detail
}  // namespace stork
