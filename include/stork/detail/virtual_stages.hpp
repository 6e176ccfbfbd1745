/// @file
/// @brief Internal: STORK's stage recurrences with virtual (Taylor-extrapolated) stages.
///
/// One recurrence, two vector spaces. Run on states (`state_space`) it is the literal
/// stage-by-stage method: O(s) passes over memory. Run on coordinates over the basis
/// [Y0, F0, F1, F2, F3] (`coord_space`) it gives the scalar weights of the whole step, because every
/// stage is an affine combination of the step start and the stored model outputs when the velocity is
/// affine in the state with scalar coefficients (0 for a flow velocity, −β(τ)/2 for the VP ε form).
/// The sampler runs the coordinate form and then one fused linear combination: O(1) passes.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

#include "stork/detail/taylor.hpp"
#include "stork/methods/rkg2.hpp"
#include "stork/methods/rock4.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/state.hpp"

namespace stork::detail {

/// Vectors are coordinates over [Y0, F0, F1, F2, F3]; the velocity at stage offset c·H is
/// a(t+cH)·Y + b(t+cH)·P(cH).
template <STORK_CONCEPT(Parameterisation) P>
struct coord_space {
  using vec = std::array<double, 5>;
  const P& param;
  const output_polynomial& poly;
  double t, H;

  template <std::size_t N>
  void comb(vec& out, const std::array<double, N>& a, const std::array<const vec*, N>& x) const noexcept {
    vec r{};
    for (std::size_t k = 0; k < N; ++k)
      for (std::size_t i = 0; i < 5; ++i) r[i] += a[k] * (*x[k])[i];
    out = r;
  }
  void velocity(double c, const vec& y, vec& out) const noexcept {
    const affine_velocity av = param.affine(t + c * H);
    const std::array<double, 4> p = poly.at(c * H);
    out[0] = av.state * y[0];
    for (std::size_t i = 0; i < 4; ++i) out[i + 1] = av.state * y[i + 1] + av.output * p[i];
  }
};

/// Vectors are states; the outputs F0..F3 are real states (unused ones may repeat F0).
template <class S, STORK_CONCEPT(Parameterisation) P, class Ops>
struct state_space {
  using vec = S;
  const P& param;
  const output_polynomial& poly;
  double t, H;
  std::array<const S*, 4> F;
  Ops& ops;

  template <std::size_t N>
  void comb(S& out, const std::array<double, N>& a, const std::array<const S*, N>& x) const {
    detail::comb<N>(ops, out, a, x);
  }
  void velocity(double c, const S& y, S& out) const {
    const affine_velocity av = param.affine(t + c * H);
    const std::array<double, 4> p = poly.at(c * H);
    const double b = av.output;
    detail::comb<5>(ops, out, {av.state, b * p[0], b * p[1], b * p[2], b * p[3]},
                    {&y, F[0], F[1], F[2], F[3]});
  }
};

/// Temporaries of one stage-by-stage step: a rotation pool of three plus four velocity slots.
template <class V>
struct stage_buffers {
  std::array<V*, 3> pool;
  V *f, *k1, *k2, *k3;

