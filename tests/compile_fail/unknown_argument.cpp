// An argument that is none of the recognised kinds is named as such (not a wall of overload errors).
// expect: an argument after the grid and the state is none of
#include <stork/stork.hpp>

#include <vector>

int main() {
  std::vector<double> x{1.0};
  auto f = [](const std::vector<double>& y, double, std::vector<double>& v) { v = y; };
  return static_cast<int>(stork::integrate(stork::euler{}, f, x, std::vector<double>{0.9, 0.5}, 42).nfe);
}
