/// @file
/// @brief Example code (not part of the library): a small MLP velocity field trained by flow matching on
/// the two-moons data set, its text weight format, the loader and the data generator.
///
/// The model: v(x, σ) = W3·silu(W2·silu(W1·[x; e(σ)] + b1) + b2) + b3 with the time embedding
/// e(σ) = (cos πσ, sin πσ, cos 2πσ, sin 2πσ, …) of `frequencies` pairs. It is a rectified-flow velocity
/// (x_σ = (1−σ)x₀ + σε, dx/dσ = ε − x₀), called on a batch stored as one Eigen matrix, one sample per
/// column: exactly the shape `stork::integrate` and `stork::make_scheduler` take with <stork/eigen.hpp>.
///
/// Weight file (text, written by `model::save`, read by `model::load`):
/// @code
/// stork-flow-mlp v1 frequencies 4 activation silu layers 3 10x64 64x64 64x2
/// weight 1 64 10        <- then 64 lines of 10 numbers (row r of W1 on line r)
/// bias 1 64             <- then one line of 64 numbers
/// weight 2 64 64
/// ...
/// @endcode
/// The header gives each layer as inputs x outputs (10x64: 10 inputs, 64 outputs); a `weight` line gives
/// rows (outputs) then columns (inputs). Everything wrong with a file (missing, bad header, shapes that do
/// not chain from 2 + 2·frequencies inputs to 2 outputs, truncated, non-numeric or non-finite numbers, extra
/// content) throws `stork::error` naming the file, the line and what is wrong.
#pragma once

#include <stork/error.hpp>

#include <Eigen/Core>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <istream>
#include <numbers>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace flow_mlp {

/// @brief Deterministic random numbers (splitmix64 + Box–Muller): the same stream on every platform,
/// unlike `std::normal_distribution`.
class rng {
 public:
  explicit rng(std::uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in (0, 1).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  /// Standard normal.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform())), th = 2.0 * std::numbers::pi * uniform();
    spare_ = r * std::sin(th);
    has_spare_ = true;
    return r * std::cos(th);
  }
  /// A 2×n matrix of standard normals.
  Eigen::MatrixXd normal_matrix(Eigen::Index rows, Eigen::Index cols) {
    Eigen::MatrixXd m(rows, cols);
    for (Eigen::Index j = 0; j < cols; ++j)
      for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = normal();
    return m;
  }

 private:
  std::uint64_t s_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

/// Gaussian jitter of the two-moons points.
inline constexpr double moons_noise = 0.05;

/// @brief n points of the two-moons data set (scikit-learn's construction: the upper moon (cos θ, sin θ),
/// the lower one (1 − cos θ, ½ − sin θ), θ ~ U(0, π), each point on either moon with probability ½, plus
/// N(0, 0.05²) jitter), shifted by (−½, −¼) so the data are centred. Returns a 2×n matrix.
inline Eigen::MatrixXd two_moons(Eigen::Index n, rng& g) {
  Eigen::MatrixXd x(2, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    const double th = std::numbers::pi * g.uniform();
    const bool lower = g.uniform() < 0.5;
    const double px = lower ? 1.0 - std::cos(th) : std::cos(th);
    const double py = lower ? 0.5 - std::sin(th) : std::sin(th);
    x(0, j) = px - 0.5 + moons_noise * g.normal();
    x(1, j) = py - 0.25 + moons_noise * g.normal();
  }
  return x;
}

/// Same, from a seed.
inline Eigen::MatrixXd two_moons(Eigen::Index n, std::uint64_t seed) {
  rng g(seed);
  return two_moons(n, g);
}

/// One dense layer, y = w·x + b (w is out×in).
struct layer {
  Eigen::MatrixXd w;
  Eigen::VectorXd b;
};

inline double silu(double z) { return z / (1.0 + std::exp(-z)); }
/// d silu / dz.
inline double silu_grad(double z) {
  const double s = 1.0 / (1.0 + std::exp(-z));
  return s * (1.0 + z * (1.0 - s));
}

/// @brief The MLP velocity field. Callable as `f(x, sigma, v)` on 2×n Eigen matrices (a
/// `stork::VelocityField` for `Eigen::MatrixXd`).
/// @par Cost: one call is 3 matrix products (≈ 2·(10·64 + 64·64 + 64·2) ≈ 9.7k flops per sample with
/// the committed shapes); with a `workspace` it allocates nothing after the first call.
class model {
 public:
  /// Checks the shapes: at least 2 layers, the first taking 2 + 2·frequencies inputs, each next one
  /// taking the previous one's outputs, the last giving 2. Throws stork::error.
  model(int frequencies, std::vector<layer> layers) : freq_(frequencies), layers_(std::move(layers)) {
    const std::string why = shape_problem(freq_, layers_);
    if (!why.empty()) throw stork::error("stork: flow_mlp::model: " + why);
  }

