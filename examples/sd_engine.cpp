// What a stable-diffusion.cpp-style engine pastes, as C++17 against the one vendorable file: the sampler and
// the schedule chosen at run time from command-line strings, the way stable-diffusion.cpp's CLI takes them
// (`sd_engine --sampling-method dpm++2m --scheduler karras --steps 20`, options as key=value lists in
// `--sampler-args` / `--scheduler-args`), through stork::method_from_name and stork::sigmas_from_name; a host
// tensor (a float vector plus a shape) with its stork::state_ops, a denoiser callback in k-diffusion's σ
// space around an SD ε model (input x/√(σ² + 1) at the training timestep of σ, D = x − σ·ε̂), classifier-free
// guidance combined by the engine, karras sigmas over the model's own σ range, and the step index engines key
// on (1, 2, … at a step's own call, −n for a stage call inside step n), here driving a guidance schedule and
// a preview every few steps through sch.denoised().
//
// The "UNet" is an analytic stand-in with SD's conventions: the exact ε of Gaussian-mixture data for the VP
// input at a fractional timestep of SD's β table (scaled_linear, 1000 steps, 0.00085 to 0.012). The prompt
// selects one Gaussian; the unconditional model sees the whole mixture. With guidance 1 the guided model is
// the prompt's Gaussian, whose flow map is closed form: each sampler's result is checked against it. With
// guidance 7.5 every sample must land on the prompt's component. No tensor is made while stepping.
#include <stork/stork.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sd_like {

/// A host tensor like stable-diffusion.cpp's: the values and the shape, nothing else.
struct tensor {
  std::vector<float> data;
  std::vector<std::int64_t> shape;

  tensor() = default;
  explicit tensor(std::vector<std::int64_t> s)
      : data(static_cast<std::size_t>(
            std::accumulate(s.begin(), s.end(), std::int64_t{1}, std::multiplies<>()))),
        shape(std::move(s)) {
    ++made;
  }
  static inline std::size_t made = 0;  // tensors made so far (the check: none while stepping)
};

}  // namespace sd_like

/// The two operations stork needs (plus the two optional checks).
template <>
struct stork::state_ops<sd_like::tensor> {
  static sd_like::tensor make_like(const sd_like::tensor& x) { return sd_like::tensor(x.shape); }
  /// out = Σ a[k]·x[k], one pass in double (each element is read from every input before it is written).
  static void lincomb(sd_like::tensor& out, stork::span<const double> a,
                      stork::span<const sd_like::tensor* const> x) {
    for (std::size_t i = 0; i < out.data.size(); ++i) {
      double acc = 0.0;
      for (std::size_t k = 0; k < a.size(); ++k) acc += a[k] * x[k]->data[i];
      out.data[i] = static_cast<float>(acc);
    }
  }
  static std::size_t size(const sd_like::tensor& x) { return x.data.size(); }
  static bool all_finite(const sd_like::tensor& x) {
    for (float f : x.data)
      if (!std::isfinite(f)) return false;
    return true;
  }
};

namespace {

using sd_like::tensor;
constexpr int unconditional = -1;

/// The stand-in for the UNet: ε̂(x_in, t, prompt) for the VP input x_in = √ᾱ·x₀ + √(1 − ᾱ)·ε at the
/// fractional training timestep t. Data: three Gaussians N(μ_k, s²I) per sample (first dimension = batch);
/// prompt 0 is component 0, the unconditional model is the mixture 0.5/0.25/0.25.
class toy_unet {
 public:
  toy_unet(const stork::vp_discrete& table, std::size_t dim) : table_(table) {
    for (std::size_t k = 0; k < 3; ++k) {
      means_[k].resize(dim);
      for (std::size_t i = 0; i < dim; ++i)
        means_[k][i] = 0.8 * std::sin(0.37 * static_cast<double>((k + 1) * i) + static_cast<double>(k));
    }
  }
  const std::vector<double>& mean(std::size_t k) const { return means_[k]; }
  static constexpr double spread = 0.5;

