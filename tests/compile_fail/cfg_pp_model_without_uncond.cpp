// integrate with a CFG++ method needs a model that writes the unconditional prediction too.
// expect: integrate it with a model callback model(x, t, out, uncond)
#include <stork/stork.hpp>

#include <vector>

int main() {
  std::vector<double> x{14.6};
  auto denoiser = [](const std::vector<double>& y, double, std::vector<double>& d) { d = y; };
  const auto f = stork::field(denoiser, stork::ve{}, stork::prediction::sample);
  return static_cast<int>(stork::integrate(stork::euler_a_cfg_pp{}, f, x, std::vector<double>{14.6, 1.0, 0.0},
                                           stork::normal_noise{1})
                              .nfe);
}
