/// @file
/// @brief `stork::vp_taus`: the STORK reference's ε-prediction time grid.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "stork/detail/schedule_check.hpp"
#include "stork/error.hpp"

namespace stork {

/// @brief Options of `vp_taus`.
struct vp_grid {
  double eps_stop = 1e-3;  ///< the last τ, 0 < eps_stop < 1/N (the reference's `stopping_eps`)
};

/// @brief The STORK reference's ε-prediction grid (docs/reference.md §2.6): the N values
/// [(N−1)/N, (N−2)/N, …, 1/N, eps_stop], decreasing τ in (0, 1). It starts at (N−1)/N, not at 1.
/// @par Cost: O(N). Throws stork::error for steps outside [2, 10⁶] or eps_stop outside (0, 1/N).
inline std::vector<double> vp_taus(int steps, const vp_grid& g = {}) {
  detail::check_schedule_steps("vp_taus", steps, 2);
  const double nd = static_cast<double>(steps);
  if (!(std::isfinite(g.eps_stop) && g.eps_stop > 0.0 && g.eps_stop < 1.0 / nd))
    detail::fail("vp_taus", "eps_stop", g.eps_stop,
                 "needs 0 < eps_stop < 1/steps = " + detail::describe(1.0 / nd));
  std::vector<double> t;
  t.reserve(static_cast<std::size_t>(steps));
  for (int k = steps - 1; k >= 1; --k) t.push_back(static_cast<double>(k) / nd);
  t.push_back(g.eps_stop);
  return t;
}

}  // namespace stork
