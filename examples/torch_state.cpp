// torch::Tensor as the state (libtorch; Debian: libtorch-dev): a batch of latent-shaped samples
// [8, 4, 16, 16] sampled with STORK-4 and DPM-Solver++(2M) in the engine loop, the model writing straight
// into output_buffer(). The state operations are an object (`torch_ops`): temporaries come from empty_like,
// a linear combination is one in-place kernel per term. The "GPU tensors" recipe of docs/state_types.md is
// the marked region below, verbatim (a test keeps the two in sync).
//
// The model is the exact denoiser of data N(μ, s²I) (μ an image-shaped pattern) in k-diffusion's σ space,
// one torch kernel. The program checks each method against the same method on std::vector<double> (stork's
// own state operations) to float precision and against the closed-form flow map, and counts the tensor
// storage libtorch allocates: all of it before the loop, none in it (model calls included). It runs on the
// CPU; on a GPU set `device` in main to torch::kCUDA (a CUDA build of libtorch) and nothing else changes
// (the allocation count then covers host memory only).
#include <c10/core/CPUAllocator.h>
#include <torch/types.h>  // torch::Tensor and its ops; <torch/torch.h> (with nn, optim) compiles 1.5× longer
#include <torch/version.h>
#include <stork/stork.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <span>
#include <vector>

// [readme-begin]
/// torch::Tensor as a stork state, on any device and dtype. Temporaries: empty_like (same shape, dtype,
/// device). out = Σ a[k]·x[k]: one in-place kernel per term, no temporaries (torch has no n-ary axpy; a
/// custom kernel does it in one pass). A double coefficient passed to mul_ would be wrapped in a new tensor
/// on every call: `scale`, a 0-dim CPU tensor of the state's dtype, carries it instead (read on the host).
struct torch_ops {
  torch::Tensor scale;
  explicit torch_ops(const torch::Tensor& like)
      : scale(torch::zeros({}, like.options().device(torch::kCPU))) {}

  torch::Tensor make_like(const torch::Tensor& x) const { return torch::empty_like(x); }
  void lincomb(torch::Tensor& out, std::span<const double> a, std::span<const torch::Tensor* const> x) {
    double self = 0.0;  // out may be an input: scale it in place first, then add the others
    bool aliased = false;
    for (std::size_t k = 0; k < x.size(); ++k)
      if (x[k]->is_same(out)) self += a[k], aliased = true;
    if (aliased)
      out.mul_(scale.fill_(self));
    else
      torch::mul_out(out, *x[0], scale.fill_(a[0]));
    for (std::size_t k = aliased ? 0 : 1; k < x.size(); ++k)
      if (!x[k]->is_same(out)) out.add_(*x[k], a[k]);  // out += a·x: alpha needs no temporary
  }
  std::size_t size(const torch::Tensor& x) const { return static_cast<std::size_t>(x.numel()); }
  // Reads x once more, allocates two small tensors and synchronises a GPU: sampler_options{.check_finite =
  // false} turns it off.
  bool all_finite(const torch::Tensor& x) const { return torch::isfinite(x).all().item<bool>(); }
};

/// The engine loop (run it under c10::InferenceMode). The model writes into output_buffer() in place
/// (out.copy_(net(…)) or an *_out op): a tensor assigned to it would share its storage with the method.
template <class Method, class Denoiser>
void sample(const Method& method, Denoiser&& denoiser, torch::Tensor& x, const std::vector<double>& sigmas) {
  auto sch = stork::make_scheduler(method, sigmas, x, stork::ve{}, torch_ops(x),    // a denoiser D(x, σ)
                                   stork::sampler_options{.check_finite = false});  // no GPU sync per step
  while (!sch.done()) {
    denoiser(x, sch.time(), sch.output_buffer());  // the method's history entry: no copy
    sch.step(x);
  }
}
// [readme-end]