  /// Empty if the shapes are valid, else "what = value is invalid (why)".
  static std::string shape_problem(int frequencies, const std::vector<layer>& layers) {
    auto bad = [](const std::string& what, const std::string& value, const std::string& why) {
      return what + " = " + value + " is invalid (" + why + ")";
    };
    if (frequencies < 0 || frequencies > 64)
      return bad("frequencies", std::to_string(frequencies), "needs 0 <= frequencies <= 64");
    if (layers.size() < 2) return bad("layers", std::to_string(layers.size()), "needs at least 2 layers");
    Eigen::Index in = input_dim(frequencies);
    for (std::size_t k = 0; k < layers.size(); ++k) {
      const layer& l = layers[k];
      const std::string id = "layer " + std::to_string(k + 1) + " shape (in x out)";
      const std::string got = std::to_string(l.w.cols()) + "x" + std::to_string(l.w.rows());
      if (l.w.cols() != in)
        return bad(id, got,
                   "expected " + std::to_string(in) + " inputs" +
                       (k == 0 ? " = 2 + 2 x " + std::to_string(frequencies) + " frequencies" : ""));
      if (l.w.rows() < 1) return bad(id, got, "needs at least one output");
      if (l.b.size() != l.w.rows())
        return bad(id, got, "bias has " + std::to_string(l.b.size()) + " entries");
      in = l.w.rows();
    }
    if (in != 2)
      return bad("output size", std::to_string(in), "the velocity of a 2-D point has 2 components");
    return {};
  }

  /// Network inputs for a batch: rows 0–1 the point, then cos(kπσ), sin(kπσ) for k = 1..frequencies.
  static Eigen::Index input_dim(int frequencies) { return 2 + 2 * frequencies; }

  /// Input features for points x (2×n) at per-sample times sigma (n).
  Eigen::MatrixXd features(const Eigen::MatrixXd& x, const Eigen::VectorXd& sigma) const {
    Eigen::MatrixXd in(input_dim(freq_), x.cols());
    in.topRows(2) = x;
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      for (int k = 1; k <= freq_; ++k) {
        const double a = k * std::numbers::pi * sigma(j);
        in(2 * k, j) = std::cos(a);
        in(2 * k + 1, j) = std::sin(a);
      }
    return in;
  }

  /// Activations reused between calls (so that a sampling loop does not allocate).
  struct workspace {
    Eigen::MatrixXd in, a, z;
  };

  /// The velocity dx/dσ at (x, σ) for a batch x (2×n) into v, reusing `w`'s buffers.
  void operator()(const Eigen::MatrixXd& x, double sigma, Eigen::MatrixXd& v, workspace& w) const {
    w.in.resize(input_dim(freq_), x.cols());
    w.in.topRows(2) = x;
    for (int k = 1; k <= freq_; ++k) {
      const double a = k * std::numbers::pi * sigma;
      w.in.row(2 * k).setConstant(std::cos(a));
      w.in.row(2 * k + 1).setConstant(std::sin(a));
    }
    const Eigen::MatrixXd* a = &w.in;
    for (std::size_t k = 0; k + 1 < layers_.size(); ++k) {
      w.z.noalias() = layers_[k].w * *a;
      w.z.colwise() += layers_[k].b;
      w.z.array() /= 1.0 + (-w.z.array()).exp();  // silu, vectorised
      w.a.swap(w.z);
      a = &w.a;
    }
    v.noalias() = layers_.back().w * *a;
    v.colwise() += layers_.back().b;
  }

  /// Same, allocating its activations (a `stork::VelocityField` for `Eigen::MatrixXd`).
  void operator()(const Eigen::MatrixXd& x, double sigma, Eigen::MatrixXd& v) const {
    workspace w;
    (*this)(x, sigma, v, w);
  }

  /// The network on prepared features (input_dim × n).
  Eigen::MatrixXd forward(const Eigen::MatrixXd& in) const {
    Eigen::MatrixXd a = in;
    for (std::size_t k = 0; k < layers_.size(); ++k) {
      Eigen::MatrixXd z = layers_[k].w * a;
      z.colwise() += layers_[k].b;
      if (k + 1 < layers_.size()) z.array() /= 1.0 + (-z.array()).exp();  // silu, vectorised
      a = std::move(z);
    }
    return a;
  }

