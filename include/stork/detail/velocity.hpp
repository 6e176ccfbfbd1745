/// @file
/// @brief Internal: the velocity dx/dt = a(t)·x + b(t)·o from a model output o.
#pragma once

#include <vector>

#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork::detail {

/// Turns a model output into the velocity at (x, t). When the output is the velocity
/// (`output_is_velocity`) this is the output itself: no pass over memory, no buffer; otherwise one
/// two-term linear combination into a buffer allocated once, by the constructor.
template <class S, STORK_CONCEPT(Parameterisation) P>
class velocity_of {
 public:
  template <class Ops>
  velocity_of(const P& p, const S& like, Ops& ops) : p_(p), pass_through_(output_is_velocity(p)) {
    if (!pass_through_) buf_.emplace_back(ops.make_like(like));
  }
  template <class Ops>
  const S& operator()(Ops& ops, const S& out, const S& x, double t) {
    if (pass_through_) return out;
    const affine_velocity c = p_.affine(t);
    comb<2>(ops, buf_.front(), {c.state, c.output}, {&x, &out});
    return buf_.front();
  }
  const P& param() const noexcept { return p_; }

 private:
  P p_;
  bool pass_through_;
  std::vector<S> buf_;  // empty when the output is the velocity (S need not be default-constructible)
};

}  // namespace stork::detail
