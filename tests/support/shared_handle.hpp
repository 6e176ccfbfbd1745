// A state handle whose copies share storage (like torch::Tensor): only make_like allocates. Samplers
// must make every temporary with its own make_like; copies of one would all alias one buffer.
#pragma once

#include <stork/state.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace stork_test {
struct shared_handle {
  std::shared_ptr<std::vector<double>> data;
};
}  // namespace stork_test

template <>
struct stork::state_ops<stork_test::shared_handle> {
  using S = stork_test::shared_handle;
  static S make_like(const S& x) { return {std::make_shared<std::vector<double>>(x.data->size())}; }
  static void lincomb(S& out, std::span<const double> a, std::span<const S* const> x) {
    for (std::size_t i = 0; i < out.data->size(); ++i) {
      double acc = 0;
      for (std::size_t k = 0; k < a.size(); ++k) acc += a[k] * (*x[k]->data)[i];
      (*out.data)[i] = acc;
    }
  }
};
