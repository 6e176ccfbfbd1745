// The engine-owned loop: the engine keeps its batch (one Eigen matrix, one sample per column), calls its
// model twice per step for classifier-free guidance (CFG), combines the two outputs itself and hands the
// result to `sch.step`. Shown for a flow (velocity) model and for an ε-prediction model.
//
// The "model" is analytic, so the output can be checked: data are a 2-D Gaussian mixture whose class 0
// is one Gaussian N(μ₀, s²I) and class 1 two more; the conditional model is the exact rectified-flow
// velocity (or ε̂) of class 0 alone, the unconditional one that of the whole mixture. With guidance
// g = 1 the combination is the conditional model itself, whose flow map is closed form: the samples
// must land on μ₀ + s·(initial noise), and the program fails if they do not.
#include <stork/eigen.hpp>
#include <stork/stork.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using batch = Eigen::MatrixXd;  // 2 × B: one sample per column

struct component {
  double weight;
  Eigen::Vector2d mean;
  double spread;
  int label;
};
const std::vector<component> mixture{
    {0.5, {-1.2, 0.4}, 0.25, 0}, {0.25, {1.2, 0.8}, 0.25, 1}, {0.25, {1.0, -1.0}, 0.25, 1}};
constexpr int unconditional = -1;

/// Data x₀ ~ Σ_k π_k N(μ_k, s_k²I) seen at x = a·x₀ + b·ε: each column's posterior over the components
/// of class `label` (all of them for `unconditional`), their variances a²s_k² + b², then
/// out = Σ_k w_k·(c(k)·(x − aμ_k) + d(k)·μ_k).
template <class C, class D>
void posterior_sum(const batch& x, double a, double b, int label, C c, D d, batch& out) {
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    double wsum = 0.0, lmax = -1e300;
    std::vector<double> logw(mixture.size(), -1e300);
    for (std::size_t k = 0; k < mixture.size(); ++k) {
      const component& m = mixture[k];
      if (label != unconditional && m.label != label) continue;
      const double var = a * a * m.spread * m.spread + b * b;
      logw[k] = std::log(m.weight) - std::log(var) - 0.5 * (x.col(j) - a * m.mean).squaredNorm() / var;
      lmax = std::max(lmax, logw[k]);
    }
    out.col(j).setZero();
    for (std::size_t k = 0; k < mixture.size(); ++k) {
      if (logw[k] == -1e300) continue;
      const double w = std::exp(logw[k] - lmax), var = a * a * mixture[k].spread * mixture[k].spread + b * b;
      wsum += w;
      out.col(j) +=
          w * (c(mixture[k], var) * (x.col(j) - a * mixture[k].mean) + d(mixture[k]) * mixture[k].mean);
    }
    out.col(j) /= wsum;
  }
}

/// A flow model: velocity dx/dσ at noise level σ (x_σ = (1−σ)x₀ + σε), conditioned on `label`.
/// In an engine this is the network forward pass.
void flow_model(const batch& x, double sigma, int label, batch& v) {
  const double a = 1.0 - sigma;
  posterior_sum(
      x, a, sigma, label,
      [&](const component& m, double var) { return (sigma - a * m.spread * m.spread) / var; },
      [](const component&) { return -1.0; }, v);
}

/// An ε-prediction model under the VP process: ε̂(x, τ) (x_τ = α x₀ + σ ε), conditioned on `label`.
void eps_model(const stork::vp_linear& vp, const batch& x, double tau, int label, batch& e) {
  const double al = vp.alpha(tau), sg = vp.sigma(tau);
  posterior_sum(
      x, al, sg, label, [&](const component&, double var) { return sg / var; },
      [](const component&) { return 0.0; }, e);
}

batch noise(Eigen::Index n) {
  std::mt19937_64 gen(7);
  std::normal_distribution<double> nd;
  batch z(2, n);
  for (Eigen::Index j = 0; j < z.size(); ++j) z.data()[j] = nd(gen);
  return z;
}

/// Share of the columns whose nearest component mean belongs to class 0.
double share_class0(const batch& x) {
  int hits = 0;
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    std::size_t best = 0;
    for (std::size_t k = 1; k < mixture.size(); ++k)
      if ((x.col(j) - mixture[k].mean).squaredNorm() < (x.col(j) - mixture[best].mean).squaredNorm())
        best = k;
    hits += mixture[best].label == 0;
  }
  return hits / static_cast<double>(x.cols());
}