  V* free_buffer(const V* a, const V* b) const noexcept {
    for (V* p : pool)
      if (p != a && p != b) return p;
    return nullptr;  // unreachable: three buffers, at most two in use
  }
};

/// STORK-4 step (ROCK4 recurrence + finishing procedure) with virtual stages, from y0 over signed step
/// H. `reference` reproduces the reference code's bookkeeping of the first stage (docs/reference.md
/// §2.4): entering j = 2 it holds (Y_{j−1}, Y_{j−2}) = (Y0, Y1) and c_{j−2} = c_1.
template <class Space, class V = typename Space::vec>
void rock4_virtual_step(const rock4_coefficients& k, bool reference, double H, const Space& sp, const V& y0,
                        V& out, const stage_buffers<V>& buf) {
  V& f = *buf.f;
  sp.velocity(0.0, y0, f);  // the real velocity at the step start: P(0) = F0
  V* y1 = buf.pool[0];
  sp.template comb<2>(*y1, {1.0, H * k.mu[1]}, {&y0, &f});
  const V* p1 = reference ? &y0 : y1;  // Y_{j−1}
  const V* p2 = reference ? y1 : &y0;  // Y_{j−2}
  double c1 = k.mu[1], c2 = reference ? k.mu[1] : 0.0;
  for (std::size_t j = 2; j <= static_cast<std::size_t>(k.m); ++j) {
    sp.velocity(c1, *p1, f);
    V* next = buf.free_buffer(p1, p2);
    const double kap = k.kappa[j], mu = k.mu[j];
    sp.template comb<3>(*next, {1.0 + kap, -kap, H * mu}, {p1, p2, &f});
    const double cj = (1.0 + kap) * c1 - kap * c2 + mu;
    p2 = p1, p1 = next, c2 = c1, c1 = cj;
  }
  const V& ym = *p1;
  const double cm = c1;
  const auto& a = k.a;
  const auto& b = k.b;
  V* x = buf.free_buffer(p1, p1);
  sp.velocity(cm, ym, *buf.k1);
  sp.template comb<2>(*x, {1.0, H * a[0]}, {&ym, buf.k1});
  sp.velocity(cm + a[0], *x, *buf.k2);
  sp.template comb<3>(*x, {1.0, H * a[1], H * a[2]}, {&ym, buf.k1, buf.k2});
  sp.velocity(cm + a[1] + a[2], *x, *buf.k3);
  sp.template comb<4>(*x, {1.0, H * a[3], H * a[4], H * a[5]}, {&ym, buf.k1, buf.k2, buf.k3});
  sp.velocity(cm + a[3] + a[4] + a[5], *x, f);
  sp.template comb<5>(out, {1.0, H * b[0], H * b[1], H * b[2], H * b[3]}, {&ym, buf.k1, buf.k2, buf.k3, &f});
}

/// STORK-2 step (RKG2 recurrence) with virtual stages: f_{j−1} is taken at stage offset
/// `tau[j]`·H (j = 2..s): the exact RKG2 times c_{j−1}, or the reference code's RKL2 times.
template <class Space, class V = typename Space::vec>
void rkg2_virtual_step(const rkg2_coefficients& k, const std::vector<double>& tau, double H, const Space& sp,
                       const V& y0, V& out, const stage_buffers<V>& buf) {
  V& f0 = *buf.k1;
  V& f = *buf.f;
  sp.velocity(0.0, y0, f0);
  V* y1 = buf.pool[0];
  sp.template comb<2>(*y1, {1.0, H * k.mu_tilde[1]}, {&y0, &f0});
  const V* p1 = y1;
  const V* p2 = &y0;
  for (std::size_t j = 2; j <= static_cast<std::size_t>(k.s); ++j) {
    sp.velocity(tau[j], *p1, f);
    V* next = buf.free_buffer(p1, p2);
    const double mu = k.mu[j], nu = k.nu[j];
    sp.template comb<5>(*next, {mu, nu, 1.0 - mu - nu, H * k.mu_tilde[j], H * k.gamma_tilde[j]},
                        {p1, p2, &y0, &f, &f0});
    p2 = p1, p1 = next;
  }
  sp.template comb<1>(out, {1.0}, {p1});
}

/// Stage times of STORK-2's virtual stages, indexed j = 2..s (entries 0, 1 unused).
/// Corrected: the exact RKG2 times c_{j−1}. Reference (docs/reference.md §2.3): the RKL2 formula
/// τ_2 = 4/(3(s²+s−2)), τ_j = (j−2)(j+1)/((s−1)(s+2)).
inline std::vector<double> rkg2_virtual_times(const rkg2_coefficients& k, bool reference) {
  std::vector<double> tau(static_cast<std::size_t>(k.s) + 1, 0.0);
  const double s = k.s;
  for (std::size_t j = 2; j < tau.size(); ++j) {
    const double jd = static_cast<double>(j);
    if (!reference)
      tau[j] = k.c[j - 1];
    else
      tau[j] = j == 2 ? 4.0 / (3.0 * (s * s + s - 2.0)) : (jd - 2.0) * (jd + 1.0) / ((s - 1.0) * (s + 2.0));
  }
  return tau;
}

}  // namespace stork::detail
