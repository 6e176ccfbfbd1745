// What one sampler step costs on float states (the model excluded), against the physical floor: a plain
// hand-written float loop with the least memory traffic that step needs, measured side by side in the
// same run.
//
// Every benchmark BM_step/<method>/<n> (n floats per state: 1000 for the ctest smoke run, 65536 and
// 4194304 for the table in bench/README.md) alternates scheduler calls `sch.step(v, x)` (flow
// velocity states std::vector<float>, check_finite off) with its floor loop, call by call, on the same
// x and model-output buffer, and times each call with the thread's CPU clock (time the shared machine gives
// to other processes is not counted; the clock's own cost is subtracted). Counters, per model call,
// medians over the calls:
//   step_ns      time of one sch.step
//   floor_ns     time of the floor loop for one call
//   ratio        step_ns / floor_ns  (the issue-11 targets: euler <= 1.2, the others <= 1.5)
//   ratio_store  for STORK and iPNDM only: against the floor that also copies the model output into a
//                history slot in the same loop: the least traffic possible while the engine owns the
//                output buffer (`step(v, x)`). `ratio` assumes the output already lies in the history.
// Every method runs twice: BM_step/<method> with the engine's own output buffer (`sch.step(v, x)`), and
// BM_step_zero_copy/<method> with the model output written into `sch.output_buffer()` before the timed
// `sch.step(x)` (the model's own writing is not timed, as the model is not): the zero-copy protocol, where
// the multistep methods keep the output as their history entry without a copy.
// The first calls after a scheduler is (re)built (start-up and warm-up steps) and the last ones are not
// timed: what is measured is the steady-state step.
//
// The floors (h, w_k, a, cs, co are float constants, as a hand-written float loop has them; F_j, D_j,
// v_j are past outputs, data predictions or velocities kept by the method; o is the model output):
//   euler          x[i] += h·o[i]                                          read x, o;          write x
//   heun (2 calls) call 1: y[i] = x[i] + (h/2)·o[i]; x[i] += h·o[i]        read x, o;          write x, y
//                  call 2: x[i] = y[i] + (h/2)·o[i]                        read y, o;          write x
//                  (the stage state and the half-updated start: no copies of x or o)
//   collapsed<m>   x[i] = w0·x[i] + w1·o[i] + Σ_{1≤j<m} w_{j+1}·F_j[i]     read x, o, m−1 F;   write x
//                  STORK-2/-4 main step: m = 3 (derivative_order 2), m = 4 (derivative_order 3);
//                  iPNDM order 4 on a flow: m = 4 (x += Σ β_j v_j, v_0 = o). On flows w0 = 1 exactly and
//                  the floor has no multiplication by it (x[i] + …); on the ε path it has.
//   collapsed<m> + store: the same and F_new[i] = o[i]                   + write F_new
//   data<k>        d = cs·x[i] + co·o[i]; x[i] = a·x[i] + w0·d + Σ_{1≤j≤k} w_j·D_j[i]; D_new[i] = d
//                                                                          read x, o, k D;     write x, D_new
//                  DPM-Solver++(2M): k = 1, (3M): k = 2; UniPC order 3 (corrector and predictor in one
//                  combination over x and four predictions): k = 3.
//
// BM_step/any/<method> runs the same method chosen at run time (stork::method_from_name, an any_scheduler):
// its ratio against the typed row gives the cost of the type erasure.
//
// A new way of stepping is one more branch of `driver` (see `engine_owned_output` and `zero_copy_output`).
#include <benchmark/benchmark.h>
#include <stork/stork.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace {

using state = std::vector<float>;

// ---------------------------------------------------------------------------------------------------------
// The floors: plain float loops with float coefficients. They run on the sampler's own x and model-output
// buffer (the same memory as the step: no luck of cache placement between the two sides) plus buffers of
// their own for what the method keeps; restrict: no alias checks.

// Two vectors per iteration, as the library's kernel does: the loop is then as fast as the cache whatever
// its alignment in the code (one vector per iteration runs up to 1.5x slower from L2 at some alignments).
#if defined(__GNUC__) && !defined(__clang__)
#define STORK_FLOOR_UNROLL _Pragma("GCC unroll 2")
#else
#define STORK_FLOOR_UNROLL
#endif

