/// @file
/// @brief Example code (not part of the library): the Fashion-MNIST networks — one time-conditioned
/// residual MLP (`time_mlp`) trained twice, as the ε-prediction model of Stable Diffusion's β table
/// (`eps_mlp`) and as the velocity model of a rectified flow (`velocity_mlp`), which the demos sample, and
/// the classifier whose penultimate features give the Fréchet distance — and the β table.
///
/// Both keep their weights in one flat `std::vector<float>` laid out as the weight file's tensor list (each
/// tensor row-major, biases as n×1), so that Adam and the EMA are loops over one array and save/load copy
/// it whole. Forward passes are Eigen, float, one sample per column; `gradient` is the hand-written
/// backward pass the trainers use.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <stork/detail/span.hpp>

#include "common.hpp"
#include "weights.hpp"

namespace fashion_mnist {

/// Training timesteps of the noise schedule.
inline constexpr int train_timesteps = 1000;

/// @brief Stable Diffusion's "scaled_linear" table: β_i = (√0.00085 + i/999·(√0.012 − √0.00085))²,
/// i = 0..999 (diffusers' `betas`; the same numbers as `stork::vp_discrete::scaled_linear(1000, 0.00085,
/// 0.012)`).
inline std::vector<double> sd_betas() {
  std::vector<double> b(train_timesteps);
  const double lo = std::sqrt(0.00085), hi = std::sqrt(0.012);
  for (int i = 0; i < train_timesteps; ++i) {
    const double r = lo + static_cast<double>(i) / (train_timesteps - 1) * (hi - lo);
    b[static_cast<std::size_t>(i)] = r * r;
  }
  return b;
}

/// ᾱ_i = Π_{j≤i}(1 − β_j) of `sd_betas` (diffusers' `alphas_cumprod`): x_i = √ᾱ_i·x₀ + √(1 − ᾱ_i)·ε.
inline std::vector<double> sd_alpha_bars() {
  std::vector<double> a = sd_betas();
  double acc = 1.0;
  for (double& v : a) v = acc *= 1.0 - v;
  return a;
}

namespace detail {
using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The flat parameter array seen as its tensors.
class flat_params {
 public:
  flat_params() = default;
  explicit flat_params(std::vector<tensor_spec> specs) : specs_(std::move(specs)) {
    for (const tensor_spec& s : specs_) {
      offsets_.push_back(total_);
      total_ += s.size();
    }
    values_.assign(total_, 0.0f);
  }
  Eigen::Map<const row_matrix> mat(std::size_t k) const { return mat_of(values_.data(), k); }
  Eigen::Map<const Eigen::VectorXf> vec(std::size_t k) const { return vec_of(values_.data(), k); }
  Eigen::Map<const row_matrix> mat_of(const float* base, std::size_t k) const {
    return {base + offsets_[k], specs_[k].rows, specs_[k].cols};
  }
  Eigen::Map<row_matrix> mat_of(float* base, std::size_t k) const {
    return {base + offsets_[k], specs_[k].rows, specs_[k].cols};
  }
  Eigen::Map<const Eigen::VectorXf> vec_of(const float* base, std::size_t k) const {
    return {base + offsets_[k], specs_[k].rows};
  }
  Eigen::Map<Eigen::VectorXf> vec_of(float* base, std::size_t k) const {
    return {base + offsets_[k], specs_[k].rows};
  }

  const std::vector<tensor_spec>& specs() const noexcept { return specs_; }
  std::vector<float>& values() noexcept { return values_; }
  const std::vector<float>& values() const noexcept { return values_; }

  /// LeCun-uniform weights (±√(3/fan_in)·gain), zero biases.
  void init(rng& g, const std::vector<float>& gains) {
    for (std::size_t k = 0; k < specs_.size(); ++k) {
      if (specs_[k].cols == 1) continue;  // bias
      const double r = gains[k] * std::sqrt(3.0 / specs_[k].cols);
      for (std::size_t i = 0; i < specs_[k].size(); ++i)
        values_[offsets_[k] + i] = static_cast<float>(r * (2.0 * g.uniform() - 1.0));
    }
  }

