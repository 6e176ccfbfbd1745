// A noise source passed to a method that adds no noise is a mistake (the engine's RNG would silently not
// be used): rejected, naming the stochastic methods.
// expect: this method adds no noise: drop the noise source
#include <stork/stork.hpp>

#include <vector>

int main() {
  std::vector<double> x{1.0};
  auto noise = [](std::vector<double>& out) { out.assign(out.size(), 0.0); };
  auto sch = stork::make_scheduler(stork::euler{}, std::vector<double>{0.9, 0.5}, x, noise);
  return sch.done() ? 0 : 1;
}