/// The floor's own buffers (n floats each, filled with bounded values before timing) and coefficients.
struct floor_buffers {
  std::vector<state> b;
  float w[6];
  floor_buffers(std::size_t count, std::size_t n) : b(count, state(n)) {
    for (std::size_t k = 0; k < count; ++k)
      for (std::size_t i = 0; i < n; ++i) b[k][i] = 0.5f + 0.01f * static_cast<float>((i + 7 * k) % 97);
    // A step of about -1/400 in σ with extrapolation-like weights; x stays bounded over millions of calls.
    const float init[6] = {1.0f, -0.0025f, 0.0021f, -0.0007f, 0.0001f, 0.99f};
    std::copy(init, init + 6, w);
    benchmark::DoNotOptimize(w);  // coefficients opaque to the optimiser, as in a sampler
  }
};

void floor_euler(float* __restrict x, const float* __restrict o, std::size_t n, floor_buffers& f) {
  const float h = f.w[1];
  STORK_FLOOR_UNROLL
  for (std::size_t i = 0; i < n; ++i) x[i] += h * o[i];
}

void floor_heun(float* __restrict x, const float* __restrict o, std::size_t n, floor_buffers& f) {
  float* __restrict y = f.b[0].data();  // both calls of one Heun step
  const float h = f.w[1], h2 = 0.5f * f.w[1];
  STORK_FLOOR_UNROLL
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = x[i] + h2 * o[i];
    x[i] += h * o[i];
  }
  benchmark::ClobberMemory();  // the model call in between
  STORK_FLOOR_UNROLL
  for (std::size_t i = 0; i < n; ++i) x[i] = y[i] + h2 * o[i];
}

/// x·w0, or x itself when the method's w0 is exactly 1 (flow STORK, iPNDM): no multiplication then.
template <bool Unit>
float scaled(float w0, float x) {
  if constexpr (Unit)
    return x;
  else
    return w0 * x;
}

template <bool Unit, bool Store>
void floor_collapsed3(float* __restrict x, const float* __restrict o, std::size_t n, floor_buffers& f) {
  const float* __restrict f1 = f.b[0].data();
  const float* __restrict f2 = f.b[1].data();
  float* __restrict s = f.b[2].data();
  const float w0 = f.w[0], w1 = f.w[1], w2 = f.w[2], w3 = f.w[3];
  if constexpr (Store) {
    STORK_FLOOR_UNROLL
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = scaled<Unit>(w0, x[i]) + w1 * o[i] + w2 * f1[i] + w3 * f2[i];
      s[i] = o[i];
    }
  } else {
    STORK_FLOOR_UNROLL
    for (std::size_t i = 0; i < n; ++i) x[i] = scaled<Unit>(w0, x[i]) + w1 * o[i] + w2 * f1[i] + w3 * f2[i];
  }
}

template <bool Unit, bool Store>
void floor_collapsed4(float* __restrict x, const float* __restrict o, std::size_t n, floor_buffers& f) {
  const float* __restrict f1 = f.b[0].data();
  const float* __restrict f2 = f.b[1].data();
  const float* __restrict f3 = f.b[2].data();
  float* __restrict s = f.b[3].data();
  const float w0 = f.w[0], w1 = f.w[1], w2 = f.w[2], w3 = f.w[3], w4 = f.w[4];
  if constexpr (Store) {
    STORK_FLOOR_UNROLL
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = scaled<Unit>(w0, x[i]) + w1 * o[i] + w2 * f1[i] + w3 * f2[i] + w4 * f3[i];
      s[i] = o[i];
    }
  } else {
    STORK_FLOOR_UNROLL
    for (std::size_t i = 0; i < n; ++i)
      x[i] = scaled<Unit>(w0, x[i]) + w1 * o[i] + w2 * f1[i] + w3 * f2[i] + w4 * f3[i];
  }
}

void floor_data1(float* __restrict x, const float* __restrict o, std::size_t n, floor_buffers& f) {
  const float* __restrict d1 = f.b[0].data();  // DPM-Solver++(2M)
  float* __restrict dn = f.b[1].data();
  const float cs = 1.0f, co = f.w[1], a = f.w[5], w0 = f.w[2], w1 = f.w[3];
  STORK_FLOOR_UNROLL
  for (std::size_t i = 0; i < n; ++i) {
    const float d = cs * x[i] + co * o[i];
    x[i] = a * x[i] + w0 * d + w1 * d1[i];
    dn[i] = d;
  }
}

