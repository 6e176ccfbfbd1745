// Sampler overhead per model call (the model itself excluded) for every method, on float states of
// 1e3..1e7 elements, as a ratio to one fused pass over the same memory measured in the same run.
//
// Counters: `ns_per_call` = time of one scheduler::step; `fused_passes` = that time divided by the time
// of one 2-term fused linear combination (out = a·x + b·v) on the same vectors: the number of memory
// passes the sampler costs per model call. STORK's step must not grow with the stage count: compare
// stork4/s5 with stork4/s148 (flow: effective weights, O(1) scalar work; ε: O(s) scalar recurrence).
#include <benchmark/benchmark.h>
#include <stork/stork.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using state = std::vector<float>;

std::vector<double> grid(std::size_t n) {
  std::vector<double> g(n + 1);
  for (std::size_t i = 0; i <= n; ++i) g[i] = 0.9 - 0.8 * static_cast<double>(i) / static_cast<double>(n);
  return g;
}

/// Seconds of one fused 2-term pass over `n` floats (median-free: best of a few repetitions).
double fused_pass_seconds(std::size_t n) {
  state x(n, 1.0f), v(n, 0.5f);
  double best = 1e30;
  const int reps = n >= 1000000 ? 5 : 200;
  for (int r = 0; r < 8; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < reps; ++k) {
      stork::lincomb<state, 2>(x, {1.0, 1e-3}, {&x, &v});
      benchmark::DoNotOptimize(x.data());
    }
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    best = std::min(best, dt.count() / reps);
  }
  return best;
}

template <class Method, class Param>
void bm_step(benchmark::State& st, Method method, Param param) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const std::vector<double> times = grid(64);
  state x(n, 1.0f), v(n, 0.01f);
  auto sch = stork::make_scheduler(method, times, x, param, stork::sampler_options{.check_finite = false});
  std::int64_t calls = 0;
  double seconds = 0;  // timed by hand so the ratio to a fused pass can be formed here, in the same run
  for (auto _ : st) {
    if (sch.done()) {
      st.PauseTiming();
      sch = stork::make_scheduler(method, times, x, param, stork::sampler_options{.check_finite = false});
      st.ResumeTiming();
    }
    const auto t0 = std::chrono::steady_clock::now();
    sch.step(v, x);
    benchmark::DoNotOptimize(x.data());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++calls;
  }
  st.SetItemsProcessed(calls);
  const double per_call = seconds / static_cast<double>(calls);
  st.counters["ns_per_call"] = per_call * 1e9;
  st.counters["fused_passes"] = per_call / fused_pass_seconds(n);
}

template <class Method, class Param = stork::flow_velocity>
void add(const std::string& name, Method m, Param p = {}) {
  benchmark::RegisterBenchmark(("BM_step/" + name).c_str(),
                               [m, p](benchmark::State& st) { bm_step(st, m, p); })
      ->RangeMultiplier(10)
      ->Range(1000, 10000000)
      ->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  using stork::variant;
  add("euler", stork::euler{});
  add("heun", stork::heun{});
  add("rkg2_s10", stork::rkg2{.stages = 10});
  add("rock4_s10", stork::rock4{.stages = 10});
  add("stork2_s5", stork::stork2{.stages = 5});
  add("stork2_s50", stork::stork2{.stages = 50});
  add("stork4_s5", stork::stork4{.stages = 5});
  add("stork4_s148", stork::stork4{.stages = 148});
  add("stork4_reference_s5", stork::stork4{.stages = 5, .variant = variant::reference});
  add("stork4_reference_s148", stork::stork4{.stages = 148, .variant = variant::reference});
  add("stork4_eps_s5", stork::stork4{.stages = 5}, stork::vp_linear{});
  add("stork4_eps_s148", stork::stork4{.stages = 148}, stork::vp_linear{});
  add("dpmpp_2m", stork::dpmpp_2m{});
  add("dpmpp_3m", stork::dpmpp_3m{});
  add("unipc_3", stork::unipc{.order = 3});
  add("ipndm", stork::ipndm{});
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
