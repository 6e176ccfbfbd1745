/// @file
/// @brief Internal: the velocity polynomial of STORK's virtual stages.
///
/// A STORK step replaces the model call at a stage by a polynomial in the stage's time offset
/// δ = (stage time − step start), built from the current output F0 and up to three past outputs
/// F1..F3: P(δ) = Σ_i p_i(δ)·F_i with p_i(δ) = Σ_k coef[k][i]·δ^k. A Taylor polynomial
/// F0 + δ·D1 + δ²/2·D2 + δ³/6·D3 whose derivatives D_k are finite differences Σ_i W[k][i]·F_i has
/// coef[k][i] = W[k][i]/k!; the corrected variant's polynomial is the Lagrange interpolant of the
/// outputs at their true times (exact on non-uniform grids).
#pragma once

#include <array>
#include <cstddef>

namespace stork::detail {

/// Up to four outputs, polynomial degree ≤ 3.
struct output_polynomial {
  std::array<std::array<double, 4>, 4> coef{};  ///< coef[k][i]: coefficient of δ^k for output i
  std::size_t outputs = 1;                      ///< how many of F0..F3 are used

  /// p_i(δ) for every output i (unused outputs get 0).
  std::array<double, 4> at(double delta) const noexcept {
    std::array<double, 4> w{};
    for (std::size_t i = 0; i < outputs; ++i)
      w[i] = coef[0][i] + delta * (coef[1][i] + delta * (coef[2][i] + delta * coef[3][i]));
    return w;
  }

  /// The Lagrange interpolant through (offset[i], F_i), i < n: degree n − 1, offset[0] = 0.
  static output_polynomial lagrange(const std::array<double, 4>& offset, std::size_t n) noexcept {
    output_polynomial p;
    p.outputs = n;
    for (std::size_t i = 0; i < n; ++i) {
      std::array<double, 4> poly{1.0, 0.0, 0.0, 0.0};  // Π_{j≠i} (δ − d_j)/(d_i − d_j), ascending powers
      std::size_t deg = 0;
      for (std::size_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double scale = 1.0 / (offset[i] - offset[j]);
        for (std::size_t k = deg + 2; k-- > 0;) {
          const double shifted = k > 0 ? poly[k - 1] : 0.0;
          poly[k] = (shifted - offset[j] * poly[k]) * scale;
        }
        ++deg;
      }
      for (std::size_t k = 0; k < 4; ++k) p.coef[k][i] = poly[k];
    }
    return p;
  }

  /// A Taylor polynomial from finite-difference weights: W[k] gives D_k = Σ_i W[k][i]·F_i (k = 1..3).
  static output_polynomial taylor(const std::array<std::array<double, 4>, 4>& w, std::size_t n) noexcept {
    output_polynomial p;
    p.outputs = n;
    p.coef[0] = {1.0, 0.0, 0.0, 0.0};
    const double factorial[4] = {1.0, 1.0, 2.0, 6.0};
    for (std::size_t k = 1; k < 4; ++k)
      for (std::size_t i = 0; i < 4; ++i) p.coef[k][i] = w[k][i] / factorial[k];
    return p;
  }

  /// P(δ) = δ^k for "output" k: runs a stage recurrence on monomials (effective weights Q_k).
  static output_polynomial monomials() noexcept {
    output_polynomial p;
    p.outputs = 4;
    for (std::size_t k = 0; k < 4; ++k) p.coef[k][k] = 1.0;
    return p;
  }
};

/// The reference code's flow-mode derivatives (docs/reference.md §2.2, derivative_order 2): F1 at
/// distance h1, F2 at h1 + h2 (in the time variable, towards the noise side):
/// D1 = (−F2 + 4F1 − 3F0)/(2h1) (the uniform-grid formula: ignores h2),
/// D2 = 2(h2·F0 − (h1+h2)·F1 + h1·F2)/(h1·h2·(h1+h2)).
inline output_polynomial reference_flow_taylor(double h1, double h2) noexcept {
  std::array<std::array<double, 4>, 4> w{};
  w[1] = {-3.0 / (2.0 * h1), 4.0 / (2.0 * h1), -1.0 / (2.0 * h1), 0.0};
  const double den = h1 * h2 * (h1 + h2);
  w[2] = {2.0 * h2 / den, -2.0 * (h1 + h2) / den, 2.0 * h1 / den, 0.0};
  return output_polynomial::taylor(w, 3);
}

/// Uniform one-sided differences with spacing `d` (signed: the history lies at +d, +2d, +3d from
/// the step start). Three points: D1 = (−3F0 + 4F1 − F2)/(2d), D2 = (F0 − 2F1 + F2)/d².
/// Four points: D1 = (−11F0 + 18F1 − 9F2 + 2F3)/(6d), D2 = (2F0 − 5F1 + 4F2 − F3)/d²,
/// D3 = (−F0 + 3F1 − 3F2 + F3)/d³. (docs/reference.md §2.6.)
inline output_polynomial uniform_taylor(double d, std::size_t points) noexcept {
  std::array<std::array<double, 4>, 4> w{};
  if (points == 3) {
    w[1] = {-3.0 / (2.0 * d), 4.0 / (2.0 * d), -1.0 / (2.0 * d), 0.0};
    w[2] = {1.0 / (d * d), -2.0 / (d * d), 1.0 / (d * d), 0.0};
  } else {
    w[1] = {-11.0 / (6.0 * d), 18.0 / (6.0 * d), -9.0 / (6.0 * d), 2.0 / (6.0 * d)};
    w[2] = {2.0 / (d * d), -5.0 / (d * d), 4.0 / (d * d), -1.0 / (d * d)};
    w[3] = {-1.0 / (d * d * d), 3.0 / (d * d * d), -3.0 / (d * d * d), 1.0 / (d * d * d)};
  }
  return output_polynomial::taylor(w, points);
}

}  // namespace stork::detail
