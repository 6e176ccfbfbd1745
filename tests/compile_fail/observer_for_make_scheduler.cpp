// The engine-owned loop is the engine's: it observes with interval(), at_grid_point() and denoised().
// expect: make_scheduler takes no observer
#include <stork/stork.hpp>

#include <vector>

int main() {
  std::vector<double> x{1.0};
  auto observer = [](const stork::step_info<std::vector<double>>&) {};
  auto sch = stork::make_scheduler(stork::euler{}, std::vector<double>{0.9, 0.5}, x, observer);
  return sch.done() ? 0 : 1;
}
