// Downstream use: integrate y' = -y from 0 to 1 with RKG2 (Eigen state) and compare with exp(-1).
#include <stork/eigen.hpp>
#include <stork/stork.hpp>

#include <Eigen/Core>
#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  std::vector<double> times;
  for (int i = 0; i <= 20; ++i) times.push_back(i / 20.0);
  Eigen::VectorXd x = Eigen::VectorXd::Ones(3);
  auto f = [](const Eigen::VectorXd& y, double, Eigen::VectorXd& v) { v = -y; };
  const stork::stats r = stork::integrate(stork::rkg2{.stages = 4}, f, x, times);
  const double err = std::abs(x[0] - std::exp(-1.0));
  std::printf("consumer: x(1) = %.12f, error %.2e, nfe %zu\n", x[0], err, r.nfe);
  return err < 1e-3 && r.nfe == 80 ? 0 : 1;
}
