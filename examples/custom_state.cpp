// Your own state type: a handle to a device buffer (as a GPU tensor would be), sampled with STORK-4 and
// STORK-2. The samplers never read an element: they only ask `stork::state_ops<device_tensor>` for a new
// buffer like x (`make_like`) and for fused linear combinations (`lincomb`, one kernel launch each).
//
// The "device" here is simulated on the host so the example runs anywhere: buffers live in a pool that
// only the kernel functions below can index, storage is float, arithmetic in double. With CUDA, SYCL or
// a framework tensor the four functions of `state_ops` launch real kernels instead (see the README).
// The velocity is the exact rectified-flow field of data N(μ, s²) per coordinate, so the result can be
// checked against the closed-form flow map x(0) = μ + s·x(1).
#include <stork/stork.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <span>
#include <utility>
#include <vector>

namespace toy_device {

/// Pretend device memory: buffers are reachable only through handles and the kernels below.
class device {
 public:
  using handle = std::size_t;
  static handle allocate(std::size_t n) {
    ++allocations;
    pool().emplace_back(n);
    return pool().size() - 1;
  }
  static void release(handle h) { std::vector<float>().swap(pool()[h]); }
  static std::size_t size(handle h) { return pool()[h].size(); }
  static void upload(handle h, std::span<const float> host) { pool()[h].assign(host.begin(), host.end()); }
  static std::vector<float> download(handle h) { return pool()[h]; }

  /// Kernel: out[i] = Σ_k a[k]·in[k][i], one pass; `out` may be one of the inputs (each element is
  /// read from every input before it is written).
  static void lincomb(handle out, std::span<const double> a, std::span<const handle> in) {
    ++launches;
    ++lincombs;
    std::vector<float>& o = pool()[out];
    for (std::size_t i = 0; i < o.size(); ++i) {
      double acc = 0.0;
      for (std::size_t k = 0; k < a.size(); ++k) acc += a[k] * pool()[in[k]][i];
      o[i] = static_cast<float>(acc);
    }
  }
  /// Kernel (a reduction): are all elements finite?
  static bool all_finite(handle h) {
    ++launches;
    for (float f : pool()[h])
      if (!std::isfinite(f)) return false;
    return true;
  }
  /// Kernel: the model. Rectified-flow velocity of data N(mu, s²): v = (σ − a s²)/(a²s² + σ²)·(x − aμ) − μ.
  static void gaussian_velocity(handle x, double sigma, double mu, double s, handle v) {
    ++launches;
    const double a = 1.0 - sigma, c = (sigma - a * s * s) / (a * a * s * s + sigma * sigma);
    for (std::size_t i = 0; i < pool()[x].size(); ++i)
      pool()[v][i] = static_cast<float>(c * (pool()[x][i] - a * mu) - mu);
  }

  static inline std::size_t allocations = 0, launches = 0, lincombs = 0;