void floor_data2(float* __restrict x, const float* __restrict o, std::size_t n, floor_buffers& f) {
  const float* __restrict d1 = f.b[0].data();  // DPM-Solver++(3M)
  const float* __restrict d2 = f.b[1].data();
  float* __restrict dn = f.b[2].data();
  const float cs = 1.0f, co = f.w[1], a = f.w[5], w0 = f.w[2], w1 = f.w[3], w2 = f.w[4];
  STORK_FLOOR_UNROLL
  for (std::size_t i = 0; i < n; ++i) {
    const float d = cs * x[i] + co * o[i];
    x[i] = a * x[i] + w0 * d + w1 * d1[i] + w2 * d2[i];
    dn[i] = d;
  }
}

void floor_data3(float* __restrict x, const float* __restrict o, std::size_t n, floor_buffers& f) {
  const float* __restrict d1 = f.b[0].data();  // UniPC order 3
  const float* __restrict d2 = f.b[1].data();
  const float* __restrict d3 = f.b[2].data();
  float* __restrict dn = f.b[3].data();
  const float cs = 1.0f, co = f.w[1], a = f.w[5], w0 = f.w[2], w1 = f.w[3], w2 = f.w[4], w3 = f.w[1];
  STORK_FLOOR_UNROLL
  for (std::size_t i = 0; i < n; ++i) {
    const float d = cs * x[i] + co * o[i];
    x[i] = a * x[i] + w0 * d + w1 * d1[i] + w2 * d2[i] + w3 * d3[i];
    dn[i] = d;
  }
}

/// A floor: its loop and how many buffers of its own it uses.
struct floor_kind {
  void (*run)(float*, const float*, std::size_t, floor_buffers&);
  std::size_t buffers;
};
const floor_kind euler_floor{floor_euler, 0}, heun_floor{floor_heun, 1};
// x + Σ w·F (w0 = 1: flow STORK, iPNDM) and w0·x + Σ w·F (STORK on the ε path), without and with the store.
const floor_kind collapsed3{floor_collapsed3<true, false>, 3},
    collapsed3_store{floor_collapsed3<true, true>, 3};
const floor_kind collapsed3_w0{floor_collapsed3<false, false>, 3};
const floor_kind collapsed3_w0_store{floor_collapsed3<false, true>, 3};
const floor_kind collapsed4{floor_collapsed4<true, false>, 4},
    collapsed4_store{floor_collapsed4<true, true>, 4};
const floor_kind data1{floor_data1, 2}, data2{floor_data2, 3}, data3{floor_data3, 4};

// ---------------------------------------------------------------------------------------------------------
// The step side.

/// n + 1 decreasing times from 0.9 to 0.1: σ for flows, τ for the VP ε path.
std::vector<double> grid(std::size_t intervals) {
  std::vector<double> g(intervals + 1);
  for (std::size_t i = 0; i <= intervals; ++i)
    g[i] = 0.9 - 0.8 * static_cast<double>(i) / static_cast<double>(intervals);
  return g;
}
constexpr std::size_t grid_intervals = 400;
constexpr std::size_t untimed_head = 8;  // start-up (STORK: Heun or 2 RK3 intervals) and multistep warm-up
constexpr std::size_t untimed_tail = 4;  // lower-order final steps, final denoise

