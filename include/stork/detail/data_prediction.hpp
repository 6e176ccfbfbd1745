/// @file
/// @brief Internal: what the data-prediction samplers (DPM-Solver++, UniPC) need from a parameterisation
/// (the `DataPrediction` concept), the grid in log-SNR λ = log(α/σ) and the exponential-integrator weights
/// ψ_k(h).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/detail/grid.hpp"
#include "stork/detail/history_ring.hpp"
#include "stork/error.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/model/process.hpp"
#include "stork/state.hpp"

namespace stork::detail {

/// @brief A parameterisation that also names its noise process x_t = α(t)·x₀ + σ(t)·ε and turns a model
/// output into the data prediction x̂₀ = c.state·x + c.output·out.
///
/// Valid expressions: `p.alpha(t)`, `p.sigma(t)` (double) and `p.denoise(t)` (an `affine_velocity`).
/// `stork::model<Process>` (every process and prediction) and `flow_velocity` (read as rectified flow:
/// α = 1 − σ, x̂₀ = x − σv) qualify.
template <class P>
inline constexpr bool is_data_prediction_v = has_denoise<P>&& is_detected_convertible_v<double, alpha_t, P>&&
    is_detected_convertible_v<double, sigma_t, P>;
#if STORK_HAS_CPP20
template <class P>
concept DataPrediction = is_data_prediction_v<P>;
#endif

/// ψ_k(h) = ∫₀ʰ e^{u−h} u^{k−1}/(k−1)! du = (−1)^k [e^{−h} − Σ_{i<k} (−h)^i/i!], k ≥ 1: the weight of the
/// k-th Taylor term of the data prediction in one exponential-integrator step of length h in λ
/// (ψ₁ = 1 − e^{−h}, ψ₂ = h − 1 + e^{−h}, ψ₃ = h²/2 − h + 1 − e^{−h}). Series below |h| = 1 (no
/// cancellation), closed form above; ψ₁(+∞) = 1.
inline double psi(int k, double h) {
  if (std::abs(h) < 1.0) {
    double term = 1.0, sum = 0.0;  // term = (−1)^j h^{k+j}/(k+j)!
    for (int i = 1; i <= k; ++i) term *= h / i;
    for (int j = 0; j < 30; ++j) {
      sum += term;
      term *= -h / (k + j + 1);
    }
    return sum;
  }
  if (k == 1) return -std::expm1(-h);
  double partial = 0.0, term = 1.0;  // Σ_{i<k} (−h)^i/i!
  for (int i = 0; i < k; ++i) {
    partial += term;
    term *= -h / (i + 1);
  }
  return (k % 2 == 0 ? 1.0 : -1.0) * (std::exp(-h) - partial);
}

/// The user's grid in log-SNR: λ_i = log α(t_i) − log σ(t_i), with α_i and σ_i. λ must increase strictly
/// (the methods step from noise toward data); λ₀ = −∞ (a flow grid starting at σ = 1) and λ_N = +∞ (a
/// flow grid ending at σ = 0) are the only infinite values it can hold.
class log_snr_grid {
 public:
  template <STORK_CONCEPT(DataPrediction) P>
  log_snr_grid(span<const double> times, const P& p, std::string_view who) {
    check_grid(times, who);
    const std::size_t n = times.size();
    lambda_.resize(n), alpha_.resize(n), sigma_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double a = p.alpha(times[i]), s = p.sigma(times[i]);
      const std::string at = "times[" + std::to_string(i) + "]";
      if (!(a >= 0.0 && s >= 0.0 && std::isfinite(a) && std::isfinite(s) && (a > 0.0 || s > 0.0)))
        fail(who, at, times[i],
             "the process gives alpha = " + describe(a) + ", sigma = " + describe(s) +
                 " there; the log-SNR needs finite alpha >= 0 and sigma >= 0, not both 0");
      alpha_[i] = a, sigma_[i] = s;
      lambda_[i] = std::log(a) - std::log(s);
      if (i > 0 && !(lambda_[i] > lambda_[i - 1]))
        fail(
            who, at, times[i],
            "the log-SNR lambda = log(alpha/sigma) must increase strictly along the grid (these methods step "
            "from noise toward data): lambda = " +
                describe(lambda_[i]) + " there, " + describe(lambda_[i - 1]) + " at times[" +
                std::to_string(i - 1) + "]");
    }
  }
  double lambda(std::size_t i) const noexcept { return lambda_[i]; }
  double alpha(std::size_t i) const noexcept { return alpha_[i]; }
  double sigma(std::size_t i) const noexcept { return sigma_[i]; }
  /// Index of the first grid point with finite λ (1 when the grid starts at α = 0, else 0).
  std::size_t first_finite() const noexcept { return std::isinf(lambda_.front()) ? 1 : 0; }
  /// True when the grid ends at σ = 0 (λ = +∞): the last step is the limit x = x̂₀.
  bool ends_at_data() const noexcept { return std::isinf(lambda_.back()); }

 private:
  std::vector<double> lambda_, alpha_, sigma_;
};

/// Order of a multistep update from grid point n: at most `order`, at most the number of stored points
/// with finite λ (a point at λ = −∞ carries no usable slope), and with `lower_order_final` at most the
/// number of intervals left (diffusers' `min(order, len(timesteps) − step_index)`). A step to λ = +∞ is
/// first order: the only finite limit of the update is x = x̂₀.
inline int multistep_order(int order, bool lower_order_final, std::size_t n, std::size_t intervals,
                           const log_snr_grid& g) {
  std::size_t k = static_cast<std::size_t>(order);
  const std::size_t f = g.first_finite();
  k = std::min(k, n >= f ? n - f + 1 : std::size_t{1});
  if (lower_order_final) k = std::min(k, intervals - n);
  if (n + 1 == intervals && g.ends_at_data()) k = 1;
  return static_cast<int>(std::max<std::size_t>(k, 1));
}

}  // namespace stork::detail
