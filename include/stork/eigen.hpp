/// @file
/// @brief `state_ops` for dense Eigen objects: `Eigen::Matrix` and `Eigen::Array` of float or double,
/// fixed or dynamic size (vectors, arrays and matrices; a batch can be one matrix, a sample per column).
///
/// Include it next to `<stork/stork.hpp>`; the core headers never include Eigen.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include "stork/detail/span.hpp"

#include "stork/state.hpp"

namespace stork {
namespace detail {

/// Shared implementation for plain dense Eigen objects (contiguous storage, no inner stride).
template <class M>
struct eigen_dense_ops {
  using scalar = typename M::Scalar;
  static M make_like(const M& x) {
    M m;
    m.resize(x.rows(), x.cols());
    return m;
  }
  static std::size_t size(const M& x) noexcept { return static_cast<std::size_t>(x.size()); }
  static bool all_finite(const M& x) noexcept {
    return detail::all_finite(x.data(), static_cast<std::size_t>(x.size()));
  }
  static void lincomb(M& out, span<const double> a, span<const M* const> x) {
    detail::lincomb_contiguous(out.data(), static_cast<std::size_t>(out.size()), a, x,
                               [](const M* m) { return m->data(); });
  }
};

}  // namespace detail

/// @brief Dense `Eigen::Matrix` (vectors included) of float or double.
/// @par Cost: `lincomb` is one pass over memory for up to 8 terms, arithmetic in the scalar type (as for
/// `std::vector`: float states in float, coefficients rounded once).
template <int R, int C, int O, int MR, int MC>
struct state_ops<Eigen::Matrix<float, R, C, O, MR, MC>>
    : detail::eigen_dense_ops<Eigen::Matrix<float, R, C, O, MR, MC>> {};
template <int R, int C, int O, int MR, int MC>
struct state_ops<Eigen::Matrix<double, R, C, O, MR, MC>>
    : detail::eigen_dense_ops<Eigen::Matrix<double, R, C, O, MR, MC>> {};

/// @brief Dense `Eigen::Array` of float or double.
template <int R, int C, int O, int MR, int MC>
struct state_ops<Eigen::Array<float, R, C, O, MR, MC>>
    : detail::eigen_dense_ops<Eigen::Array<float, R, C, O, MR, MC>> {};
template <int R, int C, int O, int MR, int MC>
struct state_ops<Eigen::Array<double, R, C, O, MR, MC>>
    : detail::eigen_dense_ops<Eigen::Array<double, R, C, O, MR, MC>> {};

}  // namespace stork