/// One scheduler on the bench grid and its buffers, stepped the way an engine does:
/// - `ZeroCopy = false` (`engine_owned_output`): the engine owns the model-output buffer `v` and passes it
///   to `sch.step(v, x)`; the model writes v once, up front (bounded values, the same at every call);
/// - `ZeroCopy = true` (`zero_copy_output`): before each (timed) `sch.step(x)` the "model" writes its output
///   into `sch.output_buffer()` (untimed: the model's own work), so STORK, DPM-Solver++, UniPC and iPNDM
///   keep it as their history entry without copying it.
template <class Method, class Param, bool ZeroCopy>
class driver {
 public:
  driver(Method m, Param p, bool check_finite, std::size_t n)
      : m_(m),
        p_(p),
        check_(check_finite),
        times_(grid(grid_intervals)),
        x_(n, 1.0f),
        v_(n, 0.01f),
        sch_(make()) {}
  void prepare() {
    if constexpr (ZeroCopy) {
      state& out = sch_.output_buffer();
      std::copy(v_.begin(), v_.end(), out.begin());
      last_ = &out;
    }
  }
  void call() {
    if constexpr (ZeroCopy)
      sch_.step(x_);
    else
      sch_.step(v_, x_);
  }
  bool done() const { return sch_.done(); }
  void restart() { sch_ = make(); }
  /// The sampler's state (the floor runs on it too).
  state& x() { return x_; }
  /// The buffer the model last wrote (the floor reads it too, so both sides find it equally warm).
  const state& output() const { return last_ ? *last_ : v_; }

 private:
  auto make() const {
    return stork::make_scheduler(m_, times_, x_, p_, stork::sampler_options{.check_finite = check_});
  }
  Method m_;
  Param p_;
  bool check_;
  std::vector<double> times_;
  state x_, v_;
  decltype(stork::make_scheduler(m_, times_, x_, p_, stork::sampler_options{})) sch_;
  const state* last_ = nullptr;  // zero-copy: output_buffer() as the model last wrote it
};
template <class Method, class Param>
using engine_owned_output = driver<Method, Param, false>;
template <class Method, class Param>
using zero_copy_output = driver<Method, Param, true>;

/// Model calls one full pass over the grid makes (independent of n: counted once on a tiny state).
template <class Driver, class Make>
std::size_t calls_per_pass(Make make) {
  Driver d = make(16);
  std::size_t calls = 0;
  while (!d.done()) d.prepare(), d.call(), ++calls;
  return calls;
}

/// Median of the recorded samples (reorders them).
double median(std::vector<double>& v, std::size_t count) {
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(count / 2);
  std::nth_element(v.begin(), mid, v.begin() + static_cast<std::ptrdiff_t>(count));
  return *mid;
}

/// CPU time of this thread in seconds: time during which the shared machine ran another process is not
/// counted (the steady clock where the thread clock does not exist).
double now_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

/// What one reading of the clock adds to a timed interval (a system call for the thread clock, about
/// 0.6 us on a virtual machine): the median of back-to-back readings, subtracted from every sample.
double clock_overhead() {
  static const double overhead = [] {
    std::vector<double> d(2001);
    for (double& x : d) {
      const double t0 = now_seconds();
      x = now_seconds() - t0;
    }
    return median(d, d.size());
  }();
  return overhead;
}

/// One benchmark iteration = one unit of the method (one call; both calls of a Heun step) on the
/// sampler, then its floor on the same x and model output, then the floor with the store if any. Each
/// is timed on its own with the thread's CPU clock; the counters are medians over the iterations.
template <class Driver, class Make>
void bm_step(benchmark::State& st, Make make, std::size_t calls_per_unit, floor_kind floor,
             const floor_kind* store) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const std::size_t pass = calls_per_pass<Driver>(make);
  Driver d = make(n);
  std::size_t made = 0;  // calls since the scheduler was (re)built
  auto warm = [&] {
    for (; made < untimed_head; ++made) d.prepare(), d.call();
  };
  warm();
  floor_buffers fb(floor.buffers, n), sb(store ? store->buffers : 0, n);
  constexpr std::size_t max_samples = std::size_t{1} << 16;  // the last 65536 iterations count
  std::vector<double> step_t(max_samples), floor_t(max_samples), store_t(max_samples);
  std::size_t samples = 0;
  const double overhead = clock_overhead();
  for (auto _ : st) {
    if (made + calls_per_unit + untimed_tail > pass) {  // untimed: the end of the grid and a new start
      while (!d.done()) d.prepare(), d.call();
      d.restart();
      made = 0;
      warm();
    }
    const std::size_t k = samples++ % max_samples;
    double stepped = 0.0;
    for (std::size_t u = 0; u < calls_per_unit; ++u) {
      d.prepare();
      const double t0 = now_seconds();
      d.call();
      stepped += now_seconds() - t0 - overhead;
    }
    benchmark::DoNotOptimize(d.x().data());
    made += calls_per_unit;
    const double t1 = now_seconds();
    floor.run(d.x().data(), d.output().data(), n, fb);
    const double t2 = now_seconds();
    benchmark::DoNotOptimize(d.x().data());
    step_t[k] = stepped;
    floor_t[k] = t2 - t1 - overhead;
    if (store) {
      store->run(d.x().data(), d.output().data(), n, sb);
      store_t[k] = now_seconds() - t2 - overhead;
      benchmark::DoNotOptimize(d.x().data());
    }
  }
  const std::size_t count = std::min(samples, max_samples);
  if (count == 0) return;
  const double per_call = 1.0 / static_cast<double>(calls_per_unit);
  const double step = median(step_t, count) * per_call, fl = median(floor_t, count) * per_call;
  st.counters["step_ns"] = step * 1e9;
  st.counters["floor_ns"] = fl * 1e9;
  st.counters["ratio"] = step / fl;
  if (store) st.counters["ratio_store"] = step / (median(store_t, count) * per_call);
}

