// Tests of <stork/eigen.hpp>: dense Eigen vectors, arrays and matrices as states.
#include <stork/eigen.hpp>
#include <stork/stork.hpp>

#include <Eigen/Core>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "support/problems.hpp"

static_assert(stork::State<Eigen::VectorXd>);
static_assert(stork::State<Eigen::VectorXf>);
static_assert(stork::State<Eigen::Vector3d>);
static_assert(stork::State<Eigen::ArrayXXf>);
static_assert(stork::State<Eigen::Matrix<double, 2, 3>>);
static_assert(stork::State<Eigen::MatrixXf>);
static_assert(!stork::State<Eigen::VectorXi>);                // integer scalars are not supported
static_assert(!stork::State<Eigen::Block<Eigen::MatrixXd>>);  // views are not states
static_assert(!stork::State<Eigen::VectorXcd>);               // nor complex ones

TEMPLATE_TEST_CASE("Eigen lincomb with aliasing, fixed and dynamic sizes", "[eigen]", Eigen::VectorXd,
                   Eigen::VectorXf, Eigen::ArrayXd, Eigen::MatrixXf, (Eigen::Matrix<double, 2, 3>),
                   (Eigen::Array<float, 4, 1>)) {
  using S = TestType;
  S x = S::Ones(TestType::RowsAtCompileTime == Eigen::Dynamic ? 4 : TestType::RowsAtCompileTime,
                TestType::ColsAtCompileTime == Eigen::Dynamic ? 3 : TestType::ColsAtCompileTime);
  S y = stork::state_ops<S>::make_like(x);
  REQUIRE(y.rows() == x.rows());
  REQUIRE(y.cols() == x.cols());
  y.setConstant(2);
  stork::lincomb<S, 3>(x, {0.5, 3.0, -1.0}, {&x, &y, &x});  // out aliases two inputs
  REQUIRE(double(x(0, 0)) == Approx(0.5 + 6.0 - 1.0));
  REQUIRE(stork::state_ops<S>::size(x) == static_cast<std::size_t>(x.size()));
  REQUIRE(stork::state_ops<S>::all_finite(x));
  x(0, 0) = std::numeric_limits<typename S::Scalar>::quiet_NaN();
  REQUIRE_FALSE(stork::state_ops<S>::all_finite(x));
}

TEMPLATE_TEST_CASE("Eigen float lincomb: float arithmetic within its bound, every element, out aliasing",
                   "[eigen]", Eigen::VectorXf, (Eigen::Matrix<float, 3, 7>), Eigen::ArrayXXf) {
  // 21 or 37 scalars: whole SIMD vectors and a scalar tail. Error bound of the float kernel:
  // |out - sum a_k x_k| <= gamma_(k+1) * sum |a_k x_k|, gamma_m = m u / (1 - m u), u = 2^-24.
  using S = TestType;
  const Eigen::Index rows = S::RowsAtCompileTime == Eigen::Dynamic ? 37 : S::RowsAtCompileTime;
  const Eigen::Index cols = S::ColsAtCompileTime == Eigen::Dynamic ? 1 : S::ColsAtCompileTime;
  S x(rows, cols), y(rows, cols), z(rows, cols);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    x(i) = static_cast<float>(std::sin(double(i)));
    y(i) = static_cast<float>(std::cos(double(3 * i)));
    z(i) = static_cast<float>(1.0 + 0.01 * double(i));
  }
  const S x0 = x;
  const std::array<double, 4> a{0.3, -1.0 / 3.0, 2.0 / 7.0, -0.1};
  stork::lincomb<S, 4>(x, a, {&x, &y, &z, &x});  // out aliases the first and the last input
  const double u = std::ldexp(1.0, -24), gamma5 = 5 * u / (1 - 5 * u);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const double terms[] = {a[0] * double(x0(i)), a[1] * double(y(i)), a[2] * double(z(i)),
                            a[3] * double(x0(i))};
    double want = 0, size = 0;
    for (double t : terms) want += t, size += std::abs(t);
    INFO("i " << i);
    REQUIRE(std::abs(double(x(i)) - want) <= gamma5 * size);
  }
}

TEST_CASE("a batch as one Eigen matrix integrates column by column", "[eigen]") {
  // y' = -k·y for column k: every column decays at its own rate.
  Eigen::MatrixXd x = Eigen::MatrixXd::Ones(2, 3);
  auto f = [](const Eigen::MatrixXd& y, double, Eigen::MatrixXd& v) {
    for (Eigen::Index k = 0; k < y.cols(); ++k) v.col(k) = -double(k + 1) * y.col(k);
  };
  stork::integrate(stork::rock4{.stages = 3}, f, x, stork_test::uniform_grid(0, 1, 40));
  for (Eigen::Index k = 0; k < 3; ++k) REQUIRE(x(1, k) == Approx(std::exp(-double(k + 1))).epsilon(1e-6));
}

TEST_CASE("Eigen float vectors: observed order of rkg2 is 2", "[eigen][order]") {
  // Errors stay far above float round-off for these step counts.
  std::vector<double> ns, errs;
  for (std::size_t n : {8, 16, 32}) {
    Eigen::VectorXf x = Eigen::VectorXf::Ones(2);
    auto f = [](const Eigen::VectorXf& y, double t, Eigen::VectorXf& v) {
      v = -y * static_cast<float>(1 + t);
    };
    stork::integrate(stork::rkg2{.stages = 5}, f, x, stork_test::uniform_grid(0, 1, n));
    ns.push_back(double(n));
    errs.push_back(std::abs(double(x[0]) - std::exp(-1.5)));
  }
  REQUIRE(stork_test::fitted_slope(ns, errs) == Approx(2.0).margin(0.15));
}

TEST_CASE("Eigen: a wrong-size model output is rejected", "[eigen][error]") {
  Eigen::VectorXd x = Eigen::VectorXd::Ones(3), v = Eigen::VectorXd::Zero(2);
  const std::vector<double> grid{0.0, 1.0};
  auto sch = stork::make_scheduler(stork::euler{}, grid, x);
  REQUIRE_THROWS_WITH(sch.step(v, x), Catch::Contains("model output size = 2"));
  REQUIRE(x == Eigen::VectorXd::Ones(3));
}
