// An engine's sampling loop over the vendored single header: the sampler is chosen by the engine, the
// latents are std::vector<float>, the model is the engine's (here the exact denoiser of N(1, 0.5²)).
#include <stork/stork.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  std::vector<float> x(16, 14.6146f * 0.5f), d(16);  // x = σ_max·ε with ε = 0.5
  const std::vector<double> sigmas = stork::karras_sigmas(20, stork::karras_schedule{});
  auto sch = stork::make_scheduler(stork::dpmpp_2m{}, sigmas, x, stork::ve{});
  while (!sch.done()) {
    const double s = sch.time();
    for (std::size_t i = 0; i < x.size(); ++i)
      d[i] = static_cast<float>(1.0 + 0.25 / (0.25 + s * s) * (static_cast<double>(x[i]) - 1.0));
    sch.step(d, x);
  }
  // Exact: the flow map of N(1, 0.25) from σ_max, x₀ = 1 + 0.5·(x_T − 1)/√(0.25 + σ_max²).
  const double exact = 1.0 + 0.5 * (14.6146 * 0.5 - 1.0) / std::sqrt(0.25 + 14.6146 * 14.6146);
  const double err = std::abs(static_cast<double>(x[0]) - exact);
  std::printf("vendored stork %s: DPM++ 2M Karras, %zu model calls, x0 %.4f (exact %.4f)\n", stork::version,
              sch.nfe(), static_cast<double>(x[0]), exact);
  return err < 0.01 ? 0 : 1;
}
