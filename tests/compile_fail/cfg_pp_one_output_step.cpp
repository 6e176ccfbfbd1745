// A CFG++ method steps with the guided and the unconditional prediction: the one-output step does not
// compile, and the message says what to call instead.
// expect: this CFG++ method needs the unconditional prediction too
#include <stork/stork.hpp>

#include <vector>

int main() {
  std::vector<double> x{14.6}, d(1);
  auto sch =
      stork::make_scheduler(stork::euler_cfg_pp{}, std::vector<double>{14.6, 1.0, 0.0}, x, stork::ve{});
  d = x;
  sch.step(d, x);
  return 0;
}
