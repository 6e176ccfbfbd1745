/// @file
/// @brief Internal: validation of time grids and the position of a sampler on its grid.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/error.hpp"

namespace stork::detail {

/// Throws stork::error unless `times` has at least `min_points` finite, strictly monotone entries whose
/// differences (the steps) are finite too.
inline void check_grid(span<const double> times, std::string_view who, std::size_t min_points = 2) {
  if (times.size() < min_points)
    fail(who, "times.size()", times.size(),
         "a grid needs at least " + std::to_string(min_points) + " points");
  for (std::size_t i = 0; i < times.size(); ++i)
    if (!std::isfinite(times[i]))
      fail(who, "times[" + std::to_string(i) + "]", times[i], "grid values must be finite");
  const bool increasing = times[1] > times[0];
  for (std::size_t i = 1; i < times.size(); ++i) {
    const bool ok = increasing ? times[i] > times[i - 1] : times[i] < times[i - 1];
    if (!ok) {
      // Appended piece by piece: GCC 12 at -O2 reports a false -Warray-bounds for the chained operator+ here.
      std::string why(increasing ? "the grid must be strictly increasing"
                                 : "the grid must be strictly decreasing");
      why += ", times[";
      why += std::to_string(i - 1);
      why += "] = ";
      why += describe(times[i - 1]);
      fail(who, "times[" + std::to_string(i) + "]", times[i], why);
    }
    if (!std::isfinite(times[i] - times[i - 1]))  // e.g. -1e308 to 1e308: the step h would be ±Inf
      fail(who, "times[" + std::to_string(i) + "]", times[i],
           "the step from times[" + std::to_string(i - 1) + "] = " + describe(times[i - 1]) +
               " overflows double precision");
  }
}

/// Throws stork::error, before anything is changed, when a weight of the step from t0 (grid interval n)
/// to t1 is not finite; `why` says what makes it overflow for this method.
inline void check_step_weights(std::string_view who, span<const double> w, std::size_t n, double t0,
                               double t1, std::string_view why) {
  for (const double wi : w)
    if (!std::isfinite(wi))
      fail(
          who, "times[" + std::to_string(n) + "]", t0,
          "the step to " + describe(t1) + " has non-finite weights in double precision: " + std::string(why));
}

/// The user's grid (copied once) and the current interval [t_n, t_{n+1}].
class grid_walk {
 public:
  grid_walk(span<const double> times, std::string_view who, std::size_t min_points = 2) {
    check_grid(times, who, min_points);
    t_.assign(times.begin(), times.end());
  }
  std::size_t interval() const noexcept { return n_; }
  std::size_t intervals() const noexcept { return t_.size() - 1; }
  bool done() const noexcept { return n_ + 1 >= t_.size(); }
  double t0() const noexcept { return t_[n_]; }
  /// The end of the current interval; once done(), the last grid time (never past the grid).
  double t1() const noexcept { return done() ? t_[n_] : t_[n_ + 1]; }
  /// Signed step t_{n+1} − t_n; 0 once done().
  double h() const noexcept { return done() ? 0.0 : t_[n_ + 1] - t_[n_]; }
  double at(std::size_t i) const noexcept { return t_[i]; }
  span<const double> times() const noexcept { return t_; }
  void next() noexcept { ++n_; }

 private:
  std::vector<double> t_;
  std::size_t n_ = 0;
};

}  // namespace stork::detail
