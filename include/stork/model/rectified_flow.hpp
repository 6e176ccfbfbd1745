/// @file
/// @brief `stork::rectified_flow`: the flow-matching process x_σ = (1 − σ)·x₀ + σ·ε, σ ∈ [0, 1].
#pragma once

#include "stork/detail/span.hpp"

#include "stork/model/prediction.hpp"
#include "stork/model/process.hpp"

namespace stork {

/// @brief Rectified flow (flow matching: SD3, FLUX, SANA, Wan): x_t = (1 − t)·x₀ + t·ε with t = σ ∈ [0, 1],
/// σ = 1 pure noise, σ = 0 data. α = 1 − t, σ = t, dα/dt = −1, dσ/dt = 1. Its models usually predict the
/// velocity dx/dσ = ε − x₀ (`default_prediction`).
/// @par Cost: a few flops per call.
struct rectified_flow {
  static constexpr stork::prediction default_prediction = stork::prediction::velocity;
  static constexpr double alpha(double t) noexcept { return 1.0 - t; }
  static constexpr double sigma(double t) noexcept { return t; }
  static constexpr double dalpha(double) noexcept { return -1.0; }
  static constexpr double dsigma(double) noexcept { return 1.0; }
  /// Throws stork::error unless every grid time lies in [0, 1].
  static void validate(span<const double> times) {
    detail::check_times("rectified_flow", times, 0.0, 1.0, true, "flow times sigma must lie in [0, 1]");
  }
};

static_assert(is_noise_process_v<rectified_flow>);

}  // namespace stork
