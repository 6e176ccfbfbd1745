// step(out, uncond, x) is for CFG++ methods only.
// expect: step(out, uncond, x) is for CFG++ methods
#include <stork/stork.hpp>

#include <vector>

int main() {
  std::vector<double> x{14.6}, d(1), u(1);
  auto sch = stork::make_scheduler(stork::euler{}, std::vector<double>{14.6, 1.0, 0.0}, x, stork::ve{});
  sch.step(d, u, x);
  return 0;
}
