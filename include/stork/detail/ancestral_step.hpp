/// @file
/// @brief Internal: the split of one ancestral interval σ_from → σ_to into a deterministic move to σ_down
/// and a draw of size σ_up, in the VE and the rectified-flow conventions of stable-diffusion.cpp
/// (leejet/stable-diffusion.cpp, src/runtime/denoiser.hpp, `get_ancestral_step` and
/// `get_ancestral_step_flow`, commit 97d2990807fe).
#pragma once

#include <algorithm>
#include <cmath>

namespace stork::detail {

/// One ancestral interval σ_from → σ_to: move deterministically to σ_down, multiply x by `alpha_ratio`,
/// add σ_up·z (z ~ N(0, I)).
struct ancestral_step {
  /// The σ the deterministic part of the step reaches.
  double sigma_down;
  /// The standard deviation of the noise added after it (0: no draw).
  double sigma_up;
  /// The factor x is multiplied by before the draw is added: 1 in VE; in flow (1 − σ_to)/(1 − σ_down),
  /// which brings the signal weight 1 − σ_down back to 1 − σ_to.
  double alpha_ratio;
};

/// @brief VE (x = x₀ + σ·ε): stable-diffusion.cpp's `get_ancestral_step` (k-diffusion's, with sd.cpp's
/// guards). σ_up = min(σ_to, η·√(max(0, σ_to²(σ_from² − σ_to²)/σ_from²))) (0 when σ_from = 0 or η <= 0),
/// σ_down = √(max(0, σ_to² − σ_up²)), alpha_ratio = 1. The variance is kept: σ_down² + σ_up² = σ_to².
/// η > 1 is allowed (σ_up is capped at σ_to). The caller checks η (finite, >= 0) and the σ's.
inline ancestral_step ancestral_step_ve(double sigma_from, double sigma_to, double eta) noexcept {
  if (!(eta > 0.0)) return {sigma_to, 0.0, 1.0};
  double up = 0.0;
  const double from2 = sigma_from * sigma_from, to2 = sigma_to * sigma_to;
  if (from2 > 0.0) {
    const double term = to2 * (from2 - to2) / from2;
    up = std::min(sigma_to, eta * std::sqrt(std::max(term, 0.0)));
  }
  const double down2 = to2 - up * up;
  return {down2 > 0.0 ? std::sqrt(down2) : 0.0, up, 1.0};
}

/// @brief Rectified flow (x = (1 − σ)·x₀ + σ·ε): stable-diffusion.cpp's `get_ancestral_step_flow`.
/// η is capped at 1 (sd.cpp: the flow step is unstable beyond); σ_down = σ_to·(1 + (σ_to/σ_from − 1)·η)
/// clamped to [0, σ_to]; alpha_ratio = (1 − σ_to)/(1 − σ_down); with r = σ_down·alpha_ratio/σ_to clamped
/// to [−1, 1], σ_up = σ_to·√(1 − r²). Then alpha_ratio·x(σ_down) + σ_up·z has signal weight 1 − σ_to and
/// noise variance σ_to². When η <= 0, σ_from <= 0, σ_to <= 0 or σ_down >= 1: {σ_to, 0, 1} (no noise).
/// The caller checks η (finite, >= 0) and the σ's.
inline ancestral_step ancestral_step_flow(double sigma_from, double sigma_to, double eta) noexcept {
  if (!(eta > 0.0) || !(sigma_from > 0.0) || !(sigma_to > 0.0)) return {sigma_to, 0.0, 1.0};
  eta = std::min(eta, 1.0);
  double down = sigma_to * (1.0 + (sigma_to / sigma_from - 1.0) * eta);
  down = std::max(0.0, std::min(sigma_to, down));
  const double denom = 1.0 - down;
  if (!(denom > 0.0)) return {sigma_to, 0.0, 1.0};
  const double ratio = (1.0 - sigma_to) / denom;
  const double r = std::max(-1.0, std::min(1.0, (down / sigma_to) * ratio));
  return {down, sigma_to * std::sqrt(std::max(1.0 - r * r, 0.0)), ratio};
}

}  // namespace stork::detail