 private:
  std::vector<tensor_spec> specs_;
  std::vector<std::size_t> offsets_;
  std::size_t total_ = 0;
  std::vector<float> values_;
};

/// silu(z) = z·sigmoid(z).
inline Eigen::MatrixXf silu(const Eigen::MatrixXf& z) {
  return (z.array() / (1.0f + (-z.array()).exp())).matrix();
}
/// d silu/dz = s·(1 + z·(1 − s)), s = sigmoid(z).
inline Eigen::MatrixXf silu_grad(const Eigen::MatrixXf& z) {
  const Eigen::ArrayXXf s = 1.0f / (1.0f + (-z.array()).exp());
  return (s * (1.0f + z.array() * (1.0f - s))).matrix();
}

/// Config value `key`; throws stork::error naming the file if missing.
inline int config_value(const weight_file& w, const std::string& key, const std::string& source) {
  for (const auto& [k, v] : w.config)
    if (k == key) return v;
  fail("load_weights", source, "the config line has no '" + key + "'");
}
/// Throws unless the config has exactly `keys`.
inline void config_keys(const weight_file& w, const std::vector<std::string>& keys,
                        const std::string& source) {
  if (w.config.size() != keys.size())
    fail("load_weights", source,
         "the config line has " + std::to_string(w.config.size()) + " entries, expected " +
             std::to_string(keys.size()));
  for (const std::string& k : keys) config_value(w, k, source);
}
}  // namespace detail

/// The architecture of a `time_mlp` (its weight file's config line); the defaults are the committed models'.
struct time_mlp_config {
  int pixels = 196;
  int hidden = 384;
  int blocks = 3;
  int frequencies = 16;
  int max_frequency = 100;
  int embedding = 128;
};

/// @brief What a `time_mlp` was trained to predict: the ε of DDPM on Stable Diffusion's β table
/// (fashion_mnist_train_eps). Names the weight file's kind and the class in errors.
struct epsilon_target {
  static constexpr std::string_view kind = "eps-mlp";
  static constexpr std::string_view name = "eps_mlp";
};

/// @brief What a `time_mlp` was trained to predict: the velocity v = ε − x₀ of the rectified flow
/// x_σ = (1 − σ)·x₀ + σ·ε (fashion_mnist_train_flow).
struct velocity_target {
  static constexpr std::string_view kind = "velocity-mlp";
  static constexpr std::string_view name = "velocity_mlp";
};

/// @brief The time-conditioned network of both generative models: out(x, t) for images x (196 pixels)
/// and a continuous timestep t on the scale of 1000 training timesteps; `Target` says what `out` is (the
/// two models share architecture, code and weight format and differ in their training data and kind):
/// - `eps_mlp` (`time_mlp<epsilon_target>`): ε̂(x, t) for x in VP scaling (x = √ᾱ·x₀ + √(1 − ᾱ)·ε), trained
///   on t ∈ {0, …, 999};
/// - `velocity_mlp` (`time_mlp<velocity_target>`): v̂(x, t) ≈ E[ε − x₀ | x] for x = (1 − σ)·x₀ + σ·ε at
///   t = 1000·σ (`flow_timestep`, SD3's convention), trained on σ uniform in (0, 1).
/// Any finite t is accepted.
///
/// Architecture (residual MLP with a time embedding):
/// @code
/// s(t) = [sin(ω_k·t/1000), cos(ω_k·t/1000)]_{k<F},  ω_k = ω_max^{k/(F−1)}   (2F sinusoidal features)
/// e    = silu(temb.w·s + temb.b)                                             (embedding, E)
/// h    = in.w·x + in.b                                                       (residual stream, H)
/// for each block b:  h += fc2.w·silu(fc1.w·silu(h) + fc1.b + time.w·e) + fc2.b
/// out  = out.w·silu(h) + out.b                                               (ε̂ or v̂)
/// @endcode
/// The frequencies run from 1 to ω_max = `max_frequency` radians per unit of t/1000, so the fastest
/// feature turns by ω_max/1000 = 0.1 rad per timestep: s(t) is smooth on the scale of one timestep, and a
/// network trained on integer timesteps interpolates sensibly at the fractional timesteps the samplers use
/// (a DDPM-style embedding with frequencies up to 1 rad per timestep would alias between them).
///
/// As a sampler callback: `model(x, timestep, out)` on `Eigen::MatrixXf` or `Eigen::MatrixXd` batches
/// (pixels × n, one sample per column).
template <class Target>
class time_mlp {
 public:
  /// The weight file's kind ("eps-mlp", "velocity-mlp"): a file of the other kind is refused.
  static constexpr std::string_view kind = Target::kind;
  /// The architecture (one type for both models).
  using config = time_mlp_config;

