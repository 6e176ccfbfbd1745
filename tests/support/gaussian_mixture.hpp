// Gaussian-mixture data with closed-form model outputs under every noise process (rectified flow, VP, VE)
// and prediction type (docs/test-problems.md).
#pragma once

#include <stork/stork.hpp>

#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

namespace stork_test {

/// Data x0 ~ Σ_k π_k N(μ_k, s_k² I) in d dimensions.
struct gaussian_mixture {
  std::size_t dim;
  std::vector<double> weight;             // π_k
  std::vector<std::vector<double>> mean;  // μ_k
  std::vector<double> spread;             // s_k

  /// Posterior component weights for x = a·x0 + b·ε (a = 1−σ, b = σ for rectified flow).
  std::vector<double> posterior(const double* x, double a, double b, std::vector<double>& var) const {
    const std::size_t K = weight.size();
    std::vector<double> logw(K);
    var.resize(K);
    double mx = -1e300;
    for (std::size_t k = 0; k < K; ++k) {
      var[k] = a * a * spread[k] * spread[k] + b * b;
      double r2 = 0;
      for (std::size_t i = 0; i < dim; ++i) r2 += (x[i] - a * mean[k][i]) * (x[i] - a * mean[k][i]);
      logw[k] = std::log(weight[k]) - 0.5 * static_cast<double>(dim) * std::log(var[k]) - 0.5 * r2 / var[k];
      mx = std::max(mx, logw[k]);
    }
    double sum = 0;
    for (double& l : logw) sum += (l = std::exp(l - mx));
    for (double& l : logw) l /= sum;
    return logw;
  }

  /// Rectified-flow velocity v(x, σ) = Σ_k w_k [((σ − a s_k²)/v_k)(x − aμ_k) − μ_k], a = 1 − σ, for a
  /// batch of points stored one after another.
  void flow_velocity(const std::vector<double>& x, double sigma, std::vector<double>& v) const {
    const double a = 1.0 - sigma;
    std::vector<double> var;
    for (std::size_t p = 0; p + dim <= x.size(); p += dim) {
      const std::vector<double> w = posterior(&x[p], a, sigma, var);
      for (std::size_t i = 0; i < dim; ++i) {
        double acc = 0;
        for (std::size_t k = 0; k < weight.size(); ++k)
          acc += w[k] *
                 ((sigma - a * spread[k] * spread[k]) / var[k] * (x[p + i] - a * mean[k][i]) - mean[k][i]);
        v[p + i] = acc;
      }
    }
  }

  /// VP ε̂(x, τ) = Σ_k w_k (σ/v_k)(x − αμ_k) under the process `vp`.
  void epsilon(const stork::vp_linear& vp, const std::vector<double>& x, double tau,
               std::vector<double>& e) const {
    const double al = vp.alpha(tau), sg = vp.sigma(tau);
    std::vector<double> var;
    for (std::size_t p = 0; p + dim <= x.size(); p += dim) {
      const std::vector<double> w = posterior(&x[p], al, sg, var);
      for (std::size_t i = 0; i < dim; ++i) {
        double acc = 0;
        for (std::size_t k = 0; k < weight.size(); ++k)
          acc += w[k] * sg / var[k] * (x[p + i] - al * mean[k][i]);
        e[p + i] = acc;
      }
    }
  }

  /// Under any process x = αx0 + σε (α = al, σ = sg), for a batch of points: the posterior mean
  /// E[x0|x] = Σ_k w_k(μ_k + α s_k²/v_k (x − αμ_k)), E[ε|x] = Σ_k w_k (σ/v_k)(x − αμ_k) and the score
  /// ∇log p(x) = −Σ_k w_k (x − αμ_k)/v_k, with v_k = α²s_k² + σ².
  enum class quantity { mean, noise, score };
  void posterior_quantity(quantity q, double al, double sg, const std::vector<double>& x,
                          std::vector<double>& out) const {
    std::vector<double> var;
    for (std::size_t p = 0; p + dim <= x.size(); p += dim) {
      const std::vector<double> w = posterior(&x[p], al, sg, var);
      for (std::size_t i = 0; i < dim; ++i) {
        double acc = 0;
        for (std::size_t k = 0; k < weight.size(); ++k) {
          const double r = (x[p + i] - al * mean[k][i]) / var[k];
          acc += w[k] * (q == quantity::mean    ? mean[k][i] + al * spread[k] * spread[k] * r
                         : q == quantity::noise ? sg * r
                                                : -r);
        }
        out[p + i] = acc;
      }
    }
  }

  /// The exact output of a model of prediction type `p` at (x, t) under the process `pr`: ε̂ = E[ε|x],
  /// x̂0 = E[x0|x], v̂ = (αε̂ − σx̂0)/√(α² + σ²), or the probability-flow velocity (score form).
  template <class Process>
  void model_output(const Process& pr, stork::prediction p, const std::vector<double>& x, double t,
                    std::vector<double>& out) const {
    const double al = pr.alpha(t), sg = pr.sigma(t);
    switch (p) {
      case stork::prediction::epsilon:
        return posterior_quantity(quantity::noise, al, sg, x, out);
      case stork::prediction::sample:
        return posterior_quantity(quantity::mean, al, sg, x, out);
      case stork::prediction::v: {
        std::vector<double> e(x.size()), m(x.size());
        posterior_quantity(quantity::noise, al, sg, x, e);
        posterior_quantity(quantity::mean, al, sg, x, m);
        const double r = std::sqrt(al * al + sg * sg);
        for (std::size_t i = 0; i < x.size(); ++i) out[i] = (al * e[i] - sg * m[i]) / r;
        return;
      }
      case stork::prediction::velocity:
        return probability_flow(al, sg, pr.dalpha(t), pr.dsigma(t), x, out);
    }
  }