  void operator()(const tensor& x_in, double t, int prompt, tensor& eps) const {
    const double sigma = table_.sigma_of_timestep(t), abar = 1.0 / (1.0 + sigma * sigma);
    const double a = std::sqrt(abar), b = std::sqrt(1.0 - abar), var = a * a * spread * spread + b * b;
    const std::size_t dim = means_[0].size(), batch = x_in.data.size() / dim;
    for (std::size_t j = 0; j < batch; ++j) {
      const float* x = x_in.data.data() + j * dim;
      std::array<double, 3> logw{};  // posterior over the components (equal spreads: no variance term)
      double top = -1e300;
      for (std::size_t k = 0; k < 3; ++k) {
        double d2 = 0.0;
        for (std::size_t i = 0; i < dim; ++i) d2 += (x[i] - a * means_[k][i]) * (x[i] - a * means_[k][i]);
        const bool in = prompt == unconditional || static_cast<std::size_t>(prompt) == k;
        logw[k] = in ? std::log(weights_[k]) - 0.5 * d2 / var : -1e300;
        top = std::max(top, logw[k]);
      }
      double total = 0.0;
      for (double& w : logw) total += (w = std::exp(w - top));
      for (std::size_t i = 0; i < dim;
           ++i) {  // ε̂ = (x − a·E[x₀|x])/b, E[x₀|x] = Σ w_k(μ_k + a s²/var·(x − aμ_k))
        double x0 = 0.0;
        for (std::size_t k = 0; k < 3; ++k)
          x0 += logw[k] / total * (means_[k][i] + a * spread * spread / var * (x[i] - a * means_[k][i]));
        eps.data[j * dim + i] = static_cast<float>((x[i] - a * x0) / b);
      }
    }
  }

 private:
  stork::vp_discrete table_;
  std::array<std::vector<double>, 3> means_;
  std::array<double, 3> weights_{0.5, 0.25, 0.25};
};

/// The engine's settings for one generation: what stable-diffusion.cpp's CLI takes as strings.
struct settings {
  std::string sampling_method = "dpm++2m";  // --sampling-method: any name of stork::method_names()
  std::string sampler_args;          // --sampler-args "eta=0.5" (stable-diffusion.cpp: extra_sample_args)
  std::string scheduler = "karras";  // --scheduler: any name of stork::schedule_names()
  std::string scheduler_args;        // --scheduler-args "alpha=0.6,beta=0.6"
  int steps = 20;                    // --steps
  double cfg_scale = 7.5;            // --cfg-scale
  int cfg_until = 20;       // guidance for steps 1..cfg_until, then 1 (the unconditional call is skipped)
  int preview_every = 0;    // 0: no previews
  std::uint64_t seed = 42;  // --seed: the engine's own noise stream (stochastic samplers)
};

/// What one generation reports.
struct result {
  tensor x;
  std::size_t model_calls = 0, stage_calls = 0, unet_calls = 0, tensors_while_stepping = 0;
};

/// The sampling loop as an engine writes it around its denoiser. `noise` holds ε (N(0, 1) draws), the run
/// starts at x = σ_max·ε; `preview` is called with (step, σ, x̂₀) every settings.preview_every steps. The
/// method and the σ list come from the settings' strings.
template <class Preview>
result generate(const toy_unet& unet, const stork::vp_discrete& table, const tensor& noise,
                const settings& cfg, Preview&& preview) {
  const stork::any_method method = stork::method_from_name(cfg.sampling_method, cfg.sampler_args);
  // The model's σ table decides the discrete schedules (stable-diffusion.cpp's CompVisDenoiser); every list
  // ends with 0.
  stork::schedule_context context;
  context.table = &table;
  context.options = cfg.scheduler_args;
  const std::vector<double> sigmas = stork::sigmas_from_name(cfg.scheduler, cfg.steps, context);
  result r;
  r.x = tensor(noise.shape);
  for (std::size_t i = 0; i < noise.data.size(); ++i)
    r.x.data[i] = static_cast<float>(noise.data[i] * sigmas[0]);
  tensor x_in(noise.shape), eps_cond(noise.shape), eps_uncond(noise.shape), x0(noise.shape);  // once
  // The denoiser in σ space, stable-diffusion.cpp's: D(x, σ) = x − σ·ε̂ with ε̂ the UNet's output for the
  // input x/√(σ² + 1) at the timestep of σ, guided (cond/uncond combined here); `step` keys the guidance
  // schedule (and, in an engine, caches). Handing stork D rather than ε̂ (which
  // stork::model<stork::ve>{.prediction = stork::prediction::epsilon} would take) matters for STORK: its
  // stages then integrate the stiff x/σ part of the velocity (here 12× less error at 20 steps).
  auto denoise = [&](const tensor& x, double sigma, int step, tensor& d) {
    const double c_in = 1.0 / std::sqrt(sigma * sigma + 1.0);
    const double t = table.timestep_of_sigma(sigma);  // log-σ interpolation in the model's table
    const double g = std::abs(step) <= cfg.cfg_until ? cfg.cfg_scale : 1.0;
    for (std::size_t i = 0; i < x_in.data.size(); ++i) x_in.data[i] = static_cast<float>(c_in * x.data[i]);
    unet(x_in, t, /*prompt=*/0, eps_cond);
    ++r.unet_calls;
    if (g != 1.0) {  // guidance 1 is the conditional model: no unconditional call
      unet(x_in, t, unconditional, eps_uncond);
      ++r.unet_calls;
    }
    for (std::size_t i = 0; i < d.data.size(); ++i) {
      const double eps =
          g == 1.0 ? eps_cond.data[i] : eps_uncond.data[i] + g * (eps_cond.data[i] - eps_uncond.data[i]);
      d.data[i] = static_cast<float>(x.data[i] - sigma * eps);
    }
  };

  // The engine's own noise stream for the stochastic samplers (stable-diffusion.cpp draws from its rng): one
  // standard-normal draw per element, written into the tensor stork hands over.
  std::mt19937_64 rng(cfg.seed);
  std::normal_distribution<double> n01;
  auto engine_noise = [&](tensor& z) {
    for (float& v : z.data) v = static_cast<float>(n01(rng));
  };
  // x = x₀ + σ·ε, a denoiser D(x, σ); the noise source is used only by the stochastic methods.
  auto sch = stork::make_scheduler(method, sigmas, r.x, stork::ve{}, engine_noise);
  const std::size_t made = sd_like::tensor::made;
  while (!sch.done()) {
    // stable-diffusion.cpp's step index: n at step n's own call, −n for a stage call inside step n.
    const int step =
        sch.at_grid_point() ? static_cast<int>(sch.interval()) + 1 : -(static_cast<int>(sch.interval()) + 1);
    tensor& out = sch.output_buffer();  // D goes straight into the method's history: no copy
    denoise(r.x, sch.time(), step, out);
    if (step > 0 && cfg.preview_every > 0 && step % cfg.preview_every == 0) {
      sch.denoised(out, r.x, x0);  // x̂₀ from any model output (for a denoiser: D itself), one pass
      preview(step, sch.time(), x0);
    }
    r.stage_calls += step < 0;
    sch.step(r.x);
  }
  r.model_calls = sch.nfe();
  r.tensors_while_stepping = sd_like::tensor::made - made;
  return r;
}

/// Root-mean-square distance of sample j of `x` from `mean`.
double rms_distance(const tensor& x, std::size_t j, const std::vector<double>& mean) {
  double d2 = 0.0;
  for (std::size_t i = 0; i < mean.size(); ++i) {
    const double d = x.data[j * mean.size() + i] - mean[i];
    d2 += d * d;
  }
  return std::sqrt(d2 / static_cast<double>(mean.size()));
}

}  // namespace

