/// @file
/// @brief `stork::prediction`: what a model predicts (ε, x̂₀, v or the velocity), and how x₀ and ε follow
/// from the state and that output.
#pragma once

#include <cmath>
#include <limits>
#include <string_view>

#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"

namespace stork {

/// @brief What a model predicts, for a noise process x_t = α·x₀ + σ·ε:
/// - `epsilon`: the noise ε (DDPM, Stable Diffusion 1.x/2.x/XL);
/// - `sample`: the clean data x̂₀ (a denoiser D(x, σ): k-diffusion, EDM);
/// - `v`: v = (α·ε − σ·x₀)/√(α² + σ²) (Salimans & Ho 2022: for VP processes α² + σ² = 1 and this is their
///   v; in other coordinates it is the v of the same model written as a VP model, as k-diffusion's
///   VDenoiser uses it in VE σ space — so a v model gives the same samples in every process);
/// - `velocity`: dx/dt itself (flow matching: v = ε − x₀ for rectified flow).
/// ε, x̂₀ and v mean the same thing in every process that is a rescaling of another (x_VE = x_VP/α):
/// one trained model runs in VP τ space, VE σ space or flow coordinates alike.
enum class prediction { epsilon, sample, v, velocity };

namespace detail {

/// Throws stork::error unless `p` is one of the four named predictions.
inline void check_prediction(std::string_view who, prediction p) {
  switch (p) {
    case prediction::epsilon:
    case prediction::sample:
    case prediction::v:
    case prediction::velocity:
      return;
  }
  fail(who, "prediction", static_cast<int>(p), "must be epsilon, sample, v or velocity");
}

/// x₀ and ε written as affine functions of (x, model output o).
struct posterior_split {
  affine_velocity x0;
  affine_velocity eps;
};

/// x₀ = x0.state·x + x0.output·o and ε = eps.state·x + eps.output·o, from x = a·x₀ + s·ε and the output of
/// `p` (da, ds: the time derivatives of a and s; used by `velocity` only). NaN for an unknown prediction.
inline posterior_split split_output(prediction p, double a, double s, double da, double ds) noexcept {
  switch (p) {
    case prediction::epsilon:  // x₀ = (x − s·o)/a
      return {{1.0 / a, -s / a}, {0.0, 1.0}};
    case prediction::sample:  // ε = (x − a·o)/s
      return {{0.0, 1.0}, {1.0 / s, -a / s}};
    case prediction::v: {  // o = (aε − s·x₀)/r, r = √(a² + s²): x₀ = (a·x − r·s·o)/r², ε = (s·x + r·a·o)/r²
      const double r2 = a * a + s * s, r = std::sqrt(r2);
      return {{a / r2, -s / r}, {s / r2, a / r}};
    }
    case prediction::velocity: {  // o = a'x₀ + s'ε: x₀ = (s'x − s·o)/D, ε = (a·o − a'x)/D, D = a·s' − a'·s
      const double d = a * ds - da * s;
      return {{ds / d, -s / d}, {-da / d, a / d}};
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {{nan, nan}, {nan, nan}};
}

}  // namespace detail
}  // namespace stork
