/// @file
/// @brief `stork::ve`: the variance-exploding process of k-diffusion, stable-diffusion.cpp and ComfyUI,
/// x = x₀ + σ·ε with σ ∈ [0, ∞).
#pragma once

#include <limits>
#include "stork/detail/span.hpp"

#include "stork/model/prediction.hpp"
#include "stork/model/process.hpp"

namespace stork {

/// @brief Variance exploding (Karras et al. 2022, "EDM"; k-diffusion's convention): x_t = x₀ + t·ε with
/// t = σ ∈ [0, ∞): α = 1, σ = t, dα/dt = 0, dσ/dt = 1. Grids run from σ_max (about 14.6 for Stable
/// Diffusion, 80 for EDM) down to 0 (`karras_sigmas`, `exponential_sigmas`). Its models are usually
/// denoisers D(x, σ) = x̂₀ (`default_prediction` = sample), for which dx/dσ = (x − D)/σ. No method calls an ε,
/// x̂₀ or v model at σ = 0: the interval that ends there is one step to x̂₀ from its first call, as in
/// k-diffusion. A grid that stops above 0 is allowed and ends at the noisy state at its last σ, not denoised
/// (x̂₀ is then `model<ve>::denoise` of one more model call).
/// A VP model (x_VP = α·x₀ + σ_VP·ε) runs here as x_VE = x_VP/α at σ = σ_VP/α, called on
/// x_VE/√(σ² + 1) = x_VP (`vp_discrete::timestep_of_sigma` gives its training timestep).
/// @par Cost: nothing per call.
struct ve {
  static constexpr stork::prediction default_prediction = stork::prediction::sample;
  static constexpr double alpha(double) noexcept { return 1.0; }
  static constexpr double sigma(double t) noexcept { return t; }
  static constexpr double dalpha(double) noexcept { return 0.0; }
  static constexpr double dsigma(double) noexcept { return 1.0; }
  /// Throws stork::error unless every grid time σ is finite and ≥ 0.
  static void validate(span<const double> times) {
    detail::check_times("ve", times, 0.0, std::numeric_limits<double>::max(), true,
                        "VE times sigma must be finite and >= 0");
  }
};

static_assert(is_noise_process_v<ve>);

}  // namespace stork