  /// Zero weights. Throws stork::error for an invalid config.
  explicit time_mlp(const config& c) : cfg_(c) {
    if (const std::string why = config_problem(c); !why.empty())
      throw stork::error("stork: " + who() + ": " + why);
    p_ = detail::flat_params(layout(c));
  }

  /// Empty if valid, else what is wrong.
  static std::string config_problem(const config& c) {
    auto bad = [](const char* what, int v, const char* why) {
      return std::string(what) + " = " + std::to_string(v) + " is invalid (" + why + ")";
    };
    if (c.pixels < 1 || c.pixels > 4096) return bad("pixels", c.pixels, "needs 1 to 4096");
    if (c.hidden < 1 || c.hidden > 8192) return bad("hidden", c.hidden, "needs 1 to 8192");
    if (c.blocks < 0 || c.blocks > 64) return bad("blocks", c.blocks, "needs 0 to 64");
    if (c.frequencies < 2 || c.frequencies > 256) return bad("frequencies", c.frequencies, "needs 2 to 256");
    if (c.max_frequency < 1 || c.max_frequency > 100000)
      return bad("max_frequency", c.max_frequency, "needs 1 to 100000");
    if (c.embedding < 1 || c.embedding > 8192) return bad("embedding", c.embedding, "needs 1 to 8192");
    return {};
  }

  /// The tensors, in file order.
  static std::vector<tensor_spec> layout(const config& c) {
    std::vector<tensor_spec> s{{"temb.w", c.embedding, 2 * c.frequencies},
                               {"temb.b", c.embedding, 1},
                               {"in.w", c.hidden, c.pixels},
                               {"in.b", c.hidden, 1}};
    for (int b = 1; b <= c.blocks; ++b) {
      const std::string n = "block" + std::to_string(b);
      s.push_back({n + ".time.w", c.hidden, c.embedding});
      s.push_back({n + ".fc1.w", c.hidden, c.hidden});
      s.push_back({n + ".fc1.b", c.hidden, 1});
      s.push_back({n + ".fc2.w", c.hidden, c.hidden});
      s.push_back({n + ".fc2.b", c.hidden, 1});
    }
    s.push_back({"out.w", c.pixels, c.hidden});
    s.push_back({"out.b", c.pixels, 1});
    return s;
  }

  /// Fresh weights (fixed seed): LeCun-uniform, the second layer of each block at half gain.
  static time_mlp random(const config& c, std::uint64_t seed) {
    time_mlp m(c);
    std::vector<float> gains(m.p_.specs().size(), 1.0f);
    const std::string fc2 = ".fc2.w";
    for (std::size_t k = 0; k < gains.size(); ++k) {
      const std::string& n = m.p_.specs()[k].name;
      if (n.size() >= fc2.size() && n.compare(n.size() - fc2.size(), fc2.size(), fc2) == 0) gains[k] = 0.5f;
    }
    rng g(seed);
    m.p_.init(g, gains);
    return m;
  }

  const config& cfg() const noexcept { return cfg_; }
  std::vector<float>& params() noexcept { return p_.values(); }
  const std::vector<float>& params() const noexcept { return p_.values(); }
  std::size_t parameter_count() const noexcept { return p_.values().size(); }

