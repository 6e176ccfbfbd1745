/// @file
/// @brief `stork::exponential_sigmas`: the VE sigma grid uniform in log σ, as k-diffusion's
/// get_sigmas_exponential builds it.
#pragma once

#include <cstddef>
#include <vector>

#include "stork/detail/schedule_check.hpp"
#include "stork/detail/schedule_math.hpp"
#include "stork/error.hpp"

namespace stork {

/// @brief Options of `exponential_sigmas`. The default σ range, 0.0292 to 14.6146, is Stable
/// Diffusion 1.x's (see `karras_schedule`).
struct exponential_schedule {
  double sigma_min = 0.0292;   ///< the last nonzero σ, finite, > 0
  double sigma_max = 14.6146;  ///< the first σ, finite, > sigma_min
};

/// @brief The exponential (log-uniform) sigma grid for `steps` = N steps: N + 1 values, N strictly
/// decreasing from σ_max to σ_min with a constant ratio, then a final 0.
///
/// Reproduces k-diffusion's `get_sigmas_exponential(n, sigma_min, sigma_max)` (sampling.py):
/// σ_i = exp(linspace(ln σ_max, ln σ_min, N))_i, then 0 appended. One step gives {≈σ_max, 0}.
/// k-diffusion computes in float32 torch tensors; stork computes in double (with numpy's linspace), so
/// k-diffusion's values differ from these by float32 round-off (relative ~1e-7), while these match the
/// formula evaluated in double to about 1e-15.
/// The end points are σ_max and σ_min up to the rounding of exp(ln σ). flow_sigmas'
/// `sigma_spacing::exponential` uses the same ramp between its own end points.
/// Example: `stork::exponential_sigmas(10)` gives 14.615, 7.3258, 3.6721, 1.8407, .92268, .46251,
/// .23184, .11621, .058253, .0292, 0 (rounded).
/// @par Cost: O(N), one exp per value.
/// @throws stork::error naming the parameter and its value for steps outside [1, 10⁶], sigma_min not
/// finite and > 0, sigma_max not finite and > sigma_min, or (naming steps) a grid that is not
/// strictly decreasing in double (a σ range too narrow for N values).
inline std::vector<double> exponential_sigmas(int steps, const exponential_schedule& s = {}) {
  detail::check_schedule_steps("exponential_sigmas", steps, 1);
  detail::check_sigma_range("exponential_sigmas", s.sigma_min, s.sigma_max);
  std::vector<double> sig =
      detail::log_uniform_ramp(s.sigma_max, s.sigma_min, static_cast<std::size_t>(steps));
  detail::check_decreasing_sigmas("exponential_sigmas", steps, sig, "exponential",
                                  "check sigma_min and sigma_max");
  sig.push_back(0.0);
  return sig;
}

}  // namespace stork
