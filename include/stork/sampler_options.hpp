/// @file
/// @brief What a run can be told and what it tells back: `stork::sampler_options` (run-time checks) and
/// `stork::step_info` (what an observer of `integrate` sees at each grid point).
#pragma once

#include <cstddef>

namespace stork {

/// @brief Run-time checks of a scheduler or `integrate`.
struct sampler_options {
  /// Reject NaN/Inf in the initial state, in every model output and in every draw of a noise source (one
  /// extra read of each; only for states whose operations have `all_finite`). Turn off to save that pass.
  bool check_finite = true;
};

/// @brief What an observer passed to `integrate` sees at each grid point t_i, after the model call there
/// (k-diffusion's callback dictionary {x, i, sigma, denoised}; odeint's observer(x, t)).
template <class S>
struct step_info {
  std::size_t interval;  ///< i: the grid point (the number of intervals for a VP run's final denoise call)
  double t;              ///< times[i]
  const S& x;            ///< the state at t
  const S& output;       ///< the model output at (x, t)
  const S* denoised;  ///< the x̂₀ preview of that output, or nullptr where the parameterisation has none
};

}  // namespace stork
