/// @file
/// @brief Internal: the ring of stored model outputs (or data predictions, or velocities) that every
/// multistep method keeps, with the time of each entry.
#pragma once

#include <array>
#include <cstddef>
#include <vector>
#include "stork/detail/span.hpp"

#include "stork/state.hpp"

namespace stork::detail {

/// The last `capacity` entries and their times. `next()` is the buffer the next entry is written into (it
/// never holds one of the entries `back(0..capacity−2)` a step still reads), so an engine can write its
/// model output straight into it (the scheduler's `output_buffer`); `push(t)` makes it the newest entry.
/// All buffers are allocated by the constructor.
template <class S>
class history_ring {
 public:
  template <class Ops>
  history_ring(std::size_t capacity, const S& like, Ops& ops)
      : buf_(make_states(ops, capacity, like)), t_(capacity, 0.0) {}

  /// The buffer of the next entry.
  S& next() noexcept { return buf_[(head_ + 1) % buf_.size()]; }
  /// Makes `next()` the newest entry, at time t.
  void push(double t) noexcept {
    head_ = (head_ + 1) % buf_.size();
    t_[head_] = t;
    if (size_ < buf_.size()) ++size_;
  }
  /// The k-th newest entry (k = 0: the newest), k < size().
  const S& back(std::size_t k = 0) const noexcept { return buf_[slot(k)]; }
  S& back(std::size_t k = 0) noexcept { return buf_[slot(k)]; }
  /// Its time.
  double time(std::size_t k = 0) const noexcept { return t_[slot(k)]; }
  /// Entries held (at most the capacity).
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return buf_.size(); }

 private:
  std::size_t slot(std::size_t k) const noexcept {
    return (head_ + buf_.size() - k % buf_.size()) % buf_.size();
  }

  std::vector<S> buf_;
  std::vector<double> t_;
  std::size_t head_ = 0, size_ = 0;
};

/// out = c[0]·x + Σ_{j<k} c[j+1]·ring.back(j): one fused pass, no allocation.
template <class S, std::size_t N, class Ops>
void combine_with_history(Ops& ops, S& out, const S& x, const std::array<double, N>& c,
                          const history_ring<S>& ring, std::size_t k) {
  std::array<const S*, N> xs{};
  xs[0] = &x;
  for (std::size_t j = 0; j < k; ++j) xs[j + 1] = &ring.back(j);
  comb_n<N>(ops, out, c, xs, k + 1);
}

}  // namespace stork::detail
