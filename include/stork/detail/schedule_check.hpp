/// @file
/// @brief Internal: validation shared by the time grids (step counts, σ ranges, the final
/// "positive and strictly decreasing in double" check). Each throws stork::error naming the parameter.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include "stork/detail/span.hpp"

#include "stork/error.hpp"

namespace stork::detail {

/// Largest `steps` of every grid function: a bound on the memory a request can ask for.
inline constexpr int max_schedule_steps = 1000000;

/// Throws unless min_steps <= steps <= max_schedule_steps; `where` is the function's name.
inline void check_schedule_steps(std::string_view where, int steps, int min_steps) {
  if (steps < min_steps) fail(where, "steps", steps, "needs steps >= " + std::to_string(min_steps));
  if (steps > max_schedule_steps)
    fail(where, "steps", steps, "at most " + std::to_string(max_schedule_steps) + " steps");
}

/// Throws unless sigma_min is finite and > 0, then unless sigma_max is finite and > sigma_min
/// (karras_sigmas, exponential_sigmas).
inline void check_sigma_range(std::string_view where, double sigma_min, double sigma_max) {
  if (!(std::isfinite(sigma_min) && sigma_min > 0.0))
    fail(where, "sigma_min", sigma_min, "needs a finite sigma_min > 0");
  if (!(std::isfinite(sigma_max) && sigma_max > sigma_min))
    fail(where, "sigma_max", sigma_max, "needs a finite sigma_max > sigma_min = " + describe(sigma_min));
}

/// Throws, naming `steps`, unless every value of `sig` is finite, positive and strictly below the one
/// before: "the <grid> grid is not positive and strictly decreasing in double precision: sigma[i] = …;
/// <hint>". Catches ranges and options that are valid one by one but collapse or overflow in double.
inline void check_decreasing_sigmas(std::string_view where, int steps, span<const double> sig,
                                    std::string_view grid, std::string_view hint) {
  for (std::size_t i = 0; i < sig.size(); ++i) {
    const bool ok = std::isfinite(sig[i]) && sig[i] > 0.0 && (i == 0 || sig[i] < sig[i - 1]);
    if (!ok)
      fail(where, "steps", steps,
           std::string("the ") + std::string(grid) +
               " grid is not positive and strictly decreasing in double " + "precision: sigma[" +
               std::to_string(i) + "] = " + describe(sig[i]) +
               (i == 0 ? std::string() : ", sigma[" + std::to_string(i - 1) + "] = " + describe(sig[i - 1])) +
               "; " + std::string(hint));
  }
}

}  // namespace stork::detail
