/// @file
/// @brief Internal: the grid in k-diffusion's σ space as stable-diffusion.cpp and ComfyUI run their
/// exponential samplers (res_multistep, dpm++2mv2): the VE coordinates of a VE or VP process, the flow's own
/// σ for rectified flow; and the ancestral step of each.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "stork/detail/ancestral_step.hpp"
#include "stork/detail/grid.hpp"
#include "stork/detail/span.hpp"
#include "stork/error.hpp"
#include "stork/model/model.hpp"
#include "stork/model/rectified_flow.hpp"

namespace stork::detail {

/// True when stable-diffusion.cpp runs P's model as a flow denoiser (`is_flow_denoiser`): a
/// `model<rectified_flow>` of any prediction, or a plain velocity field (`flow_velocity`).
template <class P>
constexpr bool sigma_space_is_flow() {
  if constexpr (process_model<P>) {
    using process = std::remove_cv_t<std::remove_reference_t<decltype(std::declval<const P&>().process)>>;
    return std::is_same_v<process, rectified_flow>;
  } else {
    return false;
  }
}

/// The user's grid in the σ space of k-diffusion's samplers: x = a·x_k with the sampler's state x_k at
/// noise level s, and the data prediction D = x̂₀ (the denoiser). For a VE or VP process a = α and s = σ/α:
/// the VE coordinates x/α at σ/α in which stable-diffusion.cpp and k-diffusion run a VP model
/// (CompVisDenoiser); for rectified flow a = 1 and s = σ, the flow's own state and σ, its velocity wrapped
/// as the denoiser D = x − σ·v (stable-diffusion.cpp's and ComfyUI's flow denoisers). Both satisfy
/// dx_k/ds = (x_k − D)/s. λ = −log s. s must decrease strictly and stay > 0 but at the last point, which may
/// be 0 (the end at data).
class sigma_space_grid {
 public:
  template <class P>
  sigma_space_grid(span<const double> times, const P& p, std::string_view who)
      : flow_(sigma_space_is_flow<P>()) {
    check_grid(times, who);
    const std::size_t n = times.size();
    a_.resize(n), s_.resize(n), lambda_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double al = p.alpha(times[i]), sg = p.sigma(times[i]);
      const double a = flow_ ? 1.0 : al, s = flow_ ? times[i] : sg / al;
      const std::string at = "times[" + std::to_string(i) + "]";
      if (!(std::isfinite(a) && a > 0.0 && std::isfinite(s) && s >= 0.0))
        fail(who, at, times[i],
             std::string("the sampler runs in k-diffusion's sigma space (") +
                 (flow_ ? "the flow's sigma" : "sigma/alpha, x/alpha") +
                 "), which needs finite alpha > 0 and sigma >= 0 there: alpha = " + describe(al) +
                 ", sigma = " + describe(sg));
      if (s == 0.0 && i + 1 < n)
        fail(who, at, times[i], "only the last grid point may be at sigma = 0 (the end at data)");
      if (i > 0 && !(s < s_[i - 1]))
        fail(who, at, times[i],
             "sigma" + std::string(flow_ ? "" : "/alpha") +
                 " must decrease strictly along the grid (these methods step from noise toward data): " +
                 describe(s) + " there, " + describe(s_[i - 1]) + " at times[" + std::to_string(i - 1) + "]");
      a_[i] = a, s_[i] = s;
      lambda_[i] = -std::log(s);  // +inf at s = 0
    }
  }
  /// x = scale·x_k at grid point i (α, or 1 for a flow).
  double scale(std::size_t i) const noexcept { return a_[i]; }
  /// The sampler's σ at grid point i (σ/α, or the flow's σ).
  double sigma(std::size_t i) const noexcept { return s_[i]; }
  /// −log sigma(i): k-diffusion's t (+∞ at σ = 0).
  double lambda(std::size_t i) const noexcept { return lambda_[i]; }
  /// True for rectified flow (the flow ancestral step applies).
  bool flow() const noexcept { return flow_; }
  /// True when the grid ends at σ = 0.
  bool ends_at_data() const noexcept { return s_.back() == 0.0; }

 private:
  bool flow_;
  std::vector<double> a_, s_, lambda_;
};

}  // namespace stork::detail
