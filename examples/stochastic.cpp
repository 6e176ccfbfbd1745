#include <stork/stork.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

// "DPM++ 2M SDE Karras" and "Euler a": a denoiser D(x, σ) in k-diffusion's σ space, data N(1, 0.5²),
// 10,000 samples each; prints their mean and standard deviation.
int main() {
  auto denoiser = [](const std::vector<double>& x, double sigma, std::vector<double>& d) {
    for (std::size_t i = 0; i < x.size(); ++i) d[i] = 1.0 + 0.25 / (0.25 + sigma * sigma) * (x[i] - 1.0);
  };
  auto moments = [](const std::vector<double>& x) {
    double m = 0, v = 0;
    for (double xi : x) m += xi / double(x.size());
    for (double xi : x) v += (xi - m) * (xi - m) / double(x.size() - 1);
    return std::pair{m, std::sqrt(v)};
  };
  const std::vector<double> sigmas =
      stork::karras_sigmas(20, {.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0});
  stork::normal_noise noise{42};  // seeded N(0, 1) draws for std::vector / Eigen states
  std::vector<double> x(10000);
  noise(x);
  for (double& v : x) v *= sigmas.front();  // x = σ_max·z
  std::vector<double> y = x, d(x.size());

  // integrate: std::ref keeps one stream across calls (a plain copy would restart it).
  stork::integrate(stork::dpmpp_2m_sde{.eta = 1.0, .solver = stork::sde_solver::midpoint},
                   stork::field(denoiser, stork::ve{}), x, sigmas, std::ref(noise));

  // The engine-owned loop with the engine's own RNG: noise(z) fills z with N(0, 1), once per noisy step.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> n01;
  auto engine_noise = [&](std::vector<double>& z) {
    for (double& v : z) v = n01(rng);
  };
  auto sch = stork::make_scheduler(stork::euler_ancestral{.eta = 1.0}, sigmas, y, stork::ve{}, engine_noise);
  while (!sch.done()) {
    denoiser(y, sch.time(), d);
    sch.step(d, y);
  }
  const auto [m2, s2] = moments(x);
  const auto [ma, sa] = moments(y);
  std::printf("data: mean 1, sd 0.5; DPM++ 2M SDE: mean %.3f, sd %.3f; Euler a: mean %.3f, sd %.3f\n", m2, s2,
              ma, sa);
  return std::abs(m2 - 1.0) < 0.03 && std::abs(s2 - 0.5) < 0.03 ? 0 : 1;  // 2M SDE: second order
}