  /// The angular frequencies ω_k (radians per unit of t/1000).
  std::vector<double> frequencies() const {
    std::vector<double> w(static_cast<std::size_t>(cfg_.frequencies));
    for (int k = 0; k < cfg_.frequencies; ++k)
      w[static_cast<std::size_t>(k)] =
          std::pow(static_cast<double>(cfg_.max_frequency), static_cast<double>(k) / (cfg_.frequencies - 1));
    return w;
  }

  /// The sinusoidal features s(t) of each timestep (2F × n).
  Eigen::MatrixXf time_features(stork::span<const double> t) const {
    const std::vector<double> w = frequencies();
    Eigen::MatrixXf s(2 * cfg_.frequencies, static_cast<Eigen::Index>(t.size()));
    for (std::size_t j = 0; j < t.size(); ++j)
      for (std::size_t k = 0; k < w.size(); ++k) {
        const double a = w[k] * t[j] / train_timesteps;
        s(static_cast<Eigen::Index>(2 * k), static_cast<Eigen::Index>(j)) = static_cast<float>(std::sin(a));
        s(static_cast<Eigen::Index>(2 * k + 1), static_cast<Eigen::Index>(j)) =
            static_cast<float>(std::cos(a));
      }
    return s;
  }

  /// @brief The sampler callback: ε̂ or v̂ (x, timestep) for every column of x (pixels × n) into out (resized).
  /// Throws stork::error for a wrong number of rows or a non-finite timestep.
  void operator()(const Eigen::MatrixXf& x, double timestep, Eigen::MatrixXf& out) const {
    check(x.rows(), timestep);
    out = run(x, time_features(stork::span<const double>(&timestep, 1)), nullptr);
  }
  /// Same for double states (computed in float).
  void operator()(const Eigen::MatrixXd& x, double timestep, Eigen::MatrixXd& out) const {
    check(x.rows(), timestep);
    out = run(x.cast<float>(), time_features(stork::span<const double>(&timestep, 1)), nullptr)
              .template cast<double>();
  }

  /// The output for a batch with one timestep per column.
  Eigen::MatrixXf predict(const Eigen::MatrixXf& x, stork::span<const double> timesteps) const {
    if (static_cast<Eigen::Index>(timesteps.size()) != x.cols())
      stork::detail::fail(who(), "timesteps.size()", timesteps.size(), "needs one per column of x");
    for (double t : timesteps) check(x.rows(), t);
    return run(x, time_features(timesteps), nullptr);
  }

  /// Mean over all entries of (out(x, t) − target)², evaluated in chunks of 1000 columns.
  double loss(const Eigen::MatrixXf& x, stork::span<const double> timesteps,
              const Eigen::MatrixXf& target) const {
    double sum = 0.0;
    for (Eigen::Index j = 0; j < x.cols(); j += 1000) {
      const Eigen::Index n = std::min<Eigen::Index>(1000, x.cols() - j);
      const Eigen::MatrixXf e = predict(
          x.middleCols(j, n), timesteps.subspan(static_cast<std::size_t>(j), static_cast<std::size_t>(n)));
      sum += static_cast<double>((e - target.middleCols(j, n)).squaredNorm());
    }
    return sum / static_cast<double>(x.size());
  }