  /// Probability-flow velocity of x = α(t)x0 + σ(t)ε written with the score (Song et al. 2021, the SDE
  /// dx = f x dt + g dw with f = α'/α, g² = 2σσ' − 2(α'/α)σ²): dx/dt = f·x − ½g²·∇log p(x). Arguments are
  /// α, σ, α', σ' at t.
  void probability_flow(double al, double sg, double dal, double dsg, const std::vector<double>& x,
                        std::vector<double>& v) const {
    std::vector<double> score(x.size());
    posterior_quantity(quantity::score, al, sg, x, score);
    const double f = dal / al, half_g2 = sg * dsg - f * sg * sg;
    for (std::size_t i = 0; i < x.size(); ++i) v[i] = f * x[i] - half_g2 * score[i];
  }
};

/// One Gaussian N(μ, s²): its flow map is closed form.
inline gaussian_mixture single_gaussian(double mu, double s) { return {1, {1.0}, {{mu}}, {s}}; }

/// Exact rectified-flow map of a single Gaussian from σ0 to σ: x(σ) = m(σ) + std(σ)/std(σ0)·(x0 − m(σ0)).
inline double gaussian_flow_map(double mu, double s, double x0, double sigma0, double sigma) {
  auto sd = [s](double sg) { return std::sqrt((1 - sg) * (1 - sg) * s * s + sg * sg); };
  return (1 - sigma) * mu + sd(sigma) / sd(sigma0) * (x0 - (1 - sigma0) * mu);
}

/// Exact VP probability-flow map of a single Gaussian: x(τ) = αμ + √v(τ)/√v(τ0)·(x0 − α0μ).
inline double gaussian_vp_map(const stork::vp_linear& vp, double mu, double s, double x0, double tau0,
                              double tau) {
  auto sd = [&](double t) {
    return std::sqrt(vp.alpha(t) * vp.alpha(t) * s * s + vp.sigma(t) * vp.sigma(t));
  };
  return vp.alpha(tau) * mu + sd(tau) / sd(tau0) * (x0 - vp.alpha(tau0) * mu);
}

/// The same for any process with alpha(t), sigma(t) (docs/test-problems.md with α, σ in place of 1 − σ, σ):
/// x(t) = α(t)μ + sd(t)/sd(t0)·(x0 − α(t0)μ), sd = √(α²s² + σ²).
template <class Process>
double gaussian_process_map(const Process& pr, double mu, double s, double x0, double t0, double t) {
  auto sd = [&](double u) {
    return std::sqrt(pr.alpha(u) * pr.alpha(u) * s * s + pr.sigma(u) * pr.sigma(u));
  };
  return pr.alpha(t) * mu + sd(t) / sd(t0) * (x0 - pr.alpha(t0) * mu);
}

/// A 2-D mixture of three components, one of them narrow (stiff near σ → 0).
inline gaussian_mixture three_blobs() {
  return {2, {0.3, 0.5, 0.2}, {{-1.5, 0.5}, {1.0, 1.0}, {0.5, -1.5}}, {0.3, 0.2, 0.05}};
}

/// Eight equal components on a circle of radius 2, spread 0.1 (the "8 Gaussians" toy set).
inline gaussian_mixture ring8() {
  gaussian_mixture g{2, {}, {}, {}};
  for (int k = 0; k < 8; ++k) {
    const double a = 2.0 * std::numbers::pi * k / 8.0;
    g.weight.push_back(1.0 / 8.0);
    g.mean.push_back({2.0 * std::cos(a), 2.0 * std::sin(a)});
    g.spread.push_back(0.1);
  }
  return g;
}

/// Deterministic standard-normal-ish noise (Box–Muller on a fixed LCG) for n values.
inline std::vector<double> fixed_noise(std::size_t n, unsigned seed = 1) {
  std::vector<double> z(n);
  unsigned long long s = 0x9E3779B97F4A7C15ULL * (seed + 1);
  auto uni = [&s] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (static_cast<double>(s >> 11) + 0.5) / 9007199254740992.0;
  };
  for (std::size_t i = 0; i < n; ++i)
    z[i] = std::sqrt(-2.0 * std::log(uni())) * std::cos(6.283185307179586 * uni());
  return z;
}

/// Equal-weight mixture in `dim` dimensions, one component per entry of `spreads` (its standard deviation),
/// the means drawn from `fixed_noise(dim · components, seed)`: the benchmarks' high-dimensional problems.
inline gaussian_mixture random_mixture(std::size_t dim, const std::vector<double>& spreads, unsigned seed) {
  gaussian_mixture g{dim, {}, {}, spreads};
  const std::vector<double> z = fixed_noise(dim * spreads.size(), seed);
  for (std::size_t k = 0; k < spreads.size(); ++k) {
    g.weight.push_back(1.0 / static_cast<double>(spreads.size()));
    g.mean.emplace_back(z.begin() + static_cast<long>(k * dim), z.begin() + static_cast<long>((k + 1) * dim));
  }
  return g;
}

}  // namespace stork_test
