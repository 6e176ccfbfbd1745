// A state type with no element access at all: its values are reachable only through its own
// state_ops (as a device buffer's would be). Compiling the samplers with it proves that the core never
// touches elements; counting its operations checks the documented number of passes.
#pragma once

#include <stork/state.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace stork_test {

class opaque_state {
 public:
  explicit opaque_state(std::size_t n) : data_(std::make_shared<std::vector<double>>(n)) {}
  opaque_state(const opaque_state& o) : data_(std::make_shared<std::vector<double>>(*o.data_)) {}
  opaque_state& operator=(const opaque_state& o) {
    *data_ = *o.data_;
    return *this;
  }
  // Deliberately no operator[], no data(), no iterators: only the friends below see the storage.
  friend struct stork::state_ops<opaque_state>;
  friend opaque_state make_opaque(std::span<const double> values);
  friend double opaque_read(const opaque_state& s, std::size_t i);  // for the test's own assertions

  static inline std::size_t lincomb_calls = 0;

 private:
  std::shared_ptr<std::vector<double>> data_;
};

inline opaque_state make_opaque(std::span<const double> values) {
  opaque_state s(values.size());
  s.data_->assign(values.begin(), values.end());
  return s;
}
inline double opaque_read(const opaque_state& s, std::size_t i) { return (*s.data_)[i]; }

}  // namespace stork_test

template <>
struct stork::state_ops<stork_test::opaque_state> {
  using S = stork_test::opaque_state;
  static S make_like(const S& x) { return S(x.data_->size()); }
  static void lincomb(S& out, std::span<const double> a, std::span<const S* const> x) {
    ++S::lincomb_calls;
    std::vector<double>& o = *out.data_;
    for (std::size_t i = 0; i < o.size(); ++i) {
      double acc = 0;
      for (std::size_t k = 0; k < a.size(); ++k) acc += a[k] * (*x[k]->data_)[i];
      o[i] = acc;
    }
  }
};