  /// @brief Loss (as `loss`) and its gradient with respect to every parameter (`grad`, resized, laid out
  /// as `params()`), by backpropagation.
  double gradient(const Eigen::MatrixXf& x, stork::span<const double> timesteps,
                  const Eigen::MatrixXf& target, std::vector<float>& grad) const {
    cache c;
    const Eigen::MatrixXf s = time_features(timesteps);
    const Eigen::MatrixXf out = run(x, s, &c);
    const auto B = static_cast<std::size_t>(cfg_.blocks);
    const Eigen::MatrixXf r = out - target;
    const double loss = static_cast<double>(r.squaredNorm()) / static_cast<double>(r.size());
    grad.assign(p_.values().size(), 0.0f);
    float* g = grad.data();
    Eigen::MatrixXf d = (2.0f / static_cast<float>(r.size())) * r;
    const std::size_t out_w = p_.specs().size() - 2;
    p_.mat_of(g, out_w).noalias() = d * c.a_last.transpose();
    p_.vec_of(g, out_w + 1) = d.rowwise().sum();
    Eigen::MatrixXf dh = (p_.mat(out_w).transpose() * d).cwiseProduct(detail::silu_grad(c.h[B]));
    Eigen::MatrixXf de = Eigen::MatrixXf::Zero(cfg_.embedding, x.cols());
    for (std::size_t b = B; b-- > 0;) {
      const std::size_t k = 4 + 5 * b;  // time.w, fc1.w, fc1.b, fc2.w, fc2.b
      p_.mat_of(g, k + 3).noalias() = dh * c.u[b].transpose();
      p_.vec_of(g, k + 4) = dh.rowwise().sum();
      const Eigen::MatrixXf dz = (p_.mat(k + 3).transpose() * dh).cwiseProduct(detail::silu_grad(c.z[b]));
      p_.mat_of(g, k + 1).noalias() = dz * c.a[b].transpose();
      p_.vec_of(g, k + 2) = dz.rowwise().sum();
      p_.mat_of(g, k).noalias() = dz * c.e.transpose();
      de.noalias() += p_.mat(k).transpose() * dz;
      dh += (p_.mat(k + 1).transpose() * dz).cwiseProduct(detail::silu_grad(c.h[b]));
    }
    p_.mat_of(g, 2).noalias() = dh * x.transpose();
    p_.vec_of(g, 3) = dh.rowwise().sum();
    const Eigen::MatrixXf dze = de.cwiseProduct(detail::silu_grad(c.ze));
    p_.mat_of(g, 0).noalias() = dze * s.transpose();
    p_.vec_of(g, 1) = dze.rowwise().sum();
    return loss;
  }

  /// Writes the weight file (weights.hpp). Throws stork::error.
  void save(const std::filesystem::path& path) const {
    save_weights(path, {std::string(kind),
                        {{"pixels", cfg_.pixels},
                         {"hidden", cfg_.hidden},
                         {"blocks", cfg_.blocks},
                         {"frequencies", cfg_.frequencies},
                         {"max_frequency", cfg_.max_frequency},
                         {"embedding", cfg_.embedding}},
                        p_.specs(),
                        p_.values()});
  }

  /// Reads a weight file of this kind (eps-mlp or velocity-mlp): format, checksum, and the tensor names and
  /// shapes against the architecture its config line describes. Throws stork::error naming the file and the
  /// problem.
  static time_mlp load(const std::filesystem::path& path) {
    weight_file w = load_weights(path, kind);
    const std::string src = path.string();
    detail::config_keys(w, {"pixels", "hidden", "blocks", "frequencies", "max_frequency", "embedding"}, src);
    const config c{detail::config_value(w, "pixels", src),        detail::config_value(w, "hidden", src),
                   detail::config_value(w, "blocks", src),        detail::config_value(w, "frequencies", src),
                   detail::config_value(w, "max_frequency", src), detail::config_value(w, "embedding", src)};
    if (const std::string why = config_problem(c); !why.empty())
      fail("load_weights", src, "bad config: " + why);
    if (const std::string why = tensor_mismatch(w.tensors, layout(c)); !why.empty())
      fail("load_weights", src, "wrong shapes: " + why);
    time_mlp m(c);
    m.p_.values() = std::move(w.data);
    return m;
  }

 private:
  struct cache {
    Eigen::MatrixXf ze, e, a_last;
    std::vector<Eigen::MatrixXf> h, a, z, u;
  };

  /// "fashion_mnist::eps_mlp" or "fashion_mnist::velocity_mlp", for errors.
  static std::string who() { return "fashion_mnist::" + std::string(Target::name); }

  void check(Eigen::Index rows, double t) const {
    if (rows != cfg_.pixels)
      stork::detail::fail(who(), "x.rows()", static_cast<long long>(rows),
                          "the model takes " + std::to_string(cfg_.pixels) + " pixels per column");
    if (!std::isfinite(t)) stork::detail::fail(who(), "timestep", t, "needs a finite timestep");
  }