  int frequencies() const noexcept { return freq_; }
  const std::vector<layer>& layers() const noexcept { return layers_; }
  std::vector<layer>& layers() noexcept { return layers_; }
  /// Number of weights and biases.
  Eigen::Index parameter_count() const {
    Eigen::Index n = 0;
    for (const layer& l : layers_) n += l.w.size() + l.b.size();
    return n;
  }

  /// Writes the text format described in the file comment (9 significant digits: float precision is
  /// kept exactly).
  void save(std::ostream& os) const {
    os << "stork-flow-mlp v1 frequencies " << freq_ << " activation silu layers " << layers_.size();
    for (const layer& l : layers_) os << ' ' << l.w.cols() << 'x' << l.w.rows();
    os << '\n';
    char buf[32];
    auto put = [&](double d, bool last) {
      std::snprintf(buf, sizeof buf, "%.9g", d);
      os << buf << (last ? '\n' : ' ');
    };
    for (std::size_t k = 0; k < layers_.size(); ++k) {
      const layer& l = layers_[k];
      os << "weight " << k + 1 << ' ' << l.w.rows() << ' ' << l.w.cols() << '\n';
      for (Eigen::Index r = 0; r < l.w.rows(); ++r)
        for (Eigen::Index c = 0; c < l.w.cols(); ++c) put(l.w(r, c), c + 1 == l.w.cols());
      os << "bias " << k + 1 << ' ' << l.b.size() << '\n';
      for (Eigen::Index r = 0; r < l.b.size(); ++r) put(l.b(r), r + 1 == l.b.size());
    }
  }

  /// Reads the text format; `source` names the stream in error messages. Throws stork::error.
  static model load(std::istream& is, const std::string& source = "stream") {
    reader rd{is, source};
    const std::vector<std::string> head = rd.tokens("the header line");
    auto header_fail = [&](const std::string& why) {
      rd.fail("bad header '" + rd.line_text + "' (" + why +
              "; expected 'stork-flow-mlp v1 frequencies K activation silu layers N IxO ...')");
    };
    if (head.empty() || head[0] != "stork-flow-mlp") header_fail("not a stork-flow-mlp weight file");
    if (head.size() < 2 || head[1] != "v1") header_fail("unsupported version");
    if (head.size() < 8 || head[2] != "frequencies" || head[4] != "activation" || head[6] != "layers")
      header_fail("missing fields");
    if (head[5] != "silu") header_fail("unsupported activation '" + head[5] + "'");
    const int freq = rd.integer(head[3], "frequencies");
    const int count = rd.integer(head[7], "layers");
    if (count < 2 || count > 64) rd.fail("layers = " + head[7] + " is invalid (needs 2 to 64 layers)");
    if (head.size() != 8 + static_cast<std::size_t>(count))
      header_fail("expected " + std::to_string(count) + " shapes, found " + std::to_string(head.size() - 8));
    std::vector<std::pair<int, int>> shape;  // (in, out)
    for (int k = 0; k < count; ++k) {
      const std::string& s = head[8 + static_cast<std::size_t>(k)];
      const std::size_t xpos = s.find('x');
      if (xpos == std::string::npos) header_fail("shape '" + s + "' is not IxO");
      const int i = rd.integer(s.substr(0, xpos), "layer " + std::to_string(k + 1) + " inputs");
      const int o = rd.integer(s.substr(xpos + 1), "layer " + std::to_string(k + 1) + " outputs");
      if (i < 1 || o < 1 || i > 4096 || o > 4096)
        header_fail("shape '" + s + "' out of range (1 to 4096 per dimension)");
      shape.emplace_back(i, o);
    }
    // Check the chain before reading numbers, so a wrong architecture is reported as such.
    std::vector<layer> layers(static_cast<std::size_t>(count));
    for (int k = 0; k < count; ++k) {
      const auto [i, o] = shape[static_cast<std::size_t>(k)];
      layers[static_cast<std::size_t>(k)].w = Eigen::MatrixXd::Zero(o, i);
      layers[static_cast<std::size_t>(k)].b = Eigen::VectorXd::Zero(o);
    }
    if (const std::string why = shape_problem(freq, layers); !why.empty()) rd.fail("wrong shapes: " + why);
    for (int k = 0; k < count; ++k) {
      layer& l = layers[static_cast<std::size_t>(k)];
      const std::string n = std::to_string(k + 1);
      rd.expect_tag({"weight", n, std::to_string(l.w.rows()), std::to_string(l.w.cols())});
      for (Eigen::Index r = 0; r < l.w.rows(); ++r) {
        const std::vector<double> row =
            rd.numbers(l.w.cols(), "row " + std::to_string(r + 1) + " of weight " + n);
        for (Eigen::Index c = 0; c < l.w.cols(); ++c) l.w(r, c) = row[static_cast<std::size_t>(c)];
      }
      rd.expect_tag({"bias", n, std::to_string(l.b.size())});
      const std::vector<double> b = rd.numbers(l.b.size(), "bias " + n);
      for (Eigen::Index r = 0; r < l.b.size(); ++r) l.b(r) = b[static_cast<std::size_t>(r)];
    }
    std::string rest;
    while (std::getline(is, rest)) {
      ++rd.line_no;
      if (rest.find_first_not_of(" \t\r") != std::string::npos)
        rd.fail("unexpected content after the last layer: '" + rest.substr(0, 40) + "'");
    }
    return model(freq, std::move(layers));
  }

