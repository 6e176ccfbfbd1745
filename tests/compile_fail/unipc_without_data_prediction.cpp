// UniPC, like DPM-Solver++, needs α(t), σ(t) and x̂₀ from the parameterisation.
// expect: UniPC needs a parameterisation with alpha(t), sigma(t) and denoise(t)
#include <stork/stork.hpp>

#include <vector>

struct affine_only {
  stork::affine_velocity affine(double) const { return {-1.0, 1.0}; }
};

int main() {
  std::vector<double> x{1.0};
  auto sch = stork::make_scheduler(stork::unipc{}, std::vector<double>{0.9, 0.5}, x, affine_only{});
  return sch.done() ? 0 : 1;
}
