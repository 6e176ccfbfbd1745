// DPM-Solver++ steps the data prediction x̂₀ in log-SNR: a parameterisation that only gives the velocity
// (no α, σ or denoise) cannot work with it, and the message says what to use instead.
// expect: use stork::model<Process>{.process, .prediction}
#include <stork/stork.hpp>

#include <vector>

struct affine_only {
  stork::affine_velocity affine(double) const { return {-1.0, 1.0}; }
};

int main() {
  std::vector<double> x{1.0};
  auto sch = stork::make_scheduler(stork::dpmpp_2m{}, std::vector<double>{0.9, 0.5}, x, affine_only{});
  return sch.done() ? 0 : 1;
}