  /// Reads a weight file. Throws stork::error if it cannot be opened or is not a valid weight file.
  static model load(const std::filesystem::path& path) {
    std::ifstream is(path);
    if (!is)
      throw stork::error("stork: flow_mlp::load: file = '" + path.string() + "' is invalid (cannot open it)");
    return load(is, path.string());
  }

 private:
  /// Line-by-line tokenizer with error messages that name the source and the line.
  struct reader {
    std::istream& is;
    std::string source;
    std::string line_text = {};
    std::size_t line_no = 0;

    [[noreturn]] void fail(const std::string& why) const {
      throw stork::error("stork: flow_mlp::load: " + source + ": line " + std::to_string(line_no) + ": " +
                         why);
    }
    std::vector<std::string> tokens(const std::string& what) {
      if (!std::getline(is, line_text)) {
        ++line_no;
        fail("file truncated: expected " + what + ", found the end of the file");
      }
      ++line_no;
      std::vector<std::string> t;
      std::istringstream ss(line_text);
      for (std::string w; ss >> w;) t.push_back(w);
      return t;
    }
    int integer(const std::string& s, const std::string& what) const {
      int v = 0;
      const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc{} || p != s.data() + s.size()) fail(what + " = '" + s + "' is not an integer");
      return v;
    }
    void expect_tag(const std::vector<std::string>& want) {
      std::string w;
      for (const std::string& s : want) w += (w.empty() ? "" : " ") + s;
      if (tokens("'" + w + "'") != want)
        fail("expected '" + w + "', found '" + line_text + "' (wrong shapes?)");
    }
    std::vector<double> numbers(Eigen::Index n, const std::string& what) {
      const std::vector<std::string> t = tokens(what);
      if (static_cast<Eigen::Index>(t.size()) != n)
        fail(what + ": expected " + std::to_string(n) + " numbers, found " + std::to_string(t.size()) +
             (static_cast<Eigen::Index>(t.size()) < n ? " (truncated line?)" : ""));
      std::vector<double> v(t.size());
      for (std::size_t i = 0; i < t.size(); ++i) {
        const std::string& s = t[i];
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v[i]);
        if (ec == std::errc::result_out_of_range && p == s.data() + s.size())
          fail(what + ": entry " + std::to_string(i + 1) + " = " + s + " is not finite (out of range)");
        if (ec != std::errc{} || p != s.data() + s.size())
          fail(what + ": entry " + std::to_string(i + 1) + " = '" + s + "' is not a number");
        if (!std::isfinite(v[i]))
          fail(what + ": entry " + std::to_string(i + 1) + " = " + s + " is not finite");
      }
      return v;
    }
  };

  int freq_;
  std::vector<layer> layers_;
};

/// @brief A freshly initialised model (uniform ±√(6/(in+out)) weights, zero biases), fixed seed.
inline model random_model(int frequencies, const std::vector<int>& hidden, std::uint64_t seed) {
  rng g(seed);
  std::vector<layer> ls;
  Eigen::Index in = model::input_dim(frequencies);
  std::vector<int> outs = hidden;
  outs.push_back(2);
  for (int o : outs) {
    layer l{Eigen::MatrixXd(o, in), Eigen::VectorXd::Zero(o)};
    const double r = std::sqrt(6.0 / static_cast<double>(in + o));
    for (Eigen::Index j = 0; j < l.w.cols(); ++j)
      for (Eigen::Index i = 0; i < l.w.rows(); ++i) l.w(i, j) = r * (2.0 * g.uniform() - 1.0);
    ls.push_back(std::move(l));
    in = o;
  }
  return model(frequencies, std::move(ls));
}

}  // namespace flow_mlp
