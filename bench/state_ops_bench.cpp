/// @file
/// @brief The fused linear combination `stork::lincomb` against the plain code a user would write instead.
///
/// Every benchmark comes in a pair with the same type, number of terms and size:
///   BM_fused_<type>_<N>terms/<n>  `stork::lincomb<S, N>`: one pass, arithmetic in the scalar type T
///   BM_plain_<type>_<N>terms/<n>  std::vector: a hand-written loop `o[i] = a0*x0[i] + a1*x1[i] + …` in T;
///                                 Eigen: the expression `out = a0*x0 + a1*x1 + …` (coefficients cast to T)
/// with <type> one of vector_float, vector_double, eigen_VectorXf, eigen_VectorXd, N = 2 (axpy-like) and 5,
/// and n = 1e3 … 1e7 scalars, always the last component of the name (the ctest smoke run filters `/1000$`).
/// bytes_per_second counts every input read once plus the output written once: (N + 1)·n·sizeof(T) per
/// iteration, so fused/plain bytes_per_second of a pair is the speed-up of the fused kernel.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "stork/eigen.hpp"
#include "stork/state.hpp"

namespace {

/// A state of n scalars filled with a bounded, term-dependent pattern (every page touched before timing).
template <class S>
S make_state(std::size_t n, std::size_t k) {
  using T = typename S::value_type;
  S x;
  x.resize(static_cast<decltype(x.size())>(n));
  T* p = x.data();
  const double scale = 0.01 * static_cast<double>(k + 1);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(1.0 + scale * static_cast<double>(i % 101));
  return x;
}

/// N distinct inputs, a distinct output and alternating-sign coefficients 1/2, -1/3, 1/4, …
template <class S, std::size_t N>
struct operands {
  std::vector<S> xs;
  S out;
  std::array<double, N> a{};
  std::array<const S*, N> x{};

  explicit operands(std::size_t n) : out(make_state<S>(n, N)) {
    xs.reserve(N);
    for (std::size_t k = 0; k < N; ++k) {
      xs.push_back(make_state<S>(n, k));
      a[k] = (k % 2 == 0 ? 1.0 : -1.0) / static_cast<double>(k + 2);
    }
    for (std::size_t k = 0; k < N; ++k) x[k] = &xs[k];
  }
};

// The plain baselines: what one writes without stork, in the scalar type of the state.

template <class T>
void plain(std::vector<T>& out, const std::array<double, 2>& a,
           const std::array<const std::vector<T>*, 2>& x) {
  const T a0 = static_cast<T>(a[0]), a1 = static_cast<T>(a[1]);
  const T* x0 = x[0]->data();
  const T* x1 = x[1]->data();
  T* o = out.data();
  const std::size_t n = out.size();
  for (std::size_t i = 0; i < n; ++i) o[i] = a0 * x0[i] + a1 * x1[i];
}

template <class T>
void plain(std::vector<T>& out, const std::array<double, 5>& a,
           const std::array<const std::vector<T>*, 5>& x) {
  const T a0 = static_cast<T>(a[0]), a1 = static_cast<T>(a[1]), a2 = static_cast<T>(a[2]);
  const T a3 = static_cast<T>(a[3]), a4 = static_cast<T>(a[4]);
  const T* x0 = x[0]->data();
  const T* x1 = x[1]->data();
  const T* x2 = x[2]->data();
  const T* x3 = x[3]->data();
  const T* x4 = x[4]->data();
  T* o = out.data();
  const std::size_t n = out.size();
  for (std::size_t i = 0; i < n; ++i) o[i] = a0 * x0[i] + a1 * x1[i] + a2 * x2[i] + a3 * x3[i] + a4 * x4[i];
}

template <class T>
using eigen_vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

template <class T>
void plain(eigen_vector<T>& out, const std::array<double, 2>& a,
           const std::array<const eigen_vector<T>*, 2>& x) {
  out = static_cast<T>(a[0]) * *x[0] + static_cast<T>(a[1]) * *x[1];
}

template <class T>
void plain(eigen_vector<T>& out, const std::array<double, 5>& a,
           const std::array<const eigen_vector<T>*, 5>& x) {
  out = static_cast<T>(a[0]) * *x[0] + static_cast<T>(a[1]) * *x[1] + static_cast<T>(a[2]) * *x[2] +
        static_cast<T>(a[3]) * *x[3] + static_cast<T>(a[4]) * *x[4];
}

template <class S, std::size_t N>
void set_bytes(benchmark::State& state, std::size_t n) {
  const auto per_iteration = static_cast<std::int64_t>((N + 1) * n * sizeof(typename S::value_type));
  state.SetBytesProcessed(state.iterations() * per_iteration);
}

template <class S, std::size_t N>
void bm_fused(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  operands<S, N> op(n);
  benchmark::DoNotOptimize(op.a);  // coefficients opaque to the optimiser, as in a sampler
  for (auto _ : state) {
    stork::lincomb<S, N>(op.out, op.a, op.x);
    benchmark::DoNotOptimize(op.out.data());
    benchmark::ClobberMemory();
  }
  set_bytes<S, N>(state, n);
}

template <class S, std::size_t N>
void bm_plain(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  operands<S, N> op(n);
  benchmark::DoNotOptimize(op.a);
  for (auto _ : state) {
    plain(op.out, op.a, op.x);
    benchmark::DoNotOptimize(op.out.data());
    benchmark::ClobberMemory();
  }
  set_bytes<S, N>(state, n);
}

/// Registers BM_fused_<type>_<N>terms and BM_plain_<type>_<N>terms, n = 1e3, 1e4, …, 1e7.
template <class S, std::size_t N>
void register_pair(const std::string& type) {
  const std::string suffix = "_" + type + "_" + std::to_string(N) + "terms";
  benchmark::RegisterBenchmark(("BM_fused" + suffix).c_str(), bm_fused<S, N>)
      ->RangeMultiplier(10)
      ->Range(1'000, 10'000'000);
  benchmark::RegisterBenchmark(("BM_plain" + suffix).c_str(), bm_plain<S, N>)
      ->RangeMultiplier(10)
      ->Range(1'000, 10'000'000);
}

template <class S>
void register_type(const std::string& type) {
  register_pair<S, 2>(type);
  register_pair<S, 5>(type);
}

[[maybe_unused]] const bool registered = [] {
  register_type<std::vector<float>>("vector_float");
  register_type<std::vector<double>>("vector_double");
  register_type<Eigen::VectorXf>("eigen_VectorXf");
  register_type<Eigen::VectorXd>("eigen_VectorXd");
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