  /// The forward pass; s has one column (shared by all samples) or one per sample. Fills `c` if given.
  Eigen::MatrixXf run(const Eigen::MatrixXf& x, const Eigen::MatrixXf& s, cache* c) const {
    Eigen::MatrixXf ze = p_.mat(0) * s;
    ze.colwise() += p_.vec(1);
    Eigen::MatrixXf e = detail::silu(ze);
    Eigen::MatrixXf h = p_.mat(2) * x;
    h.colwise() += p_.vec(3);
    for (std::size_t b = 0; b < static_cast<std::size_t>(cfg_.blocks); ++b) {
      const std::size_t k = 4 + 5 * b;
      Eigen::MatrixXf a = detail::silu(h);
      Eigen::MatrixXf z = p_.mat(k + 1) * a;
      z.colwise() += p_.vec(k + 2);
      if (s.cols() == 1) {
        z.colwise() += (p_.mat(k) * e).col(0);
      } else {
        z.noalias() += p_.mat(k) * e;
      }
      Eigen::MatrixXf u = detail::silu(z);
      if (c != nullptr) {
        c->h.push_back(h);
        c->a.push_back(std::move(a));
        c->z.push_back(std::move(z));
      }
      h.noalias() += p_.mat(k + 3) * u;
      h.colwise() += p_.vec(k + 4);
      if (c != nullptr) c->u.push_back(std::move(u));
    }
    const std::size_t o = p_.specs().size() - 2;
    Eigen::MatrixXf a_last = detail::silu(h);
    Eigen::MatrixXf out = p_.mat(o) * a_last;
    out.colwise() += p_.vec(o + 1);
    if (c != nullptr) {
      c->h.push_back(std::move(h));
      c->ze = std::move(ze);
      c->e = std::move(e);
      c->a_last = std::move(a_last);
    }
    return out;
  }

  config cfg_;
  detail::flat_params p_;
};

/// The ε-prediction model (fashion_mnist_train_eps, eps_weights.bin).
using eps_mlp = time_mlp<epsilon_target>;
/// The rectified-flow velocity model (fashion_mnist_train_flow, velocity_weights.bin).
using velocity_mlp = time_mlp<velocity_target>;

/// The velocity model's timestep at flow time σ ∈ [0, 1]: 1000·σ (SD3's transformer convention).
inline double flow_timestep(double sigma) { return sigma * train_timesteps; }

/// @brief The feature extractor of the Fréchet distance: an MLP classifier
/// logits = out.w·silu(fc2.w·silu(fc1.w·x + fc1.b) + fc2.b) + out.b on model-space images (pixels in
/// [−1, 1]); its penultimate activations silu(fc2·…) are the features.
class classifier {
 public:
  static constexpr std::string_view kind = "classifier-mlp";
  struct config {
    int pixels = 196;
    int hidden1 = 512;
    int hidden2 = 128;
    int classes = 10;
  };

  explicit classifier(const config& c) : cfg_(c) {
    if (const std::string why = config_problem(c); !why.empty())
      throw stork::error("stork: fashion_mnist::classifier: " + why);
    p_ = detail::flat_params(layout(c));
  }

  static std::string config_problem(const config& c) {
    for (const auto& [what, v] : {std::pair{"pixels", c.pixels}, std::pair{"hidden1", c.hidden1},
                                  std::pair{"hidden2", c.hidden2}, std::pair{"classes", c.classes}})
      if (v < 1 || v > 8192)
        return std::string(what) + " = " + std::to_string(v) + " is invalid (needs 1 to 8192)";
    return {};
  }

  static std::vector<tensor_spec> layout(const config& c) {
    return {{"fc1.w", c.hidden1, c.pixels}, {"fc1.b", c.hidden1, 1},         {"fc2.w", c.hidden2, c.hidden1},
            {"fc2.b", c.hidden2, 1},        {"out.w", c.classes, c.hidden2}, {"out.b", c.classes, 1}};
  }

