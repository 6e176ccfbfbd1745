/// @file
/// @brief `stork::karras_sigmas`: the VE sigma grid of Karras et al. (2022), as k-diffusion's
/// get_sigmas_karras builds it.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "stork/detail/schedule_check.hpp"
#include "stork/detail/schedule_math.hpp"
#include "stork/error.hpp"

namespace stork {

/// @brief Options of `karras_sigmas`. The default σ range, 0.0292 to 14.6146, is Stable Diffusion 1.x's
/// (scaled-linear β from 0.00085 to 0.012 over 1000 steps: σ = √((1 − ᾱ)/ᾱ) at t = 0 and t = 999,
/// 0.029167 and 14.614641, as usually rounded).
struct karras_schedule {
  double sigma_min = 0.0292;   ///< the last nonzero σ, finite, > 0
  double sigma_max = 14.6146;  ///< the first σ, finite, > sigma_min
  double rho = 7.0;            ///< ρ > 0, finite: the grid is uniform in σ^{1/ρ} (ρ = 1: uniform in σ)
};

/// @brief The Karras sigma grid for `steps` = N steps: N + 1 values, N strictly decreasing from
/// σ_max to σ_min, then a final 0.
///
/// Reproduces k-diffusion's `get_sigmas_karras(n, sigma_min, sigma_max, rho)` (sampling.py):
/// r = linspace(0, 1, N), σ_i = (σ_max^{1/ρ} + r_i·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, then 0 appended.
/// One step gives {≈σ_max, 0}. The end points are σ_max and σ_min up to the rounding of x ↦ (x^{1/ρ})^ρ.
/// k-diffusion computes in float32 torch tensors; stork computes in double (with numpy's linspace), so
/// k-diffusion's values differ from these by float32 round-off (relative ~1e-7), while these match the
/// formula evaluated in double to about 1e-15. flow_sigmas' `sigma_spacing::karras` uses the same ramp
/// between its own end points.
/// Example: `stork::karras_sigmas(10)` gives 14.615, 9.1034, 5.479, 3.1692, 1.7499, .91442, .44714,
/// .20153, .081981, .0292, 0 (rounded).
/// @par Cost: O(N), two pow per value.
/// @throws stork::error naming the parameter and its value for steps outside [1, 10⁶], sigma_min not
/// finite and > 0, sigma_max not finite and > sigma_min, rho not finite and > 0, or (naming steps) a
/// grid that is not finite, positive and strictly decreasing in double (ρ so small or a σ range so
/// narrow that it overflows or collapses).
inline std::vector<double> karras_sigmas(int steps, const karras_schedule& s = {}) {
  detail::check_schedule_steps("karras_sigmas", steps, 1);
  detail::check_sigma_range("karras_sigmas", s.sigma_min, s.sigma_max);
  if (!(std::isfinite(s.rho) && s.rho > 0.0))
    detail::fail("karras_sigmas", "rho", s.rho, "needs a finite rho > 0");
  std::vector<double> sig =
      detail::karras_ramp(s.sigma_max, s.sigma_min, s.rho, static_cast<std::size_t>(steps));
  detail::check_decreasing_sigmas("karras_sigmas", steps, sig, "karras",
                                  "check sigma_min, sigma_max and rho");
  sig.push_back(0.0);
  return sig;
}

}  // namespace stork