/// Registers BM_step/<name>/<n> (the engine's own output buffer) and BM_step_zero_copy/<name>/<n> for
/// n = 1000 (smoke), 65536 and 4194304.
template <class Method, class Param = stork::flow_velocity>
void add(const std::string& name, Method m, floor_kind floor, const floor_kind* store = nullptr,
         std::size_t calls_per_unit = 1, Param p = {}, bool check_finite = false) {
  auto reg = [&]<class Driver>(const std::string& prefix) {
    auto make = [m, p, check_finite](std::size_t n) { return Driver(m, p, check_finite, n); };
    benchmark::RegisterBenchmark(
        (prefix + name).c_str(),
        [=](benchmark::State& st) { bm_step<Driver>(st, make, calls_per_unit, floor, store); })
        ->Arg(1000)
        ->Arg(65536)
        ->Arg(4194304)
        ->Unit(benchmark::kMicrosecond);
  };
  reg.template operator()<engine_owned_output<Method, Param>>("BM_step/");
  reg.template operator()<zero_copy_output<Method, Param>>("BM_step_zero_copy/");
}

const bool registered = [] {
  add("euler", stork::euler{}, euler_floor);
  add("heun", stork::heun{}, heun_floor, nullptr, 2);  // per call: a unit is both calls of a step
  add("stork4_s5", stork::stork4{.stages = 5}, collapsed3, &collapsed3_store);
  add("stork4_s148", stork::stork4{.stages = 148}, collapsed3, &collapsed3_store);
  add("stork4_d3_s5", stork::stork4{.stages = 5, .derivative_order = 3}, collapsed4, &collapsed4_store);
  add("stork2_s50", stork::stork2{.stages = 50}, collapsed3, &collapsed3_store);
  add("stork4_eps_s5", stork::stork4{.stages = 5}, collapsed3_w0, &collapsed3_w0_store, 1,
      stork::vp_linear{});
  add("stork4_eps_s148", stork::stork4{.stages = 148}, collapsed3_w0, &collapsed3_w0_store, 1,
      stork::vp_linear{});
  add("dpmpp_2m", stork::dpmpp_2m{}, data1);
  add("dpmpp_3m", stork::dpmpp_3m{}, data2);
  add("unipc_3", stork::unipc{.order = 3}, data3);
  add("ipndm", stork::ipndm{}, collapsed4, &collapsed4_store);
  // The default NaN/Inf check of every model output (one more read of it), against the same floors.
  add("euler_check_finite", stork::euler{}, euler_floor, nullptr, 1, stork::flow_velocity{}, true);
  add("stork4_s5_check_finite", stork::stork4{.stages = 5}, collapsed3, &collapsed3_store, 1,
      stork::flow_velocity{}, true);
  // The same methods chosen at run time (stork::any_method: one indirect call per step on top of the typed
  // scheduler): compare their ratio with the typed rows above.
  add("any/euler", stork::method_from_name("euler"), euler_floor);
  add("any/stork4_s5", stork::method_from_name("stork4", "stages=5"), collapsed3, &collapsed3_store);
  add("any/dpmpp_2m", stork::method_from_name("dpm++2m"), data1);
  add("any/ipndm", stork::method_from_name("ipndm", "coefficients=variable"), collapsed4, &collapsed4_store);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