  static classifier random(const config& c, std::uint64_t seed) {
    classifier m(c);
    rng g(seed);
    m.p_.init(g, std::vector<float>(6, 1.0f));
    return m;
  }

  const config& cfg() const noexcept { return cfg_; }
  std::vector<float>& params() noexcept { return p_.values(); }
  const std::vector<float>& params() const noexcept { return p_.values(); }
  std::size_t parameter_count() const noexcept { return p_.values().size(); }

  /// Penultimate features (hidden2 × n) of images x (pixels × n).
  Eigen::MatrixXf features(const Eigen::MatrixXf& x) const {
    check(x.rows());
    Eigen::MatrixXf z1 = p_.mat(0) * x;
    z1.colwise() += p_.vec(1);
    Eigen::MatrixXf z2 = p_.mat(2) * detail::silu(z1);
    z2.colwise() += p_.vec(3);
    return detail::silu(z2);
  }
  /// Logits (classes × n).
  Eigen::MatrixXf logits(const Eigen::MatrixXf& x) const {
    Eigen::MatrixXf l = p_.mat(4) * features(x);
    l.colwise() += p_.vec(5);
    return l;
  }
  /// The most likely class of each column.
  std::vector<int> predict(const Eigen::MatrixXf& x) const {
    const Eigen::MatrixXf l = logits(x);
    std::vector<int> c(static_cast<std::size_t>(l.cols()));
    for (Eigen::Index j = 0; j < l.cols(); ++j) {
      Eigen::Index best = 0;
      l.col(j).maxCoeff(&best);
      c[static_cast<std::size_t>(j)] = static_cast<int>(best);
    }
    return c;
  }
  /// Fraction of columns classified as their label.
  double accuracy(const Eigen::MatrixXf& x, stork::span<const std::uint8_t> labels) const {
    std::size_t right = 0;
    for (Eigen::Index j = 0; j < x.cols(); j += 1000) {
      const Eigen::Index n = std::min<Eigen::Index>(1000, x.cols() - j);
      const std::vector<int> p = predict(x.middleCols(j, n));
      for (std::size_t i = 0; i < p.size(); ++i) right += p[i] == labels[static_cast<std::size_t>(j) + i];
    }
    return static_cast<double>(right) / static_cast<double>(x.cols());
  }

  /// Mean cross-entropy of the batch and its gradient (`grad`, resized, laid out as `params()`).
  double gradient(const Eigen::MatrixXf& x, stork::span<const std::uint8_t> labels,
                  std::vector<float>& grad) const {
    check(x.rows());
    const auto n = static_cast<float>(x.cols());
    Eigen::MatrixXf z1 = p_.mat(0) * x;
    z1.colwise() += p_.vec(1);
    const Eigen::MatrixXf a1 = detail::silu(z1);
    Eigen::MatrixXf z2 = p_.mat(2) * a1;
    z2.colwise() += p_.vec(3);
    const Eigen::MatrixXf a2 = detail::silu(z2);
    Eigen::MatrixXf l = p_.mat(4) * a2;
    l.colwise() += p_.vec(5);
    double loss = 0.0;
    for (Eigen::Index j = 0; j < l.cols(); ++j) {  // softmax − one-hot, stabilised by the max
      const float m = l.col(j).maxCoeff();
      l.col(j) = (l.col(j).array() - m).exp().matrix();
      const float sum = l.col(j).sum();
      l.col(j) /= sum;
      const auto y = static_cast<Eigen::Index>(labels[static_cast<std::size_t>(j)]);
      loss -= std::log(static_cast<double>(std::max(l(y, j), 1e-30f)));
      l(y, j) -= 1.0f;
    }
    grad.assign(p_.values().size(), 0.0f);
    float* g = grad.data();
    const Eigen::MatrixXf d3 = l / n;
    p_.mat_of(g, 4).noalias() = d3 * a2.transpose();
    p_.vec_of(g, 5) = d3.rowwise().sum();
    const Eigen::MatrixXf d2 = (p_.mat(4).transpose() * d3).cwiseProduct(detail::silu_grad(z2));
    p_.mat_of(g, 2).noalias() = d2 * a1.transpose();
    p_.vec_of(g, 3) = d2.rowwise().sum();
    const Eigen::MatrixXf d1 = (p_.mat(2).transpose() * d2).cwiseProduct(detail::silu_grad(z1));
    p_.mat_of(g, 0).noalias() = d1 * x.transpose();
    p_.vec_of(g, 1) = d1.rowwise().sum();
    return loss / static_cast<double>(n);
  }

