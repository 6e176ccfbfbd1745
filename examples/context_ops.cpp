// State operations that need a context: an engine whose tensors come from an allocator object (a ggml
// context, a memory pool, a CUDA stream) passes an ops object holding it to make_scheduler or integrate.
//
// The context here is shaped like a ggml context: one block of memory reserved up front, tensors carved out
// of it in order and never freed one by one, a tensor being a non-owning handle (copies alias, like a
// ggml_tensor*; stork makes every temporary with make_like and never relies on copying a state). The ops
// object holds a pointer to the context and counts the kernels it launches. The program checks, for STORK-4
// and DPM-Solver++(2M), through make_scheduler (zero-copy: the model writes into output_buffer()) and
// through integrate, that every tensor is made while the scheduler is constructed and none while stepping,
// and that the samples equal those of the same method on std::vector<double> (stork's own state
// operations) to float precision; it prints the linear combinations (kernel launches) per model call and
// the distance to the closed-form flow map (the model is the exact denoiser of data N(μ, s²)).
#include <stork/stork.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <vector>

namespace toy_ggml {

/// A tensor: `n` floats inside a context. A handle: copying it does not copy the data.
struct tensor {
  float* data = nullptr;
  std::size_t n = 0;
};

/// A memory context: one block reserved when it is made; tensors are carved from it and live as long as it.
class context {
 public:
  explicit context(std::size_t capacity) : memory_(capacity) {}
  tensor new_tensor(std::size_t n) {
    if (n > memory_.size() - used_) throw std::runtime_error("toy_ggml::context: out of memory");
    ++tensors_;
    const tensor t{memory_.data() + used_, n};
    used_ += n;
    return t;
  }
  std::size_t tensors() const noexcept { return tensors_; }  // tensors made so far
  std::size_t used() const noexcept { return used_; }        // floats handed out so far
  std::size_t kernels = 0;                                   // linear combinations launched on it

 private:
  std::vector<float> memory_;
  std::size_t used_ = 0, tensors_ = 0;
};

}  // namespace toy_ggml

/// The state operations of toy_ggml::tensor: an object holding its context. make_scheduler and integrate
/// keep a copy of it; the copies share the context through the pointer. (toy_ggml::tensor has no
/// stork::state_ops specialisation: without a context there is no way to make one.)
struct context_ops {
  toy_ggml::context* ctx;

  toy_ggml::tensor make_like(const toy_ggml::tensor& x) const { return ctx->new_tensor(x.n); }
  /// out = Σ a[k]·x[k] in one pass (each element is read from every input before it is written, so out may
  /// be one of the inputs); arithmetic in double, storage float.
  void lincomb(toy_ggml::tensor& out, stork::span<const double> a,
               stork::span<const toy_ggml::tensor* const> x) const {
    ++ctx->kernels;
    for (std::size_t i = 0; i < out.n; ++i) {
      double acc = 0.0;
      for (std::size_t k = 0; k < a.size(); ++k) acc += a[k] * x[k]->data[i];
      out.data[i] = static_cast<float>(acc);
    }
  }
  std::size_t size(const toy_ggml::tensor& x) const { return x.n; }  // optional: size checks
  bool all_finite(const toy_ggml::tensor& x) const {                 // optional: NaN/Inf checks
    return std::all_of(x.data, x.data + x.n, [](float f) { return std::isfinite(f); });
  }
};
static_assert(stork::is_state_ops_v<context_ops, toy_ggml::tensor>,
              "context_ops performs the state operations");

