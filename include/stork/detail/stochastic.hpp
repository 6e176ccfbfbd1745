/// @file
/// @brief Internal: what the stochastic samplers (euler_ancestral, dpmpp_2m_sde, dpmpp_3m_sde, euler_ge,
/// euler_a_cfg_pp) share — the checks of eta and s_noise, the buffer a draw is written into, the weight
/// check, whether Euler in the process's own time is DDIM, and whether the model is a rectified flow.
#pragma once

#include <cmath>
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "stork/error.hpp"
#include "stork/model/model.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/model/rectified_flow.hpp"
#include "stork/model/ve.hpp"
#include "stork/state.hpp"

namespace stork::detail {

/// eta, the amount of noise per step (k-diffusion's `eta`): finite and >= 0.
inline double checked_eta(std::string_view who, double eta) {
  if (!(eta >= 0.0) || !std::isfinite(eta))
    fail(who, "eta", eta, "eta scales the noise added per step: it must be finite and >= 0 (0: no noise)");
  return eta;
}

/// s_noise, the scale of each draw (k-diffusion's `s_noise`): finite and >= 0.
inline double checked_s_noise(std::string_view who, double s_noise) {
  if (!(s_noise >= 0.0) || !std::isfinite(s_noise))
    fail(who, "s_noise", s_noise, "s_noise scales each noise draw: it must be finite and >= 0 (1: unscaled)");
  return s_noise;
}

/// The buffer a noise draw is written into: made by the constructor when the method adds noise at all
/// (eta·s_noise > 0), absent otherwise (S need not be default-constructible).
template <class S>
class noise_buffer {
 public:
  template <class Ops>
  noise_buffer(bool active, const S& like, Ops& ops) {
    if (active) buf_.emplace(ops.make_like(like));
  }
  /// True when the method adds noise (the source is called on every interval that does not end at data).
  bool active() const noexcept { return buf_.has_value(); }
  /// Fills the buffer from the engine's source (already wrapped by `checked_noise`, which throws for a
  /// resized or non-finite draw) and returns it, handing the source the grid interval [from, to] of the draw
  /// when it takes one (`noise(out, from, to)`: a Brownian tree; k-diffusion's noise_sampler(sigma,
  /// sigma_next) convention, for every stochastic method); a plain source is called as `noise(out)`. If the
  /// source fails, the buffer is made afresh like `x` (the only allocation, on that error path) so that a
  /// source that resized it cannot break later steps.
  template <class Noise, class Ops>
  const S& draw(Noise& noise, Ops& ops, const S& x, double from, double to) {
    try {
      noise(*buf_, from, to);
    } catch (...) {
      *buf_ = ops.make_like(x);
      throw;
    }
    return *buf_;
  }

 private:
  std::optional<S> buf_;
};

/// Why the weights of a stochastic step can overflow (for `check_step_weights`).
inline constexpr std::string_view stochastic_weights_overflow =
    "eta or the grid's log-SNR steps are too large";

/// True when α(t) and σ(t) are affine in t (`ve`, `rectified_flow`, a plain velocity field): Euler in t is
/// then exactly DDIM, the eta = 0 limit of the ancestral step.
template <class P>
constexpr bool euler_is_ddim() {
  if constexpr (process_model<P>) {
    using process = detail::remove_cvref_t<decltype(std::declval<const P&>().process)>;
    return std::is_same_v<process, ve> || std::is_same_v<process, rectified_flow>;
  } else {
    return false;
  }
}

/// True when the model runs under rectified flow (`model<rectified_flow>` of any prediction, or a plain
/// velocity field): the samplers of stable-diffusion.cpp have their own rules there.
template <class P>
constexpr bool is_flow() {
  if constexpr (process_model<P>) {
    using process = std::remove_cv_t<std::remove_reference_t<decltype(std::declval<const P&>().process)>>;
    return std::is_same_v<process, rectified_flow>;
  } else {
    return false;
  }
}

}  // namespace stork::detail
