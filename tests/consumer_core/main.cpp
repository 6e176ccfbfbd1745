// Downstream use of the core alone: a VE denoiser sampled on Karras sigmas with DPM-Solver++(2M). No Eigen.
#include <stork/stork.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

#if __has_include(<Eigen/Core>)
#error "Eigen is on the include path: this consumer must build without it"
#endif

int main() {
  // Data N(1, 0.5²): the exact denoiser is the posterior mean.
  auto denoiser = [](const std::vector<double>& x, double sigma, std::vector<double>& out) {
    const double g = 0.25 / (0.25 + sigma * sigma);
    for (std::size_t i = 0; i < x.size(); ++i) out[i] = 1.0 + g * (x[i] - 1.0);
  };
  const double x0 = 14.6146 * 0.3;
  std::vector<double> x{x0};
  const stork::stats r =
      stork::integrate(stork::dpmpp_2m{}, stork::field(denoiser, stork::ve{}), x, stork::karras_sigmas(20));
  // The exact flow map from σ = 14.6146 to 0: 1 + 0.5·(x0 − 1)/√(0.25 + 14.6146²) ≈ 1.1157.
  const double exact = 1.0 + 0.5 * (x0 - 1.0) / std::sqrt(0.25 + 14.6146 * 14.6146);
  std::printf("consumer_core: x = %.6f (flow map %.6f) after %zu calls\n", x[0], exact, r.nfe);
  return std::abs(x[0] - exact) < 2e-3 && r.nfe == 20 ? 0 : 1;
}
