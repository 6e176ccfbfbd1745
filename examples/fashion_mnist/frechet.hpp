/// @file
/// @brief Example code (not part of the library): the Fréchet distance between two sets of feature
/// vectors (FID's formula, here on the penultimate features of the Fashion-MNIST classifier).
///
/// FD = |μ₁ − μ₂|² + tr(C₁ + C₂ − 2·(C₁^{1/2} C₂ C₁^{1/2})^{1/2}): the squared 2-Wasserstein distance
/// between the Gaussians N(μ₁, C₁) and N(μ₂, C₂) fitted to the features. Both square roots are of
/// symmetric positive semi-definite matrices, taken with Eigen's SelfAdjointEigenSolver (eigenvalues below
/// zero from rounding are set to zero), so no complex matrix square root is needed.
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

#include <stork/error.hpp>

#include "models.hpp"

namespace fashion_mnist {

/// Mean and covariance (normalised by n − 1) of n feature vectors.
struct feature_stats {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
  Eigen::Index count = 0;
};

/// Statistics of the columns of `features` (dim × n, n ≥ 2). Computed in double.
inline feature_stats stats_of(const Eigen::MatrixXf& features) {
  if (features.cols() < 2)
    stork::detail::fail("fashion_mnist::stats_of", "features.cols()", static_cast<long long>(features.cols()),
                        "needs at least 2 feature vectors");
  const Eigen::MatrixXd f = features.cast<double>();
  feature_stats s{f.rowwise().mean(), {}, f.cols()};
  const Eigen::MatrixXd c = f.colwise() - s.mean;
  s.cov = c * c.transpose() / static_cast<double>(f.cols() - 1);
  return s;
}

/// Symmetric PSD square root via eigen-decomposition (negative rounding eigenvalues → 0).
inline Eigen::MatrixXd psd_sqrt(const Eigen::MatrixXd& m) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(0.5 * (m + m.transpose()));
  const Eigen::VectorXd r = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * r.asDiagonal() * es.eigenvectors().transpose();
}

/// FD between the Gaussians of two statistics of the same dimension. Throws stork::error otherwise.
inline double frechet_distance(const feature_stats& a, const feature_stats& b) {
  if (a.mean.size() != b.mean.size() || a.cov.rows() != a.mean.size() || b.cov.rows() != b.mean.size())
    stork::detail::fail(
        "fashion_mnist::frechet_distance", "dimension", static_cast<long long>(b.mean.size()),
        "both statistics need the same dimension, the first has " + std::to_string(a.mean.size()));
  const Eigen::MatrixXd s = psd_sqrt(a.cov);
  const Eigen::MatrixXd m = s * b.cov * s;
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(0.5 * (m + m.transpose()), Eigen::EigenvaluesOnly);
  const double tr_sqrt = es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2.0 * tr_sqrt;
}

/// Classifier features of images (pixels × n), evaluated in chunks of 1000 columns.
inline Eigen::MatrixXf features_of(const classifier& c, const Eigen::MatrixXf& images) {
  Eigen::MatrixXf f(c.cfg().hidden2, images.cols());
  for (Eigen::Index j = 0; j < images.cols(); j += 1000) {
    const Eigen::Index n = std::min<Eigen::Index>(1000, images.cols() - j);
    f.middleCols(j, n) = c.features(images.middleCols(j, n));
  }
  return f;
}

/// @brief FD between images (pixels × n, clamped to [−1, 1] first, as a sampler's output would be shown)
/// and reference statistics (e.g. `stats_of(features_of(c, test_set))`).
inline double image_fd(const classifier& c, const Eigen::MatrixXf& images, const feature_stats& reference) {
  return frechet_distance(stats_of(features_of(c, images.cwiseMax(-1.0f).cwiseMin(1.0f))), reference);
}

}  // namespace fashion_mnist