namespace {

constexpr double mu = 2.0, s = 0.5;                           // data N(2, 0.5²) in every coordinate
constexpr std::size_t n = 4096;                               // floats per state
const std::vector<double> sigmas = stork::karras_sigmas(20);  // Stable Diffusion's σ range, 14.6 to 0.029

/// The model, a denoiser in k-diffusion's σ space (x = x₀ + σ·ε): the exact D(x, σ) = μ + s²/(s² + σ²)·(x −
/// μ) of data N(μ, s²), written into `d` (no allocation).
void denoiser(const toy_ggml::tensor& x, double sigma, toy_ggml::tensor& d) {
  const double c = s * s / (s * s + sigma * sigma);
  for (std::size_t i = 0; i < x.n; ++i) d.data[i] = static_cast<float>(mu + c * (x.data[i] - mu));
}

/// The initial noise times σ_max: a deterministic spread of ε in (−3, 3).
double initial(std::size_t i) {
  return sigmas.front() * (6.0 * (static_cast<double>(i) + 0.5) / static_cast<double>(n) - 3.0);
}

/// max |x − exact| relative to s: the exact flow map x(σ) = μ + √(s² + σ²)/√(s² + σ_max²)·(x(σ_max) − μ) down
/// to the last σ > 0, then the last step x = D (no model call at σ = 0).
double error(const toy_ggml::tensor& x) {
  const double lo = sigmas[sigmas.size() - 2], hi = sigmas.front();
  const double c = s * s / std::sqrt((s * s + lo * lo) * (s * s + hi * hi));
  double e = 0.0;
  for (std::size_t i = 0; i < x.n; ++i) e = std::max(e, std::abs(x.data[i] - (mu + c * (initial(i) - mu))));
  return e / s;
}

/// The same run on std::vector<double> with stork's own state operations: what the context run must give.
template <class Method>
std::vector<double> reference(const Method& method) {
  std::vector<double> x(n), d(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(initial(i));  // the same float start
  auto sch = stork::make_scheduler(method, sigmas, x, stork::ve{});
  while (!sch.done()) {
    const double c = s * s / (s * s + sch.time() * sch.time());
    for (std::size_t i = 0; i < n; ++i) d[i] = mu + c * (x[i] - mu);
    sch.step(d, x);
  }
  return x;
}

struct report {
  const char* name;
  std::size_t calls, at_construction, while_stepping;
  double kernels_per_call;  // once the start-up is over (from the 6th call on)
  double exact_error, reference_error;
};

report finish(const char* name, std::size_t calls, std::size_t made, std::size_t later, double kernels,
              const toy_ggml::tensor& x, const std::vector<double>& ref) {
  double e = 0.0;
  for (std::size_t i = 0; i < n; ++i) e = std::max(e, std::abs(x.data[i] - ref[i]));
  return {name, calls, made, later, kernels, error(x), e};
}

/// The engine loop, zero-copy: the model writes into output_buffer(), step(x) takes it from there.
template <class Method>
report engine_loop(const char* name, const Method& method) {
  toy_ggml::context ctx(64 * n);  // the engine sizes its context for the run
  toy_ggml::tensor x = ctx.new_tensor(n);
  for (std::size_t i = 0; i < n; ++i) x.data[i] = static_cast<float>(initial(i));

  const std::size_t before = ctx.tensors();
  auto sch = stork::make_scheduler(method, sigmas, x, stork::ve{}, context_ops{&ctx});  // makes every tensor
  const std::size_t made = ctx.tensors() - before;
  std::size_t kernels_at_5 = 0;
  while (!sch.done()) {
    if (sch.nfe() == 5) kernels_at_5 = ctx.kernels;
    denoiser(x, sch.time(), sch.output_buffer());  // the output lands in the method's history: no copy
    sch.step(x);
  }
  const double kernels = static_cast<double>(ctx.kernels - kernels_at_5) / static_cast<double>(sch.nfe() - 5);
  return finish(name, sch.nfe(), made, ctx.tensors() - before - made, kernels, x, reference(method));
}

/// integrate with the same ops object: the library runs the loop (and holds one working state more).
template <class Method>
report through_integrate(const char* name, const Method& method) {
  toy_ggml::context ctx(64 * n);
  toy_ggml::tensor x = ctx.new_tensor(n);
  for (std::size_t i = 0; i < n; ++i) x.data[i] = static_cast<float>(initial(i));
  const std::size_t before = ctx.tensors();
  std::size_t at_first_call = 0, calls = 0, kernels_at_5 = 0;  // construction is over at the first call
  auto model = [&](const toy_ggml::tensor& xs, double sigma, toy_ggml::tensor& d) {
    if (calls == 0) at_first_call = ctx.tensors();
    if (calls++ == 5) kernels_at_5 = ctx.kernels;
    denoiser(xs, sigma, d);
  };
  const stork::stats r =
      stork::integrate(method, stork::field(model, stork::ve{}), x, sigmas, context_ops{&ctx});
  const double kernels =  // less the copy of x back at the end
      static_cast<double>(ctx.kernels - 1 - kernels_at_5) / static_cast<double>(r.nfe - 5);
  return finish(name, r.nfe, at_first_call - before, ctx.tensors() - at_first_call, kernels, x,
                reference(method));
}

}  // namespace

int main() {
  const report runs[] = {
      engine_loop("stork4, engine loop", stork::stork4{}),
      engine_loop("dpmpp_2m, engine loop", stork::dpmpp_2m{}),
      through_integrate("stork4, integrate", stork::stork4{}),
      through_integrate("dpmpp_2m, integrate", stork::dpmpp_2m{}),
  };
  bool ok = true;
  std::printf(
      "context tensors: made by make_scheduler / integrate, then while stepping; lincombs per model\n"
      "call after the start-up; max |x − same method on std::vector<double>| and |x − exact|/s\n");
  for (const report& r : runs) {
    std::printf(
        "  %-21s %2zu calls  tensors %zu, then %zu  lincombs/call %.2f  vs vector %.1e  vs exact %.1e\n",
        r.name, r.calls, r.at_construction, r.while_stepping, r.kernels_per_call, r.reference_error,
        r.exact_error);
    ok = ok && r.at_construction > 0 && r.while_stepping == 0 && r.reference_error < 1e-4 &&
         r.exact_error < 0.1;  // a broken lincomb is off by O(1)
  }
  // Zero-copy: a STORK-4 step is one linear combination per model call (x and the stored outputs in, x
  // out); DPM-Solver++ makes two (x̂₀ in place, then the update).
  ok = ok && runs[0].kernels_per_call == 1.0 && runs[1].kernels_per_call == 2.0 &&
       runs[2].kernels_per_call == 1.0 && runs[3].kernels_per_call == 2.0;
  std::printf(ok ? "all checks passed\n" : "CHECK FAILED\n");
  return ok ? 0 : 1;
}