 private:
  static std::vector<std::vector<float>>& pool() {
    static std::vector<std::vector<float>> p;
    return p;
  }
};

/// A device tensor: owns one buffer. Copying makes a new buffer with the same contents (a deep copy,
/// which `stork::State` requires: stork may copy a state while it sets up its temporaries).
class device_tensor {
 public:
  explicit device_tensor(std::size_t n) : h_(device::allocate(n)), n_(n) {}
  device_tensor(const device_tensor& o) : device_tensor(o.n_) {
    ++copies;
    const double one = 1.0;
    device::lincomb(h_, {&one, 1}, {&o.h_, 1});
  }
  device_tensor(device_tensor&& o) noexcept : h_(o.h_), n_(o.n_) { o.n_ = 0; }
  device_tensor& operator=(const device_tensor& o) {  // deep, like the copy
    if (this != &o) *this = device_tensor(o);
    return *this;
  }
  device_tensor& operator=(device_tensor&& o) noexcept {
    std::swap(h_, o.h_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~device_tensor() {
    if (n_ != 0) device::release(h_);
  }
  device::handle handle() const noexcept { return h_; }
  std::size_t size() const noexcept { return n_; }
  static inline std::size_t copies = 0;

 private:
  device::handle h_;
  std::size_t n_;
};

}  // namespace toy_device

/// The whole integration: four functions, each one kernel launch (or an allocation).
template <>
struct stork::state_ops<toy_device::device_tensor> {
  using tensor = toy_device::device_tensor;
  static tensor make_like(const tensor& x) { return tensor(x.size()); }
  static void lincomb(tensor& out, std::span<const double> a, std::span<const tensor* const> x) {
    std::array<toy_device::device::handle, 16> h{};  // kernel arguments (stork passes a handful of terms)
    std::vector<toy_device::device::handle> many;
    std::span<toy_device::device::handle> hs(h.data(), x.size());
    if (x.size() > h.size()) hs = many = std::vector<toy_device::device::handle>(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) hs[k] = x[k]->handle();
    toy_device::device::lincomb(out.handle(), a, hs);
  }
  static std::size_t size(const tensor& x) { return x.size(); }                                   // optional
  static bool all_finite(const tensor& x) { return toy_device::device::all_finite(x.handle()); }  // optional
};

static_assert(stork::State<toy_device::device_tensor>);

int main() {
  using toy_device::device;
  using toy_device::device_tensor;
  const double mu = 2.0, s = 0.5;  // data N(2, 0.5²) in every coordinate
  const std::size_t n = 4096;
  std::vector<float> noise(n);  // x at σ = 1: a deterministic spread of values in (−3, 3)
  for (std::size_t i = 0; i < n; ++i)
    noise[i] = static_cast<float>(6.0 * (static_cast<double>(i) + 0.5) / n - 3.0);
  const std::vector<double> sigmas = stork::flow_sigmas(20, stork::flow_schedule{.shift = 1.0});
  auto model = [&](const device_tensor& x, double sigma, device_tensor& v) {
    device::gaussian_velocity(x.handle(), sigma, mu, s, v.handle());
  };
  auto max_error = [&](const device_tensor& x) {
    const std::vector<float> host = device::download(x.handle());
    double e = 0.0;
    for (std::size_t i = 0; i < n; ++i) e = std::max(e, std::abs(host[i] - (mu + s * noise[i])));
    return e;
  };
  bool ok = true;

  {  // STORK-4 through integrate (the library runs the loop)
    device_tensor x(n);
    device::upload(x.handle(), noise);
    const stork::stats r = stork::integrate(stork::stork4{}, model, x, sigmas);
    const double e = max_error(x);
    std::printf("stork4 (integrate):  %zu model calls, max |x − exact flow map| = %.2e\n", r.nfe, e);
    ok = ok && e < 5e-3;
  }
  {  // STORK-2 through the engine-owned loop, counting what happens on the device
    device_tensor x(n), v(n);
    device::upload(x.handle(), noise);
    const std::size_t copies0 = device_tensor::copies, alloc0 = device::allocations;
    auto sch = stork::make_scheduler(stork::stork2{}, sigmas, x);
    const std::size_t setup_allocs = device::allocations - alloc0, copies1 = device_tensor::copies;
    const std::size_t alloc1 = device::allocations, launch0 = device::launches, lin0 = device::lincombs;
    while (!sch.done()) {
      model(x, sch.time(), v);
      sch.step(v, x);
    }
    const double e = max_error(x);
    std::printf("stork2 (engine loop): %zu model calls, max |x − exact flow map| = %.2e\n", sch.nfe(), e);
    std::printf(
        "  device buffers allocated by make_scheduler: %zu (of which deep copies: %zu); during sampling: "
        "%zu allocations, %zu copies\n",
        setup_allocs, copies1 - copies0, device::allocations - alloc1, device_tensor::copies - copies1);
    const double calls = static_cast<double>(sch.nfe());
    std::printf(
        "  kernel launches per model call: %.2f (the model 1, the NaN/Inf check 1, stork's lincomb %.2f)\n",
        static_cast<double>(device::launches - launch0) / calls,
        static_cast<double>(device::lincombs - lin0) / calls);
    ok = ok && e < 5e-3 && device::allocations == alloc1 && device_tensor::copies == copies1;
  }
  std::printf(ok ? "all checks passed\n" : "CHECK FAILED\n");
  return ok ? 0 : 1;
}
