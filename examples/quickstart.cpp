#include <stork/stork.hpp>

#include <cstdio>
#include <vector>

int main() {  // Sample a 1-D flow from noise x = 1.5 toward data N(2, 0.5²) with STORK-4.
  auto velocity = [](const std::vector<double>& x, double sigma, std::vector<double>& v) {
    const double a = 1 - sigma, var = a * a * 0.25 + sigma * sigma;  // exact rectified-flow velocity
    v[0] = (sigma - a * 0.25) / var * (x[0] - a * 2.0) - 2.0;
  };
  std::vector<double> x{1.5};
  // STORK's flow grid: FlowMatchEuler's with beta spacing (docs/flow_grid.md).
  const std::vector<double> sigmas =
      stork::flow_sigmas(10, stork::flow_schedule{.shift = 1.0, .spacing = stork::sigma_spacing::beta});
  const stork::stats r = stork::integrate(stork::stork4{}, velocity, x, sigmas);
  std::printf("sample %.4f after %zu model calls (exact flow map: %.4f)\n", x[0], r.nfe, 2.0 + 0.5 * 1.5);
}
