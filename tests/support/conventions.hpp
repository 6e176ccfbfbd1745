// The three model conventions the cross-cutting tests run every method in — a rectified-flow velocity (no
// process argument), a VE denoiser (stork::ve{}) and a VP ε model (stork::vp_linear{}) — and the one switch
// from a convention to the arguments of make_scheduler and integrate. Each test keeps its own grids and
// models per convention.
#pragma once

#include <stork/stork.hpp>

#include <utility>

namespace stork_test {

enum class convention { flow, ve, vp };

inline const char* name_of(convention c) {
  return c == convention::flow ? "flow" : c == convention::ve ? "VE" : "VP";
}

/// f(), f(stork::ve{}) or f(stork::vp_linear{}): the process argument of convention c, if any.
template <class F>
decltype(auto) with_process(convention c, F&& f) {
  switch (c) {
    case convention::ve:
      return std::forward<F>(f)(stork::ve{});
    case convention::vp:
      return std::forward<F>(f)(stork::vp_linear{});
    case convention::flow:
      break;
  }
  return std::forward<F>(f)();
}

/// body(make_scheduler(m, grid, x, <the process of convention c>, a...)).
template <class M, class Grid, class S, class Body, class... A>
void with_scheduler(const M& m, convention c, const Grid& grid, const S& x, Body&& body, A&&... a) {
  with_process(c, [&](auto... process) {
    body(stork::make_scheduler(m, grid, x, process..., std::forward<A>(a)...));
  });
}

/// stork::integrate(m, model as a field of convention c, x, grid, a...): the model is the callback
/// model(x, t, out) returning the convention's usual prediction (velocity, denoiser, ε).
template <class M, class Model, class Grid, class S, class... A>
stork::stats integrate_in(const M& m, convention c, const Model& model, S& x, const Grid& grid, A&&... a) {
  return with_process(c, [&](auto... process) {
    if constexpr (sizeof...(process) == 0)
      return stork::integrate(m, model, x, grid, std::forward<A>(a)...);
    else
      return stork::integrate(m, stork::field(model, process...), x, grid, std::forward<A>(a)...);
  });
}

}  // namespace stork_test
