// libFuzzer target (issue 5): arbitrary bytes become a method and its parameters, a time grid (from
// flow_sigmas or vp_taus with arbitrary options, or raw doubles), a parameterisation, a state (NaN/Inf
// included) and a model that may return NaN, the wrong size, or throw. The stochastic methods get a noise
// source that may likewise write NaN, resize its output or throw. Every run must end normally or with
// stork::error (or the model's or the noise source's own exception); and then x, and a scheduler whose step
// threw, must be exactly as before the call. Anything else aborts: a crash for libFuzzer, as are sanitizer
// reports.
//
// Build: cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DSTORK_BUILD_FUZZERS=ON && cmake --build
// build/fuzz --target stork_fuzz; run: build/fuzz/fuzz/stork_fuzz -max_total_time=60.
#include <stork/stork.hpp>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

namespace {

[[noreturn]] void invariant_broken(const char* what) {
  std::fprintf(stderr, "stork_fuzz: invariant broken: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond)                  \
  do {                                    \
    if (!(cond)) invariant_broken(#cond); \
  } while (false)

/// Outcome counts, printed at exit when STORK_FUZZ_STATS is set: shows that the inputs reach both
/// successful runs and every kind of rejection.
struct outcome_counts {
  std::size_t integrated = 0, integrate_rejected = 0, model_threw = 0, loop_done = 0, step_rejected = 0,
              bad_call_rejected = 0, construct_rejected = 0, fronts_compared = 0, schedule_rejected = 0,
              noise_threw = 0, stochastic_runs = 0;
  ~outcome_counts() {
    if (std::getenv("STORK_FUZZ_STATS"))
      std::fprintf(
          stderr,
          "stork_fuzz outcomes: integrate ok %zu, integrate rejected %zu, model threw %zu, loop done %zu, "
          "step rejected %zu, injected bad calls rejected %zu, scheduler construction rejected %zu, "
          "integrate == loop compared %zu, schedule options rejected %zu, noise source threw %zu, "
          "stochastic runs %zu\n",
          integrated, integrate_rejected, model_threw, loop_done, step_rejected, bad_call_rejected,
          construct_rejected, fronts_compared, schedule_rejected, noise_threw, stochastic_runs);
  }
} counts;

/// Reads the fuzzer's bytes; zeros once they run out.
class reader {
 public:
  reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  std::uint8_t byte() { return i_ < n_ ? p_[i_++] : 0; }
  bool flag() { return (byte() & 1u) != 0; }
  /// An integer in [lo, hi].
  int in(int lo, int hi) {
    const unsigned span = static_cast<unsigned>(hi - lo) + 1u;
    const unsigned v = static_cast<unsigned>(byte()) << 8 | byte();
    return lo + static_cast<int>(v % span);
  }
  double raw() {
    std::uint64_t bits = 0;
    for (int k = 0; k < 8; ++k) bits = bits << 8 | byte();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  /// Mostly ordinary values, sometimes the edge cases, sometimes any bit pattern.
  double number() {
    static constexpr double table[] = {0.0,   -0.0,    1.0,    -1.0,  0.5,   2.0,    3.0, 0.999, 1e-3,
                                       1e-10, 1e-300,  5e-324, 1e300, 1e308, -1e308, 0.1, 20.0,  1000.0,
                                       0.6,   0.00085, 0.012,  1e-4,  0.02,  -0.5,   7.0, 50.0,  1.5};
    const std::uint8_t k = byte();
    if (k < 128) return table[k % std::size(table)];
    if (k < 160) return std::numeric_limits<double>::quiet_NaN();
    if (k < 176)
      return (k & 1) ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
    if (k < 224) return static_cast<double>(in(-1000, 1000)) / 250.0;  // in [-4, 4]
    return raw();
  }
  /// A count: usually small, sometimes one of the limits the library must reject.
  int count(int lo, int hi) {
    const std::uint8_t k = byte();
    if (k < 240) return in(lo, hi);
    static constexpr int edge[] = {INT_MIN, -1, 0, 1000001, INT_MAX};  // all rejected where they matter
    return edge[k % std::size(edge)];
  }
  /// A positive parameter for the beta spacing: the incomplete-beta evaluation costs O(√max(α, β)) per
  /// sigma, so keep it cheap (the huge values fail fast, without converging).
  double beta_parameter() {
    static constexpr double table[] = {0.6, 2.0, 0.01, 0.0, -1.0, 1e300, 1e-300, 50.0};
    const std::uint8_t k = byte();
    if (k < 240) return table[k % std::size(table)];
    return std::numeric_limits<double>::quiet_NaN();
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_, i_ = 0;
};

/// The model's own failure: must pass through untouched.
struct model_error {};

/// A model out = a·x + b + c·t with failures injected at chosen calls.
struct fuzz_model {
  double a = 0.5, b = 0.0, c = 0.0;
  int nan_at = -1, throw_at = -1, resize_at = -1;
  int calls = 0;

  template <class S>
  void operator()(const S& x, double t, S& out) {
    const int call = calls++;
    if (call == throw_at) throw model_error{};
    using T = typename S::value_type;
    for (std::size_t i = 0; i < x.size(); ++i)
      out[i] = static_cast<T>(a * static_cast<double>(x[i]) + b + c * t);
    if (call == nan_at && !out.empty()) out[0] = std::numeric_limits<T>::quiet_NaN();
    if (call == resize_at) out.resize(out.size() + 1);
  }
};

/// The noise source's own failure: must pass through untouched.
struct noise_error {};

/// A noise source for the stochastic methods: seeded standard-normal draws with failures injected at chosen
/// calls (NaN, a resized output, an exception). Overloads, not a template: an unconstrained call operator
/// would also read as an observer.
struct fuzz_noise {
  stork::normal_noise rng{0};
  int nan_at = -1, throw_at = -1, resize_at = -1;
  int calls = 0;

  void operator()(std::vector<double>& out) { draw(out); }
  void operator()(std::vector<float>& out) { draw(out); }

 private:
  template <class S>
  void draw(S& out) {
    const int call = calls++;
    if (call == throw_at) throw noise_error{};
    rng(out);
    if (call == nan_at && !out.empty()) out[0] = std::numeric_limits<typename S::value_type>::quiet_NaN();
    if (call == resize_at) out.resize(out.size() + 1);
  }
};

template <class S>
bool same_bits(const S& u, const S& v) {
  return u.size() == v.size() &&
         (u.empty() || std::memcmp(u.data(), v.data(), u.size() * sizeof(typename S::value_type)) == 0);
}

stork::flow_schedule read_flow_schedule(reader& r) {
  stork::flow_schedule s;
  if (r.flag()) s.shift = r.number();
  if (r.flag()) s.mu = r.number();
  s.time_shift = static_cast<stork::time_shift>(r.in(0, 2));
  s.spacing = static_cast<stork::sigma_spacing>(r.in(0, 4));
  if (r.flag()) s.rho = r.number();
  if (r.flag()) s.beta_alpha = r.beta_parameter();
  if (r.flag()) s.beta_beta = r.beta_parameter();
  if (r.flag()) s.shift_terminal = r.number();
  if (r.flag()) s.num_train_timesteps = r.count(-1, 2000);
  s.diffusers_parity = r.flag();
  if (r.flag()) s.sigma_last = r.number();
  if (r.flag()) {
    const int n = r.in(0, 10);
    for (int i = 0; i < n; ++i) s.sigmas.push_back(r.number());
  }
  return s;
}

/// A grid: a schedule with arbitrary options, or raw doubles. nullopt when the schedule rejected them.
std::optional<std::vector<double>> read_grid(reader& r) {
  const int mode = r.in(0, 3);
  try {
    if (mode == 0) {
      const int steps = r.count(-2, 40);
      return stork::flow_sigmas(steps, read_flow_schedule(r));
    }
    if (mode == 1) {
      const int steps = r.count(-2, 40);
      stork::vp_grid g;
      if (r.flag()) g.eps_stop = r.number();
      return stork::vp_taus(steps, g);
    }
  } catch (const stork::error&) {
    ++counts.schedule_rejected;
    return std::nullopt;
  }
  std::vector<double> g;
  const int n = r.in(0, 12);
  if (mode == 2) {
    for (int i = 0; i < n; ++i) g.push_back(r.number());
  } else {  // a walk from a start with steps of fuzzed size and sign: often a valid grid
    double t = r.number();
    for (int i = 0; i < n; ++i) {
      g.push_back(t);
      t += r.number() * (r.flag() ? 1e-3 : 1.0);
    }
  }
  return g;
}

/// The scheduler's observable state.
template <class Sch>
bool same_state(const Sch& s, double time, std::size_t nfe, bool done) {
  const double t = s.time();
  return (std::memcmp(&t, &time, sizeof t) == 0) && s.nfe() == nfe && s.done() == done;
}

/// The engine-owned loop with bad calls injected. Returns true when the run reached done(). `Noise` is
/// fuzz_noise for the stochastic methods, no_noise for the others.
template <class M, class S, class P, class Noise>
bool engine_loop(reader& r, const M& m, const std::vector<double>& grid, S& x, const P& p, fuzz_model& model,
                 stork::sampler_options options, const Noise& noise) {
  std::optional<stork::scheduler<M, S, stork::detail::parameterisation_t<P>, stork::state_ops<S>, Noise>> sch;
  const S x_in = x;
  try {
    sch.emplace(m, grid, x, stork::detail::as_parameterisation(p), options, stork::state_ops<S>{}, noise);
  } catch (const stork::error&) {
    ++counts.construct_rejected;
    FUZZ_CHECK(same_bits(x, x_in));
    return false;
  }
  S out = stork::state_ops<S>::make_like(x);
  const std::uint8_t inject = r.byte();  // which bad call, and when
  const std::size_t inject_at = r.byte() % 8;
  std::size_t iterations = 0;
  while (!sch->done()) {
    FUZZ_CHECK(++iterations < 100000);  // no run of a bounded input may go on forever
    try {
      model(x, sch->time(), out);
    } catch (const model_error&) {
      return false;  // the engine gives up; the scheduler was not involved
    }
    const S x_before = x;
    const double t_before = sch->time();
    const std::size_t nfe_before = sch->nfe();
    auto expect_rejected = [&](auto&& call) {
      try {
        call();
      } catch (const stork::error&) {
        FUZZ_CHECK(same_bits(x, x_before));
        FUZZ_CHECK(same_state(*sch, t_before, nfe_before, false));
        ++counts.bad_call_rejected;
        return;
      }
      invariant_broken("a bad call to scheduler::step was accepted");
    };
    if (sch->nfe() == inject_at) switch (inject % 6) {
        case 0: {
          S wrong(x.size() + 1);
          expect_rejected([&] { sch->step(wrong, x); });
          break;
        }
        case 1: {
          S longer = x;
          longer.push_back(0);
          expect_rejected([&] { sch->step(out, longer); });
          break;
        }
        case 2:
          if (options.check_finite && !out.empty()) {
            S bad = out;
            bad[bad.size() - 1] = std::numeric_limits<typename S::value_type>::infinity();
            expect_rejected([&] { sch->step(bad, x); });
          }
          break;
        case 3:
          expect_rejected([&] { sch->step(x, x); });
          break;
        default:
          break;
      }
    try {
      sch->step(out, x);
    } catch (
        const stork::error&) {  // bad input found late (non-finite output or draw, coefficients, weights)
      ++counts.step_rejected;
      FUZZ_CHECK(same_bits(x, x_before));
      FUZZ_CHECK(same_state(*sch, t_before, nfe_before, false));
      return false;
    } catch (const noise_error&) {  // the noise source's own exception: nothing changed either
      ++counts.noise_threw;
      FUZZ_CHECK(same_bits(x, x_before));
      FUZZ_CHECK(same_state(*sch, t_before, nfe_before, false));
      return false;
    }
  }
  const S x_end = x;
  FUZZ_CHECK(sch->time() == grid.back());  // after done(), time() stays on the grid
  try {
    sch->step(out, x);
  } catch (const stork::error&) {
    FUZZ_CHECK(same_bits(x, x_end));
    FUZZ_CHECK(sch->done());
    ++counts.loop_done;
    return true;
  }
  invariant_broken("step after done() was accepted");
}

/// One method on one input, through integrate and through the engine-owned loop. The stochastic methods
/// get a copy of `noise_proto` on each front.
template <class M, class S, class P>
void exercise(reader& r, const M& m, const std::vector<double>& grid, const S& x0, const P& p,
              const fuzz_model& model_proto, stork::sampler_options options, const fuzz_noise& noise_proto) {
  constexpr bool stochastic = stork::detail::is_stochastic_v<M>;
  // The optional arguments after the grid: the options, and the noise source of a stochastic method.
  auto with_args = [&](auto&& call) {
    if constexpr (stochastic) {
      ++counts.stochastic_runs;
      return call(options, fuzz_noise(noise_proto));
    } else {
      return call(options);
    }
  };
  // integrate: on failure x is untouched, bit for bit.
  S a = x0;
  fuzz_model fa = model_proto;
  bool integrated = false;
  try {
    with_args([&](auto... args) {
      if constexpr (stork::detail::is_identity_v<P>)
        stork::integrate(m, fa, a, grid, args...);
      else {
        const auto param = stork::detail::as_parameterisation(p);
        stork::integrate(m, stork::field(fa, param.process, param.prediction), a, grid, args...);
      }
    });
    integrated = true;
    ++counts.integrated;
  } catch (const stork::error&) {
    ++counts.integrate_rejected;
    FUZZ_CHECK(same_bits(a, x0));
  } catch (const model_error&) {
    ++counts.model_threw;
    FUZZ_CHECK(same_bits(a, x0));
  } catch (const noise_error&) {
    ++counts.noise_threw;
    FUZZ_CHECK(same_bits(a, x0));
  }
  // The engine-owned loop (the integrate case above hands vp_epsilon's fa by copy: use a fresh model).
  S b = x0;
  fuzz_model fb = model_proto;
  bool looped = false;
  if constexpr (stochastic)
    looped = engine_loop(r, m, grid, b, p, fb, options, noise_proto);
  else
    looped = engine_loop(r, m, grid, b, p, fb, options, stork::detail::no_noise{});
  // Without injected failures the two fronts are one computation: the same bits.
  if (integrated && looped && model_proto.resize_at < 0 && noise_proto.resize_at < 0) {
    ++counts.fronts_compared;
    FUZZ_CHECK(same_bits(a, b));
  }
}

/// Data-prediction methods need α and σ from the parameterisation.
template <class M>
constexpr bool data_method = std::is_same_v<M, stork::dpmpp_2m> || std::is_same_v<M, stork::dpmpp_3m> ||
                             std::is_same_v<M, stork::unipc> || stork::detail::is_stochastic_v<M>;
template <class M, class P>
constexpr bool compatible = !data_method<M> || stork::detail::DataPrediction<P>;

template <class S, class P>
void with_method(reader& r, const std::vector<double>& grid, const S& x0, const P& p, const fuzz_model& model,
                 stork::sampler_options options, const fuzz_noise& noise) {
  auto go = [&](const auto& m) {
    if constexpr (compatible<std::decay_t<decltype(m)>, P>)
      exercise(r, m, grid, x0, p, model, options, noise);
  };
  // eta and s_noise: mostly ordinary, sometimes 0, negative, NaN, Inf or huge (number()).
  auto amount = [&r] { return r.flag() ? r.number() : r.in(0, 300) / 100.0; };
  auto variant = [&r] { return static_cast<stork::variant>(r.in(0, 2)); };          // 2 is not a variant
  auto extrapolate = [&r] { return static_cast<stork::extrapolate>(r.in(0, 2)); };  // 2 is not one
  auto startup = [&r] { return static_cast<stork::startup>(r.in(0, 2)); };
  switch (r.in(0, 12)) {
    case 0:
      return go(stork::euler{});
    case 1:
      return go(stork::heun{});
    case 2:
      return go(stork::rkg2{.stages = r.count(-1, 12)});
    case 3:
      return go(stork::rock4{.stages = r.count(-1, 150)});
    case 4:
      return go(stork::stork2{.stages = r.count(-1, 60),
                              .derivative_order = r.in(1, 4),
                              .variant = variant(),
                              .extrapolate = extrapolate(),
                              .startup = startup()});
    case 5:
      return go(stork::stork4{.stages = r.count(-1, 150),
                              .derivative_order = r.in(1, 4),
                              .variant = variant(),
                              .extrapolate = extrapolate(),
                              .startup = startup()});
    case 6:
      return go(stork::dpmpp_2m{.lower_order_final = r.flag()});
    case 7:
      return go(stork::dpmpp_3m{.lower_order_final = r.flag(), .diffusers_parity = r.flag()});
    case 8:
      return go(stork::unipc{.order = r.count(-1, 4), .lower_order_final = r.flag(), .corrector = r.flag()});
    case 9:
      return go(stork::ipndm{.order = r.count(-1, 5), .lower_order_final = r.flag()});
    case 10:
      return go(stork::euler_ancestral{.eta = amount(), .s_noise = amount()});
    case 11:  // solver 2 is none
      return go(stork::dpmpp_2m_sde{
          .eta = amount(), .solver = static_cast<stork::sde_solver>(r.in(0, 2)), .s_noise = amount()});
    default:
      return go(stork::dpmpp_3m_sde{.eta = amount(), .s_noise = amount()});
  }
}

template <class S>
void with_state(reader& r, const std::vector<double>& grid, const fuzz_model& model,
                stork::sampler_options options, const fuzz_noise& noise) {
  S x0(static_cast<std::size_t>(r.in(0, 6)));
  for (auto& v : x0) v = static_cast<typename S::value_type>(r.flag() ? r.number() : r.in(-400, 400) / 100.0);
  auto prediction = [&r] { return static_cast<stork::prediction>(r.in(0, 4)); };  // 4 is not a prediction
  switch (r.in(0, 5)) {
    case 0:
      return with_method(r, grid, x0, stork::flow_velocity{}, model, options, noise);
    case 5:
      return with_method(r, grid, x0, stork::model<stork::ve>{.process = {}, .prediction = prediction()},
                         model, options, noise);
    case 1:
      return with_method(r, grid, x0, stork::vp_linear{.beta_min = r.number(), .beta_max = r.number()}, model,
                         options, noise);
    case 2:
      return with_method(r, grid, x0, stork::flow_model{.prediction = prediction()}, model, options, noise);
    case 3: {
      const stork::vp_scaled_linear process{
          .beta_start = r.number(), .beta_end = r.number(), .num_train_timesteps = r.count(-1, 2000)};
      return with_method(r, grid, x0, stork::vp_model<stork::vp_scaled_linear>{process, prediction()}, model,
                         options, noise);
    }
    default: {
      std::optional<stork::vp_discrete> process;
      try {
        if (r.flag()) {
          std::vector<double> betas(static_cast<std::size_t>(r.in(0, 8)));
          for (double& b : betas) b = r.flag() ? r.number() : r.in(1, 999) / 1000.0;
          process.emplace(betas);
        } else {
          process = stork::vp_discrete::linear(r.count(-1, 200), r.number(), r.number());
        }
      } catch (const stork::error&) {  // the table rejected its own parameters
        return;
      }
      return with_method(r, grid, x0, stork::vp_model<stork::vp_discrete>{*process, prediction()}, model,
                         options, noise);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r(data, size);
  const std::optional<std::vector<double>> grid = read_grid(r);
  if (!grid) return 0;
  fuzz_model model;
  model.a = r.flag() ? r.number() : r.in(-300, 300) / 100.0;
  model.b = r.flag() ? r.number() : 0.0;
  model.c = r.flag() ? r.number() : 0.0;
  if (r.flag()) model.nan_at = r.in(0, 20);
  if (r.flag()) model.throw_at = r.in(0, 20);
  if (r.byte() > 240) model.resize_at = r.in(0, 20);
  const stork::sampler_options options{.check_finite = r.byte() < 224};
  fuzz_noise noise;
  noise.rng = stork::normal_noise{r.byte()};
  if (r.flag()) noise.nan_at = r.in(0, 20);
  if (r.flag()) noise.throw_at = r.in(0, 20);
  if (r.byte() > 240) noise.resize_at = r.in(0, 20);
  if (r.byte() < 200)
    with_state<std::vector<double>>(r, *grid, model, options, noise);
  else
    with_state<std::vector<float>>(r, *grid, model, options, noise);
  return 0;
}