/// Flow model + CFG with guidance g: returns the final batch; `calls` counts network evaluations.
batch sample_flow(double g, const batch& x_init, std::size_t& calls) {
  const std::vector<double> sigmas = stork::flow_sigmas(20, stork::flow_schedule{.shift = 1.0});
  batch x = x_init;  // the engine's batch, sampled in place
  batch v_cond(x.rows(), x.cols()), v_uncond(x.rows(), x.cols()), v(x.rows(), x.cols());  // once
  auto sch = stork::make_scheduler(stork::stork4{}, sigmas, x);  // allocates the method's temporaries
  while (!sch.done()) {
    const double sigma = sch.time();                // the model is evaluated at (x, sigma), nowhere else
    flow_model(x, sigma, 0, v_cond);                // model call 1: conditional (the prompt)
    flow_model(x, sigma, unconditional, v_uncond);  // model call 2: unconditional (empty prompt)
    v = v_uncond + g * (v_cond - v_uncond);         // CFG, by the engine: one pass, no allocation
    sch.step(v, x);                                 // the velocity in; x becomes the next evaluation point
    calls += 2;                                     // engines often run both as one batch of 2B columns
  }
  return x;  // done(): x is the sample at σ = 0
}

/// ε model + CFG: the same loop; the scheduler is told the parameterisation and gets the raw ε̂.
batch sample_eps(double g, const batch& x_init, std::size_t& calls) {
  const stork::vp_linear vp{};
  const std::vector<double> taus = stork::vp_taus(20);
  batch x = x_init;
  batch e_cond(x.rows(), x.cols()), e_uncond(x.rows(), x.cols()), e(x.rows(), x.cols());
  auto sch = stork::make_scheduler(stork::stork4{}, taus, x, vp);
  while (!sch.done()) {
    const double tau = sch.time();
    eps_model(vp, x, tau, 0, e_cond);
    eps_model(vp, x, tau, unconditional, e_uncond);
    e = e_uncond + g * (e_cond - e_uncond);  // CFG on ε̂, as ε-models do
    sch.step(e, x);
    calls += 2;
  }
  return x;  // the last step was the Tweedie denoise: x = x̂₀
}

}  // namespace

int main() {
  const Eigen::Index B = 512;
  const batch z = noise(B);
  const component& c0 = mixture[0];
  bool ok = true;

  std::printf("flow model, STORK-4, 20 steps of flow_sigmas(shift 1), B = %lld samples per batch\n",
              static_cast<long long>(B));
  for (double g : {0.0, 1.0, 3.0}) {
    std::size_t calls = 0;
    const batch x = sample_flow(g, z, calls);
    const Eigen::Vector2d mean = x.rowwise().mean();
    std::printf("  guidance %.0f: %zu network calls, share of class 0 %.3f, sample mean (%.3f, %.3f)", g,
                calls, share_class0(x), mean(0), mean(1));
    if (g == 1.0) {  // exact: x(0) = μ₀ + s·x(1) for the single Gaussian of class 0
      const batch exact = (c0.spread * z).colwise() + c0.mean;
      const double err = (x - exact).cwiseAbs().maxCoeff();
      std::printf(", max |x − exact flow map| %.2e", err);
      ok = ok && err < 5e-3;
    }
    if (g == 0.0) ok = ok && std::abs(share_class0(x) - 0.5) < 0.1;
    if (g == 3.0) ok = ok && share_class0(x) > 0.99;
    std::printf("\n");
  }

  const stork::vp_linear vp{};
  const std::vector<double> taus = stork::vp_taus(20);
  std::printf("ε model, STORK-4, vp_taus(20) (τ from %.2f to %g), ends with the Tweedie denoise\n",
              taus.front(), taus.back());
  for (double g : {0.0, 1.0, 3.0}) {
    std::size_t calls = 0;
    const batch x = sample_eps(g, z, calls);
    std::printf("  guidance %.0f: %zu network calls, share of class 0 %.3f", g, calls, share_class0(x));
    if (g == 1.0) {  // exact VP flow map of N(μ₀, s²) from τ₀ to τ_end, then the exact denoise there
      auto sd = [&](double t) {
        return std::sqrt(vp.alpha(t) * vp.alpha(t) * c0.spread * c0.spread + vp.sigma(t) * vp.sigma(t));
      };
      const double t0 = taus.front(), t1 = taus.back(), a1 = vp.alpha(t1), s1 = vp.sigma(t1);
      const batch x1 = ((sd(t1) / sd(t0)) * (z.colwise() - vp.alpha(t0) * c0.mean)).colwise() + a1 * c0.mean;
      const batch eps1 = (s1 / (sd(t1) * sd(t1))) * (x1.colwise() - a1 * c0.mean);
      const double err = (x - (x1 - s1 * eps1) / a1).cwiseAbs().maxCoeff();
      std::printf(", max |x − exact x̂₀| %.2e", err);
      ok = ok && err < 0.1;  // vp_taus is uniform in τ: coarse where ε̂ varies fast (τ → 0)
    }
    if (g == 3.0) ok = ok && share_class0(x) > 0.99;
    std::printf("\n");
  }
  std::printf(ok ? "all checks passed\n" : "CHECK FAILED\n");
  return ok ? 0 : 1;
}
