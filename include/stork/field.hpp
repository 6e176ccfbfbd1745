/// @file
/// @brief The `VelocityField` concept and the parameterisation of model outputs.
///
/// A model plugs in as a callback `f(x, t, out)`. What `out` means is the parameterisation: for a flow
/// model it is the velocity dx/dt itself (`flow_velocity`); for other models (ε, x̂₀, v-prediction
/// under a noise process) the velocity the methods integrate is affine in the state,
/// `dx/dt = a(t)·x + b(t)·out`, and a parameterisation supplies a(t) and b(t).
#pragma once

#include <concepts>

#include "stork/state.hpp"

namespace stork {

/// @brief A callable `f(const S& x, double t, S& v)` that writes dx/dt (or a model output) into `v`.
///
/// `v` is sized like `x`; `f` must not resize it. Example:
/// `auto f = [](const std::vector<double>& x, double t, std::vector<double>& v) { ... };`
template <class F, class S>
concept VelocityField = State<S> && std::invocable<F&, const S&, double, S&>;

/// @brief Scalars of an affine velocity: dx/dt = state·x + output·(model output).
struct affine_velocity {
  double state = 0.0;
  double output = 1.0;
};

/// @brief The model output is the velocity itself (flow matching, any plain ODE right-hand side).
struct flow_velocity {
  /// dx/dt = 0·x + 1·out.
  static constexpr affine_velocity affine(double) noexcept { return {0.0, 1.0}; }
  static constexpr bool identity = true;
  /// Rectified flow x_σ = (1 − σ)·x₀ + σ·ε: α(σ) = 1 − σ (what the data-prediction methods step with).
  static constexpr double alpha(double t) noexcept { return 1.0 - t; }
  /// σ(σ) = σ.
  static constexpr double sigma(double t) noexcept { return t; }
  /// Data prediction x̂₀ = x − σ·v: state 1, output −σ.
  static constexpr affine_velocity data(double t) noexcept { return {1.0, -t}; }
};

/// @brief A parameterisation: maps a time to the affine coefficients of the velocity.
template <class P>
concept Parameterisation = requires(const P& p, double t) {
  { p.affine(t) } -> std::same_as<affine_velocity>;
};

namespace detail {

template <class P>
constexpr bool is_identity_v = requires {
  requires P::identity;
};

/// Turns a model output into the velocity at (x, t). For the identity parameterisation this is the
/// output itself (no pass over memory); otherwise one two-term linear combination into a buffer that
/// is allocated once.
template <State S, Parameterisation P>
class velocity_of {
 public:
  velocity_of(const P& p, const S& like) : p_(p) {
    if constexpr (!is_identity_v<P>) buf_.emplace_back(state_ops<S>::make_like(like));
  }
  const S& operator()(const S& out, const S& x, double t) {
    if constexpr (is_identity_v<P>) {
      (void)x, (void)t;
      return out;
    } else {
      const affine_velocity c = p_.affine(t);
      lincomb<S, 2>(buf_.front(), {c.state, c.output}, {&x, &out});
      return buf_.front();
    }
  }
  const P& param() const noexcept { return p_; }

 private:
  P p_;
  std::vector<S> buf_;  // empty for the identity; one state otherwise (S need not be default-constructible)
};

}  // namespace detail
}  // namespace stork
