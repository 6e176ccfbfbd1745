#include <stork/stork.hpp>

#include <cstdio>
#include <vector>

int main() {  // "DPM++ 2M Karras": a denoiser D(x, σ) in k-diffusion's σ space, data N(1, 0.5²).
  auto denoiser = [](const std::vector<double>& x, double sigma, std::vector<double>& d) {
    for (std::size_t i = 0; i < x.size(); ++i) d[i] = 1.0 + 0.25 / (0.25 + sigma * sigma) * (x[i] - 1.0);
  };
  std::vector<double> x{14.6146 * 0.3}, d(1);  // x = σ_max·ε
  const std::vector<double> sigmas =
      stork::karras_sigmas(20, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0});
  auto sch =
      stork::make_scheduler(stork::dpmpp_2m{}, sigmas, x, stork::ve{});  // ve{}: x = x0 + σε, a denoiser
  while (!sch.done()) {
    denoiser(x, sch.time(), d);  // never called at σ = 0: the last step is x = D
    sch.step(d, x);
  }
  std::printf("sample %.4f after %zu denoiser calls\n", x[0], sch.nfe());
}
