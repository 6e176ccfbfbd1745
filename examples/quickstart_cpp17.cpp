#include <stork/stork.hpp>  // C++17: -I single_include (the one vendored file)

#include <cstdio>
#include <vector>

int main() {  // Sample a 1-D flow from noise x = 1.5 toward data N(2, 0.5²) with STORK-4.
  auto velocity = [](const std::vector<double>& x, double sigma, std::vector<double>& v) {
    const double a = 1 - sigma, var = a * a * 0.25 + sigma * sigma;  // exact rectified-flow velocity
    v[0] = (sigma - a * 0.25) / var * (x[0] - a * 2.0) - 2.0;
  };
  std::vector<double> x{1.5};
  stork::flow_schedule schedule;  // options are aggregates: set the members (C++20: designated initializers)
  schedule.shift = 1.0;
  schedule.spacing = stork::sigma_spacing::beta;  // STORK's flow grid: FlowMatchEuler's, beta spacing
  const std::vector<double> sigmas = stork::flow_sigmas(10, schedule);
  const stork::stats r = stork::integrate(stork::stork4{}, velocity, x, sigmas);
  std::printf("sample %.4f after %zu model calls (exact flow map: %.4f)\n", x[0], r.nfe, 2.0 + 0.5 * 1.5);
}
