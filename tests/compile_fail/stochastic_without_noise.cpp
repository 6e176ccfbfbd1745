// A stochastic method called without a noise source is rejected: the samplers never draw random numbers
// themselves (the RNG, on the CPU or the device, is the engine's), so the message says what to pass.
// expect: this method adds noise: pass a noise source
#include <stork/stork.hpp>

#include <vector>

int main() {
  std::vector<double> x{14.6};
  auto denoiser = [](const std::vector<double>& y, double, std::vector<double>& d) { d = y; };
  const auto f = stork::field(denoiser, stork::ve{}, stork::prediction::sample);
  return static_cast<int>(
      stork::integrate(stork::euler_ancestral{}, f, x, std::vector<double>{14.6, 1.0, 0.0}).nfe);
}