  void save(const std::filesystem::path& path) const {
    save_weights(path, {std::string(kind),
                        {{"pixels", cfg_.pixels},
                         {"hidden1", cfg_.hidden1},
                         {"hidden2", cfg_.hidden2},
                         {"classes", cfg_.classes}},
                        p_.specs(),
                        p_.values()});
  }

  static classifier load(const std::filesystem::path& path) {
    weight_file w = load_weights(path, kind);
    const std::string src = path.string();
    detail::config_keys(w, {"pixels", "hidden1", "hidden2", "classes"}, src);
    const config c{detail::config_value(w, "pixels", src), detail::config_value(w, "hidden1", src),
                   detail::config_value(w, "hidden2", src), detail::config_value(w, "classes", src)};
    if (const std::string why = config_problem(c); !why.empty())
      fail("load_weights", src, "bad config: " + why);
    if (const std::string why = tensor_mismatch(w.tensors, layout(c)); !why.empty())
      fail("load_weights", src, "wrong shapes: " + why);
    classifier m(c);
    m.p_.values() = std::move(w.data);
    return m;
  }

 private:
  void check(Eigen::Index rows) const {
    if (rows != cfg_.pixels)
      stork::detail::fail("fashion_mnist::classifier", "x.rows()", static_cast<long long>(rows),
                          "the classifier takes " + std::to_string(cfg_.pixels) + " pixels per column");
  }

  config cfg_;
  detail::flat_params p_;
};

/// @brief Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8) on a flat parameter array, with an optional exponential
/// moving average of the weights.
class adam {
 public:
  explicit adam(std::size_t n) : m_(n, 0.0f), v_(n, 0.0f) {}
  /// One step with learning rate `lr`; `clip` > 0 rescales the gradient to at most that global norm.
  /// Returns the gradient norm before clipping.
  double step(std::vector<float>& params, std::vector<float>& grad, double lr, double clip = 0.0) {
    ++t_;
    double norm2 = 0.0;
    for (float g : grad) norm2 += static_cast<double>(g) * g;
    const double norm = std::sqrt(norm2);
    const float scale = clip > 0.0 && norm > clip ? static_cast<float>(clip / norm) : 1.0f;
    const auto bc1 = static_cast<float>(1.0 - std::pow(0.9, t_)),
               bc2 = static_cast<float>(1.0 - std::pow(0.999, t_));
    const auto step_size = static_cast<float>(lr) / bc1;
    const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
    Eigen::Map<Eigen::ArrayXf> p(params.data(), static_cast<Eigen::Index>(params.size())),
        g(grad.data(), static_cast<Eigen::Index>(grad.size())),
        m(m_.data(), static_cast<Eigen::Index>(m_.size())),
        v(v_.data(), static_cast<Eigen::Index>(v_.size()));
    g *= scale;
    m = 0.9f * m + 0.1f * g;
    v = 0.999f * v + 0.001f * g.square();
    p -= step_size * m / (v.sqrt() * inv_sqrt_bc2 + 1e-8f);
    return norm;
  }

 private:
  std::vector<float> m_, v_;
  int t_ = 0;
};

/// ema ← decay·ema + (1 − decay)·params.
inline void ema_update(std::vector<float>& ema, const std::vector<float>& params, double decay) {
  Eigen::Map<Eigen::ArrayXf> e(ema.data(), static_cast<Eigen::Index>(ema.size()));
  Eigen::Map<const Eigen::ArrayXf> p(params.data(), static_cast<Eigen::Index>(params.size()));
  const auto d = static_cast<float>(decay);
  e = d * e + (1.0f - d) * p;
}

}  // namespace fashion_mnist