namespace {

/// Counts the tensor storage libtorch allocates on the CPU, installed over its default allocator. libtorch 2
/// changed the allocator interface (a non-const allocate, copy_data): there the count is not taken.
#if TORCH_VERSION_MAJOR < 2
struct counting_allocator final : c10::Allocator {
  static constexpr bool counts = true;
  c10::Allocator* base = nullptr;
  mutable std::size_t count = 0;
  void install() {
    base = c10::GetCPUAllocator();
    c10::SetCPUAllocator(this, /*priority=*/100);
  }
  c10::DataPtr allocate(std::size_t bytes) const override {
    ++count;
    return base->allocate(bytes);
  }
  c10::DeleterFnPtr raw_deleter() const override { return base->raw_deleter(); }
};
#else
struct counting_allocator {
  static constexpr bool counts = false;
  std::size_t count = 0;
  void install() {}
};
#endif

constexpr double s = 0.5;  // data N(μ, s²I)
const std::vector<double> sigmas = stork::karras_sigmas(20);

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

/// The same run on std::vector<double> (stork's own state operations) with the same model.
template <class Method>
std::vector<double> reference(const Method& method, std::vector<double> x, const std::vector<double>& mu) {
  std::vector<double> d(x.size());
  const std::size_t per_sample = mu.size();
  auto sch = stork::make_scheduler(method, sigmas, x, stork::ve{});
  while (!sch.done()) {
    const double c = s * s / (s * s + sch.time() * sch.time());
    for (std::size_t i = 0; i < x.size(); ++i) d[i] = mu[i % per_sample] + c * (x[i] - mu[i % per_sample]);
    sch.step(d, x);
  }
  return x;
}

}  // namespace

int main() {
  static counting_allocator counter;
  counter.install();
  c10::InferenceMode no_autograd;
  const torch::Device device = torch::kCPU;  // torch::kCUDA with a CUDA build of libtorch

  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const torch::Tensor mu = torch::sin(0.05 * torch::arange(4 * 16 * 16, opts)).reshape({1, 4, 16, 16});
  torch::manual_seed(0);
  const torch::Tensor noise = torch::randn({8, 4, 16, 16}, opts) * sigmas.front();  // x at σ_max
  // The model (a network in an engine): D(x, σ) = μ + s²/(s² + σ²)·(x − μ), one kernel into `out`.
  std::size_t allocated_before_first_call = 0;
  bool called = false;
  auto denoiser = [&](const torch::Tensor& x, double sigma, torch::Tensor& out) {
    if (!called) allocated_before_first_call = counter.count;
    called = true;
    torch::lerp_out(out, mu, x, s * s / (s * s + sigma * sigma));
  };

  const std::vector<double> mu_host = to_vector(mu), noise_host = to_vector(noise);
  const double lo = sigmas[sigmas.size() - 2], hi = sigmas.front();  // exact: flow map to σ_min, then x = D
  const double c_exact = s * s / std::sqrt((s * s + lo * lo) * (s * s + hi * hi));
  bool ok = true;
  auto run = [&](const char* name, const auto& method, double tolerance) {
    torch::Tensor x = noise.clone();
    called = false;
    const std::size_t before = counter.count;
    sample(method, denoiser, x, sigmas);
    const std::size_t at_creation = allocated_before_first_call - before,
                      in_loop = counter.count - allocated_before_first_call;
    const std::vector<double> got = to_vector(x), ref = reference(method, noise_host, mu_host);
    double vs_ref = 0.0, vs_exact = 0.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double m = mu_host[i % mu_host.size()];
      vs_ref = std::max(vs_ref, std::abs(got[i] - ref[i]));
      vs_exact = std::max(vs_exact, std::abs(got[i] - (m + c_exact * (noise_host[i] - m))) / s);
    }
    std::printf(
        "  %-8s tensors allocated: %zu before the loop, %zu in it; max |x − vector run| %.1e, "
        "|x − exact|/s %.1e\n",
        name, at_creation, in_loop, vs_ref, vs_exact);
    ok = ok && in_loop == 0 && vs_ref < 1e-4 && vs_exact < tolerance;
  };
  std::printf("torch::Tensor [8, 4, 16, 16] float32 on %s, karras_sigmas(20), VE denoiser%s\n",
              device.str().c_str(),
              counting_allocator::counts ? "" : " (allocations not counted: libtorch 2)");
  run("stork4", stork::stork4{}, 0.01);
  run("dpmpp_2m", stork::dpmpp_2m{}, 0.1);
  std::printf(ok ? "all checks passed\n" : "CHECK FAILED\n");
  return ok ? 0 : 1;
}
