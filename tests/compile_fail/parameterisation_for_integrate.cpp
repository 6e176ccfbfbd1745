// integrate takes the parameterisation from the field: a process passed beside it would be ambiguous.
// expect: integrate takes the parameterisation from the field
#include <stork/stork.hpp>

#include <vector>

int main() {
  std::vector<double> x{1.0};
  auto denoiser = [](const std::vector<double>& y, double, std::vector<double>& d) { d = y; };
  return static_cast<int>(
      stork::integrate(stork::euler{}, denoiser, x, std::vector<double>{0.9, 0.5}, stork::ve{}).nfe);
}
