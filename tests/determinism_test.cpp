// Determinism (issue 5): the same inputs give bit-identical outputs, run after run (also with the heap
// full of garbage, on uninitialised Eigen temporaries, and on another thread), and integrate is bit for
// bit the engine-owned scheduler loop, for every method, on the flow and the VP ε paths.
#include <stork/eigen.hpp>
#include <stork/stork.hpp>

#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "support/all_methods.hpp"
#include "support/gaussian_mixture.hpp"

using namespace stork_test;
using vec = std::vector<double>;

namespace {

/// Fills freed heap blocks with `byte`: a sampler that read a temporary before writing it would see
/// different garbage on different runs (Eigen's make_like leaves its memory uninitialised).
void poison_heap(unsigned char byte) {
  std::vector<std::unique_ptr<unsigned char[]>> blocks;
  for (std::size_t n = 16; n <= 4096; n += 16)  // every small size class, as many as glibc's tcache keeps
    for (int k = 0; k < 7; ++k) {
      blocks.emplace_back(new unsigned char[n]);
      std::memset(blocks.back().get(), byte, n);
    }
}

template <class S>
bool same_bits(const S& a, const S& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(double)) == 0;
}

/// A model written for std::vector<double>, run on state type S.
template <class S, class Model>
auto on(Model m) {
  return [m](const S& x, double t, S& out) {
    const vec xv(x.data(), x.data() + x.size());
    vec ov(xv.size());
    m(xv, t, ov);
    std::memcpy(out.data(), ov.data(), ov.size() * sizeof(double));
  };
}

/// A batch of 48 points (24 samples of the 2-D mixture).
vec start() { return fixed_noise(48, 11); }

template <class S>
S as(const vec& v) {
  S s;
  if constexpr (std::is_same_v<S, vec>)
    s = v;
  else {
    s.resize(static_cast<Eigen::Index>(v.size()));
    std::memcpy(s.data(), v.data(), v.size() * sizeof(double));
  }
  return s;
}

const gaussian_mixture& blobs() {
  static const gaussian_mixture g = three_blobs();
  return g;
}
void flow_model(const vec& x, double s, vec& v) { blobs().flow_velocity(x, s, v); }
void eps_model(const vec& x, double t, vec& e) { blobs().epsilon(stork::vp_linear{}, x, t, e); }

/// integrate on the flow grid (`vp = false`) or the VP grid through vp_epsilon.
template <class S, class M>
S by_integrate(const M& m, bool vp) {
  S x = as<S>(start());
  if (vp)
    stork::integrate(m, stork::vp_epsilon(on<S>(eps_model), stork::vp_linear{}), x, stork::vp_taus(15));
  else
    stork::integrate(m, on<S>(flow_model), x, stork::flow_sigmas(15, {.shift = 3.0}));
  return x;
}

/// The engine-owned loop on the same problem.
template <class S, class M>
S by_scheduler(const M& m, bool vp) {
  S x = as<S>(start()), out = as<S>(start());
  auto loop = [&](auto sch, auto model) {
    while (!sch.done()) {
      model(x, sch.time(), out);
      sch.step(out, x);
    }
  };
  if (vp)
    loop(stork::make_scheduler(m, stork::vp_taus(15), x, stork::vp_linear{}), on<S>(eps_model));
  else
    loop(stork::make_scheduler(m, stork::flow_sigmas(15, {.shift = 3.0}), x), on<S>(flow_model));
  return x;
}

template <class S>
void check_all(const char* state_name) {
  for_each_method([&](const auto& nm) {
    for (const bool vp : {false, true}) {
      if (vp && !nm.vp) continue;
      INFO(state_name << ", method: " << nm.name << (vp ? ", VP epsilon" : ", flow"));
      poison_heap(0xFF);  // NaN bit patterns
      const S first = by_integrate<S>(nm.method, vp);
      poison_heap(0x41);  // finite garbage
      const S second = by_integrate<S>(nm.method, vp);
      REQUIRE(same_bits(first, second));
      poison_heap(0x7F);
      const S loop = by_scheduler<S>(nm.method, vp);
      REQUIRE(same_bits(first, loop));
      S threaded;
      std::thread([&] { threaded = by_integrate<S>(nm.method, vp); }).join();
      REQUIRE(same_bits(first, threaded));
      // Not vacuous: the run moved the state.
      REQUIRE_FALSE(same_bits(first, as<S>(start())));
    }
  });
}

}  // namespace

TEST_CASE("determinism: bit-identical reruns, and integrate equals the scheduler loop, for every method",
          "[determinism]") {
  check_all<vec>("std::vector<double>");
}

TEST_CASE("determinism: the same with uninitialised Eigen temporaries", "[determinism][eigen]") {
  check_all<Eigen::VectorXd>("Eigen::VectorXd");
}

TEST_CASE("determinism: std::vector and Eigen states give the same bits", "[determinism][eigen]") {
  for_each_method([](const auto& nm) {
    INFO("method: " << nm.name);
    const vec a = by_integrate<vec>(nm.method, false);
    const Eigen::VectorXd b = by_integrate<Eigen::VectorXd>(nm.method, false);
    REQUIRE(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
  });
}