/// stable-diffusion.cpp-style command line: --sampling-method, --sampler-args, --scheduler, --scheduler-args,
/// --steps, --cfg-scale, --seed. Returns false (and says why) for an unknown flag or a missing value.
bool parse_command_line(int argc, char** argv, settings& cfg, bool& checks) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--checks") {
      checks = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "sd_engine: %s needs a value\n", argv[i]);
      return false;
    }
    const char* value = argv[++i];
    if (flag == "--sampling-method")
      cfg.sampling_method = value;
    else if (flag == "--sampler-args")
      cfg.sampler_args = value;
    else if (flag == "--scheduler")
      cfg.scheduler = value;
    else if (flag == "--scheduler-args")
      cfg.scheduler_args = value;
    else if (flag == "--steps")
      cfg.steps = std::atoi(value);
    else if (flag == "--cfg-scale")
      cfg.cfg_scale = std::atof(value);
    else if (flag == "--seed")
      cfg.seed = std::strtoull(value, nullptr, 10);
    else {
      std::fprintf(stderr, "sd_engine: unknown flag %s\n", argv[i - 1]);
      return false;
    }
  }
  return true;
}

int main(int argc, char** argv) {
  const stork::vp_discrete table = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);  // SD 1.x/2.x
  const std::vector<std::int64_t> shape{2, 4, 8, 8};  // a batch of 2 latents, 4 channels, 8×8
  const std::size_t dim = 4 * 8 * 8;
  const toy_unet unet(table, dim);
  tensor noise(shape);
  for (std::size_t i = 0; i < noise.data.size(); ++i)  // a deterministic stand-in for N(0, 1) draws
    noise.data[i] = static_cast<float>(1.7 * std::sin(12.9898 * static_cast<double>(i) + 0.5));

  settings cli;
  bool checks = argc == 1;  // no arguments: the built-in checks below
  if (!parse_command_line(argc, argv, cli, checks)) return 2;
  auto on_prompt = [&](const result& r) {
    bool ok = true;
    for (std::size_t j = 0; j < 2; ++j)
      for (std::size_t k = 1; k < 3; ++k)
        ok = ok && rms_distance(r.x, j, unet.mean(0)) < rms_distance(r.x, j, unet.mean(k));
    return ok;
  };
  if (!checks) {  // one generation with the strings given, as the engine's CLI runs it
    try {
      const result r = generate(unet, table, noise, cli, [](int, double, const tensor&) {});
      const bool ok = on_prompt(r) && r.tensors_while_stepping == 0;
      std::printf(
          "--sampling-method %s --scheduler %s --steps %d: %zu model calls, %zu UNet calls; every sample "
          "nearest the prompt's mean: %s; tensors made while stepping: %zu\n",
          cli.sampling_method.c_str(), cli.scheduler.c_str(), cli.steps, r.model_calls, r.unet_calls,
          on_prompt(r) ? "yes" : "no", r.tensors_while_stepping);
      return ok ? 0 : 1;
    } catch (const stork::error& e) {  // an unknown name or option: the message lists what is accepted
      std::fprintf(stderr, "sd_engine: %s\n", e.what());
      return 2;
    }
  }
  bool ok = true;

  // Guidance 1: the prompt's Gaussian N(μ₀, s²I). Exact: the flow map down to the last σ > 0, then the
  // last step x = x̂₀ there (no model call at σ = 0), x = μ₀ + s²/√((s² + σ_min²)(s² + σ_max²))·(x_T − μ₀).
  const double s = toy_unet::spread, lo = table.ve_sigma(0), hi = table.ve_sigma(999);
  const double c = s * s / std::sqrt((s * s + lo * lo) * (s * s + hi * hi));
  auto check_exact = [&](const char* name, double tolerance) {
    settings cfg;
    cfg.sampling_method = name;
    cfg.cfg_scale = 1.0;
    const result r = generate(unet, table, noise, cfg, [](int, double, const tensor&) {});
    double e = 0.0;
    for (std::size_t i = 0; i < r.x.data.size(); ++i) {
      const double m = unet.mean(0)[i % dim];
      e = std::max(e, std::abs(r.x.data[i] - (m + c * (noise.data[i] * hi - m))) / s);
    }
    std::printf(
        "  %-9s %2zu model calls (%2zu of them stage calls), %2zu UNet calls, max |x − exact|/s %.1e\n", name,
        r.model_calls, r.stage_calls, r.unet_calls, e);
    ok = ok && e < tolerance && r.tensors_while_stepping == 0;
  };
  std::printf(
      "latents [2, 4, 8, 8], karras_sigmas(20) over SD's table (σ %.4g to %.4g), an ε model as D(x, σ)\n", hi,
      lo);
  std::printf("guidance 1 (exact flow map known):\n");
  check_exact("dpm++2m", 0.05);
  check_exact("stork4", 0.005);
  check_exact("heun", 0.05);

  // x̂₀ starts at the prompt's mean and moves out to a sample of spread s = 0.5.
  std::printf("dpm++2m, guidance 7.5 for steps 1–15 then 1, a preview (x̂₀) every 5 steps:\n");
  settings guided;
  guided.cfg_until = 15;
  guided.preview_every = 5;
  const result r = generate(unet, table, noise, guided, [&](int step, double sigma, const tensor& x0) {
    std::printf("  step %2d, σ %6.3f: preview at rms distance %.3f from the prompt's mean\n", step, sigma,
                rms_distance(x0, 0, unet.mean(0)));
  });
  std::printf(
      "  %zu UNet calls; every sample nearest the prompt's mean: %s; tensors made while stepping: %zu\n",
      r.unet_calls, on_prompt(r) ? "yes" : "no", r.tensors_while_stepping);
  ok = ok && on_prompt(r) && r.unet_calls == 35 && r.tensors_while_stepping == 0;
  std::printf(ok ? "all checks passed\n" : "CHECK FAILED\n");
  return ok ? 0 : 1;
}
