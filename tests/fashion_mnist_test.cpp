// Tests of examples/fashion_mnist (example code): the gzip/IDX reader and its errors (on small files
// written here, with stored deflate blocks built by hand), the weight files and their errors, the
// committed trained weights (ε model, velocity model, classifier) against an independent plain-loop
// forward pass, the flow objective, the Fréchet distance against closed forms, the PNG grid, and the
// backward passes against finite differences. Tests that need Debian's dataset-fashion-mnist warn and
// return when it is not installed.
#include <stb/stb_image.h>

#include <unistd.h>
#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <stork/stork.hpp>

#include "fashion_mnist/fashion_mnist.hpp"
#include "fashion_mnist/train.hpp"

namespace {

namespace fm = fashion_mnist;
using Catch::Matchers::Contains;
using bytes = std::vector<std::uint8_t>;

const std::filesystem::path example_dir =
    std::filesystem::path(__FILE__).parent_path().parent_path() / "examples" / "fashion_mnist";
const std::filesystem::path eps_file = example_dir / "eps_weights.bin";
const std::filesystem::path classifier_file = example_dir / "classifier_weights.bin";
const std::filesystem::path velocity_file = example_dir / "velocity_weights.bin";

/// A fresh directory under the system temp directory, removed with its contents at the end.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("stork_fashion_mnist_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path write(const std::string& name, const bytes& b) const {
    const std::filesystem::path p = path / name;
    std::ofstream os(p, std::ios::binary);
    os.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    return p;
  }
};

bytes read_all(const std::filesystem::path& p) {
  std::ifstream is(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()};
}

void put_le(bytes& b, std::uint32_t v, int n) {
  for (int k = 0; k < n; ++k) b.push_back(static_cast<std::uint8_t>(v >> (8 * k)));
}
void put_be32(bytes& b, std::uint32_t v) {
  for (int k = 3; k >= 0; --k) b.push_back(static_cast<std::uint8_t>(v >> (8 * k)));
}

/// gzip flag bits (RFC 1952).
constexpr std::uint8_t fhcrc = 0x02, fextra = 0x04, fname = 0x08, fcomment = 0x10;

/// A gzip member whose deflate body is stored (uncompressed) blocks of at most 65535 bytes, built from
/// RFC 1951/1952 directly; `flags` adds the optional header fields.
bytes gzip_stored(const bytes& data, std::uint8_t flags = 0) {
  bytes out{0x1f, 0x8b, 8, flags, 0x12, 0x34, 0x56, 0x78, 0, 3};
  if (flags & fextra) out.insert(out.end(), {5, 0, 'A', 'B', 1, 0, 'x'});  // XLEN 5: one subfield
  if (flags & fname) out.insert(out.end(), {'f', 'i', 'l', 'e', '.', 'i', 'd', 'x', 0});
  if (flags & fcomment) out.insert(out.end(), {'h', 'i', 0});
  if (flags & fhcrc) put_le(out, fm::crc32(out) & 0xFFFFU, 2);
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, data.size() - pos);
    const bool last = pos + n == data.size();
    out.push_back(last ? 1 : 0);  // BFINAL, BTYPE = 00 (stored), then byte-aligned LEN, NLEN
    put_le(out, static_cast<std::uint32_t>(n), 2);
    put_le(out, static_cast<std::uint32_t>(~n & 0xFFFFU), 2);
    out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
               data.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  } while (pos < data.size());
  put_le(out, fm::crc32(data), 4);
  put_le(out, static_cast<std::uint32_t>(data.size()), 4);
  return out;
}

/// IDX images: magic 0x00000803, n × rows × cols, pixel (k, r, c) = (k + 3r + 5c) mod 256.
bytes idx_images(std::uint32_t n, std::uint32_t rows = 28, std::uint32_t cols = 28,
                 std::uint32_t magic = 0x00000803) {
  bytes b;
  put_be32(b, magic);
  put_be32(b, n);
  put_be32(b, rows);
  put_be32(b, cols);
  for (std::uint32_t k = 0; k < n; ++k)
    for (std::uint32_t r = 0; r < rows; ++r)
      for (std::uint32_t c = 0; c < cols; ++c)
        b.push_back(static_cast<std::uint8_t>((k + 3 * r + 5 * c) % 256));
  return b;
}

/// IDX labels: magic 0x00000801, labels k mod 10.
bytes idx_labels(std::uint32_t n) {
  bytes b;
  put_be32(b, 0x00000801);
  put_be32(b, n);
  for (std::uint32_t k = 0; k < n; ++k) b.push_back(static_cast<std::uint8_t>(k % 10));
  return b;
}

bool have_data() {
  const bool ok = std::filesystem::exists(fm::default_data_dir / "t10k-images-idx3-ubyte.gz");
  if (!ok)
    WARN("skipped: Debian's dataset-fashion-mnist is not installed (" << fm::default_data_dir.string()
                                                                      << "); tools/install-deps installs it");
  return ok;
}

/// The test split, loaded once.
const fm::dataset& test_set() {
  static const fm::dataset d = fm::load_dataset(fm::split::test);
  return d;
}

/// Fixed inputs: 4 columns of 196 values in about [−1.2, 1.2].
Eigen::MatrixXf fixed_inputs(Eigen::Index pixels) {
  Eigen::MatrixXf x(pixels, 4);
  for (Eigen::Index j = 0; j < 4; ++j)
    for (Eigen::Index i = 0; i < pixels; ++i)
      x(i, j) =
          static_cast<float>(0.9 * std::sin(0.37 * static_cast<double>(i) + 1.3 * static_cast<double>(j)) +
                             0.3 * std::cos(0.11 * static_cast<double>(i * (j + 1))));
  return x;
}

// ---- An independent reading of the weight format and the architectures, in plain loops (no Eigen). ----

/// The file's config, tensors by name (row-major, as doubles) and shapes, parsed from the documented format.
struct raw_weights {
  std::map<std::string, int> config;
  std::map<std::string, std::vector<double>> t;
  std::map<std::string, std::pair<int, int>> shape;
  const std::vector<double>& operator[](const std::string& name) const { return t.at(name); }
};

raw_weights read_raw(const std::filesystem::path& p) {
  static_assert(std::endian::native == std::endian::little, "the test reads float32-le directly");
  const bytes b = read_all(p);
  std::size_t pos = 0;
  auto line = [&] {
    const std::size_t e = static_cast<std::size_t>(
        std::find(b.begin() + static_cast<std::ptrdiff_t>(pos), b.end(), '\n') - b.begin());
    REQUIRE(e < b.size());
    std::string s(b.begin() + static_cast<std::ptrdiff_t>(pos), b.begin() + static_cast<std::ptrdiff_t>(e));
    pos = e + 1;
    return s;
  };
  raw_weights w;
  REQUIRE(line().rfind("stork-fashion-mnist-weights v1 ", 0) == 0);
  std::istringstream config(line());
  std::string word;
  config >> word;
  REQUIRE(word == "config");
  for (int v = 0; config >> word >> v;) w.config[word] = v;
  std::istringstream count(line());
  std::size_t n = 0;
  count >> word >> n;
  std::vector<std::string> order;
  for (std::size_t k = 0; k < n; ++k) {
    std::istringstream ls(line());
    int r = 0, c = 0;
    ls >> word >> r >> c;
    order.push_back(word);
    w.shape[word] = {r, c};
  }
  REQUIRE(line().rfind("payload float32-le ", 0) == 0);
  for (const std::string& name : order) {
    const auto [r, c] = w.shape[name];
    std::vector<double>& v = w.t[name];
    REQUIRE(pos + 4 * static_cast<std::size_t>(r * c) <= b.size());
    for (int i = 0; i < r * c; ++i, pos += 4) {
      float f = 0.0f;
      std::memcpy(&f, b.data() + pos, 4);
      v.push_back(f);
    }
  }
  REQUIRE(pos == b.size());
  return w;
}

double silu(double z) { return z / (1.0 + std::exp(-z)); }

/// y = W·x + b with W rows × cols row-major.
std::vector<double> affine(const raw_weights& w, const std::string& name, const std::vector<double>& x) {
  const auto [rows, cols] = w.shape.at(name + ".w");
  REQUIRE(static_cast<int>(x.size()) == cols);
  const std::vector<double>&W = w[name + ".w"], &b = w[name + ".b"];
  std::vector<double> y(static_cast<std::size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    double s = b[static_cast<std::size_t>(i)];
    for (int j = 0; j < cols; ++j)
      s += W[static_cast<std::size_t>(i * cols + j)] * x[static_cast<std::size_t>(j)];
    y[static_cast<std::size_t>(i)] = s;
  }
  return y;
}

std::vector<double> silu_all(std::vector<double> v) {
  for (double& z : v) z = silu(z);
  return v;
}

/// The ε network of models.hpp's comment, evaluated naively in double.
std::vector<double> naive_eps(const raw_weights& w, const std::vector<double>& x, double t) {
  const int F = w.config.at("frequencies"), blocks = w.config.at("blocks");
  std::vector<double> s;
  for (int k = 0; k < F; ++k) {
    const double omega =
        std::pow(static_cast<double>(w.config.at("max_frequency")), static_cast<double>(k) / (F - 1));
    s.push_back(std::sin(omega * t / 1000.0));
    s.push_back(std::cos(omega * t / 1000.0));
  }
  const std::vector<double> e = silu_all(affine(w, "temb", s));
  std::vector<double> h = affine(w, "in", x);
  for (int b = 1; b <= blocks; ++b) {
    const std::string n = "block" + std::to_string(b);
    std::vector<double> z = affine(w, n + ".fc1", silu_all(h));
    const auto [rows, cols] = w.shape.at(n + ".time.w");
    const std::vector<double>& wt = w[n + ".time.w"];
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j)
        z[static_cast<std::size_t>(i)] +=
            wt[static_cast<std::size_t>(i * cols + j)] * e[static_cast<std::size_t>(j)];
    const std::vector<double> d = affine(w, n + ".fc2", silu_all(z));
    for (std::size_t i = 0; i < h.size(); ++i) h[i] += d[i];
  }
  return affine(w, "out", silu_all(h));
}

std::vector<double> column(const Eigen::MatrixXf& x, Eigen::Index j) {
  std::vector<double> v(static_cast<std::size_t>(x.rows()));
  for (Eigen::Index i = 0; i < x.rows(); ++i) v[static_cast<std::size_t>(i)] = x(i, j);
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- gzip

TEST_CASE("fashion_mnist: CRC-32 check value", "[fashion_mnist]") {
  const std::string s = "123456789";
  const bytes b(s.begin(), s.end());
  CHECK(fm::crc32(b) == 0xCBF43926U);  // the published check value of CRC-32/ISO-HDLC
  CHECK(fm::crc32(bytes{}) == 0U);
  CHECK(fm::crc32(std::span(b).subspan(4), fm::crc32(std::span(b).first(4))) == 0xCBF43926U);
}

TEST_CASE("fashion_mnist: gunzip reads stored blocks and skips every optional header field",
          "[fashion_mnist]") {
  bytes data(150000);  // three stored blocks
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>((i * 7 + i / 300) % 251);
  for (int flags :
       {0, 1, int{fhcrc}, int{fextra}, int{fname}, int{fcomment}, fhcrc | fextra | fname | fcomment})
    CHECK(fm::gunzip(gzip_stored(data, static_cast<std::uint8_t>(flags)), "mem") == data);
  CHECK(fm::gunzip(gzip_stored(bytes{}), "mem").empty());
}

TEST_CASE("fashion_mnist: gunzip errors name the source and the problem", "[fashion_mnist]") {
  const bytes data = idx_labels(1000);
  const bytes good = gzip_stored(data, fname | fhcrc);
  REQUIRE(fm::gunzip(good, "x.gz") == data);
  auto with = [&](std::size_t i, std::uint8_t v) {
    bytes b = good;
    b[i] = v;
    return b;
  };
  const std::string where = "stork: fashion_mnist::gunzip: x.gz: ";
  SECTION("not gzip") {
    REQUIRE_THROWS_MATCHES(fm::gunzip(with(0, 0x42), "x.gz"), stork::error,
                           Catch::Matchers::Message(
                               where + "not a gzip file (starts with bytes 42 8b, gzip starts with 1f 8b)"));
    REQUIRE_THROWS_WITH(fm::gunzip(data, "x.gz"), Contains(where + "not a gzip file"));
    REQUIRE_THROWS_WITH(fm::gunzip(bytes{0x1f, 0x8b, 8}, "x.gz"), Contains("not a gzip file (3 bytes"));
    REQUIRE_THROWS_WITH(fm::gunzip(with(2, 7), "x.gz"), Contains("unsupported gzip compression method 7"));
    REQUIRE_THROWS_WITH(fm::gunzip(with(3, 0x28), "x.gz"), Contains("reserved gzip header flags"));
  }
  SECTION("bad header fields") {
    bytes b = gzip_stored(data, fname);
    b.resize(18);  // the name runs to the end
    REQUIRE_THROWS_WITH(fm::gunzip(b, "x.gz"), Contains(where + "truncated gzip header (in the file name)"));
    REQUIRE_THROWS_WITH(fm::gunzip(with(19, good[19] ^ 1U), "x.gz"),
                        Contains(where + "gzip header CRC-16 mismatch"));
  }
  SECTION("truncated") {
    for (std::size_t cut : {std::size_t{8}, std::size_t{100}, good.size() / 2}) {
      const bytes b(good.begin(), good.end() - static_cast<std::ptrdiff_t>(cut));
      REQUIRE_THROWS_WITH(fm::gunzip(b, "x.gz"), Contains(where) && Contains("truncated"));
    }
    REQUIRE_THROWS_WITH(fm::gunzip(bytes(good.begin(), good.begin() + 29), "x.gz"),
                        Contains("truncated: no compressed data after the gzip header"));
  }
  SECTION("bad CRC or size") {
    REQUIRE_THROWS_WITH(fm::gunzip(with(good.size() - 8, good[good.size() - 8] ^ 0x10U), "x.gz"),
                        Contains(where + "CRC-32 mismatch"));
    const std::size_t in_data = good.size() - 8 - 10;  // a byte of the stored block's payload
    REQUIRE_THROWS_WITH(fm::gunzip(with(in_data, good[in_data] ^ 1U), "x.gz"), Contains("CRC-32 mismatch"));
    REQUIRE_THROWS_WITH(fm::gunzip(with(good.size() - 4, good[good.size() - 4] ^ 1U), "x.gz"),
                        Contains(where + "size mismatch (trailer says 1009 bytes, inflated 1008)"));
  }
}

TEST_CASE("fashion_mnist: IDX files, errors name the file", "[fashion_mnist]") {
  const temp_dir dir;
  SECTION("missing file") {
    const std::filesystem::path p = dir.path / "missing-images-idx3-ubyte.gz";
    REQUIRE_THROWS_MATCHES(fm::read_idx_images(p), stork::error,
                           Catch::Matchers::Message("stork: fashion_mnist::read_gzip: " + p.string() +
                                                    ": cannot open the file"));
  }
  SECTION("good files") {
    const fm::idx_images im = fm::read_idx_images(dir.write("i.gz", gzip_stored(idx_images(3))));
    REQUIRE(im.count == 3);
    CHECK(im.pixels.size() == 3 * 784);
    CHECK(im.pixels[784 * 2 + 28 * 4 + 5] == (2 + 12 + 25));
    CHECK(fm::read_idx_labels(dir.write("l.gz", gzip_stored(idx_labels(12)))) ==
          bytes{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1});
  }
  SECTION("not gzip, truncated gzip, bad CRC") {
    const bytes gz = gzip_stored(idx_images(2));
    const std::filesystem::path raw = dir.write("raw.gz", idx_images(2));
    REQUIRE_THROWS_WITH(fm::read_idx_images(raw), Contains(raw.string() + ": not a gzip file"));
    const std::filesystem::path cut = dir.write("cut.gz", bytes(gz.begin(), gz.end() - 300));
    REQUIRE_THROWS_WITH(fm::read_idx_images(cut), Contains(cut.string() + ": ") && Contains("truncated"));
    bytes bad = gz;
    bad[gz.size() - 6] ^= 0x80U;
    const std::filesystem::path crc = dir.write("crc.gz", bad);
    REQUIRE_THROWS_WITH(fm::read_idx_images(crc), Contains(crc.string() + ": CRC-32 mismatch"));
  }
  SECTION("wrong IDX magic") {
    const std::filesystem::path p = dir.write("labels-as-images.gz", gzip_stored(idx_labels(5)));
    REQUIRE_THROWS_MATCHES(
        fm::read_idx_images(p), stork::error,
        Catch::Matchers::Message(
            "stork: fashion_mnist::parse_idx_images: " + p.string() +
            ": wrong IDX magic 0x00000801 (expected 0x00000803: unsigned-byte images, 3 dimensions)"));
    const std::filesystem::path f = dir.write("float.gz", gzip_stored(idx_images(1, 28, 28, 0x00000D03)));
    REQUIRE_THROWS_WITH(fm::read_idx_images(f), Contains(f.string() + ": wrong IDX magic 0x00000d03"));
    const std::filesystem::path l = dir.write("images-as-labels.gz", gzip_stored(idx_images(1)));
    REQUIRE_THROWS_WITH(fm::read_idx_labels(l), Contains(l.string() + ": wrong IDX magic 0x00000803"));
  }
  SECTION("wrong dimensions and sizes") {
    const std::filesystem::path p = dir.write("27.gz", gzip_stored(idx_images(2, 27, 28)));
    REQUIRE_THROWS_WITH(
        fm::read_idx_images(p),
        Contains(p.string() + ": wrong IDX dimensions 2x27x28 (Fashion-MNIST images are 28x28)"));
    bytes short_images = idx_images(2);
    short_images.pop_back();
    const std::filesystem::path s = dir.write("short.gz", gzip_stored(short_images));
    REQUIRE_THROWS_WITH(
        fm::read_idx_images(s),
        Contains(s.string() +
                 ": IDX size mismatch: the dimensions need 1568 data bytes, found 1567 (truncated)"));
    bytes long_labels = idx_labels(4);
    long_labels.push_back(0);
    const std::filesystem::path l = dir.write("long.gz", gzip_stored(long_labels));
    REQUIRE_THROWS_WITH(fm::read_idx_labels(l), Contains(l.string() + ": IDX size mismatch"));
    const std::filesystem::path h = dir.write("header.gz", gzip_stored(bytes{0, 0, 8, 3, 0, 0}));
    REQUIRE_THROWS_WITH(fm::read_idx_images(h), Contains(h.string() + ": truncated IDX header"));
    bytes bad_label = idx_labels(4);
    bad_label[10] = 10;
    const std::filesystem::path b = dir.write("label.gz", gzip_stored(bad_label));
    REQUIRE_THROWS_WITH(fm::read_idx_labels(b),
                        Contains(b.string() + ": label 10 at index 2 out of range (0 to 9)"));
  }
  SECTION("load_dataset: pooling, scaling and matching counts") {
    dir.write("t10k-images-idx3-ubyte.gz", gzip_stored(idx_images(3)));
    dir.write("t10k-labels-idx1-ubyte.gz", gzip_stored(idx_labels(3)));
    const fm::dataset d = fm::load_dataset(fm::split::test, dir.path);
    REQUIRE(d.side == 14);
    REQUIRE(d.x.rows() == 196);
    REQUIRE(d.x.cols() == 3);
    for (int k = 0; k < 3; ++k)
      for (int r = 0; r < 14; ++r)
        for (int c = 0; c < 14; ++c) {
          double sum = 0.0;  // the 2x2 block of the original, pixel (k + 3r + 5c) mod 256
          for (int dr = 0; dr < 2; ++dr)
            for (int dc = 0; dc < 2; ++dc) sum += (k + 3 * (2 * r + dr) + 5 * (2 * c + dc)) % 256;
          REQUIRE(d.x(r * 14 + c, k) == Approx(sum / 4.0 / 255.0 * 2.0 - 1.0).margin(1e-6));
        }
    const fm::dataset full = fm::load_dataset(fm::split::test, dir.path, 1);
    CHECK(full.x(28 * 3 + 2, 1) == Approx((1 + 9 + 10) / 255.0 * 2.0 - 1.0).margin(1e-6));
    dir.write("t10k-labels-idx1-ubyte.gz", gzip_stored(idx_labels(2)));
    REQUIRE_THROWS_WITH(fm::load_dataset(fm::split::test, dir.path),
                        Contains("t10k-labels-idx1-ubyte.gz: 2 labels for 3 images in"));
  }
}

TEST_CASE("fashion_mnist: the Debian data set", "[fashion_mnist][data]") {
  if (!have_data()) return;
  // Expected values from the data set's documentation (6,000 / 1,000 images per class) and from Python's
  // gzip module (an independent decoder): the first labels, the sum of all test pixels, two pixels.
  const std::vector<std::uint8_t> train_labels =
      fm::read_idx_labels(fm::default_data_dir / "train-labels-idx1-ubyte.gz");
  const fm::dataset& test = test_set();
  REQUIRE(train_labels.size() == 60000);
  REQUIRE(test.labels.size() == 10000);
  CHECK(bytes(train_labels.begin(), train_labels.begin() + 10) == bytes{9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
  CHECK(bytes(test.labels.begin(), test.labels.begin() + 10) == bytes{9, 2, 1, 1, 6, 1, 4, 6, 5, 7});
  for (std::uint8_t c = 0; c < 10; ++c) {
    CHECK(std::count(train_labels.begin(), train_labels.end(), c) == 6000);
    CHECK(std::count(test.labels.begin(), test.labels.end(), c) == 1000);
  }
  const fm::idx_images im = fm::read_idx_images(fm::default_data_dir / "t10k-images-idx3-ubyte.gz");
  std::uint64_t sum = 0;
  for (std::uint8_t p : im.pixels) sum += p;
  CHECK(sum == 573469082U);
  CHECK(im.pixels[14 * 28 + 14] == 110);
  CHECK(im.pixels[784 * 5 + 10 * 28 + 3] == 0);
  CHECK(test.x.minCoeff() >= -1.0f);
  CHECK(test.x.maxCoeff() <= 1.0f);
  // A real (compressed) deflate stream cut short.
  const bytes gz = read_all(fm::default_data_dir / "t10k-labels-idx1-ubyte.gz");
  REQUIRE_THROWS_WITH(fm::gunzip(bytes(gz.begin(), gz.begin() + 3000), "cut"), Contains("truncated"));
}

// ------------------------------------------------------------------------------------------ schedule

TEST_CASE("fashion_mnist: Stable Diffusion's scaled-linear table", "[fashion_mnist]") {
  const std::vector<double> b = fm::sd_betas(), a = fm::sd_alpha_bars();
  REQUIRE(b.size() == 1000);
  CHECK(b.front() == Approx(0.00085).epsilon(1e-12));
  CHECK(b.back() == Approx(0.012).epsilon(1e-12));
  CHECK(b[500] ==
        Approx(std::pow(std::sqrt(0.00085) + 500.0 / 999.0 * (std::sqrt(0.012) - std::sqrt(0.00085)), 2)));
  const stork::vp_discrete sd =
      stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);  // the library's table
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{250}, std::size_t{999}})
    CHECK(a[i] == Approx(sd.alpha_bar(i)).epsilon(1e-12));
  CHECK(a.back() == Approx(0.004660098513).epsilon(1e-9));  // computed independently (Python, in double)
}

// ------------------------------------------------------------------------------------------ weights

TEST_CASE("fashion_mnist: weight files round trip, and every bad file is an error", "[fashion_mnist]") {
  const temp_dir dir;
  const fm::eps_mlp::config cfg{
      .pixels = 196, .hidden = 8, .blocks = 2, .frequencies = 4, .max_frequency = 100, .embedding = 6};
  const fm::eps_mlp m = fm::eps_mlp::random(cfg, 5);
  const std::filesystem::path p = dir.path / "eps.bin";
  m.save(p);
  const fm::eps_mlp back = fm::eps_mlp::load(p);
  CHECK(back.params() == m.params());
  CHECK(back.parameter_count() == 6 * 9 + 8 * 197 + 2 * (8 * 6 + 2 * 8 * 9) + 196 * 9);
  const bytes good = read_all(p);
  const std::string text(good.begin(), good.end());
  const std::size_t payload = text.find('\n', text.find("payload ")) + 1;
  auto load_bytes = [&](const bytes& b) { return fm::eps_mlp::load(dir.write("bad.bin", b)); };
  auto load_text = [&](const std::string& s) { return load_bytes(bytes(s.begin(), s.end())); };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = text;
    const std::size_t at = s.find(from);
    REQUIRE(at < payload);
    return s.replace(at, from.size(), to);
  };
  const std::string bad = "stork: fashion_mnist::load_weights: " + (dir.path / "bad.bin").string() + ": ";

  SECTION("missing file") {
    REQUIRE_THROWS_MATCHES(
        fm::eps_mlp::load(dir.path / "none.bin"), stork::error,
        Catch::Matchers::Message("stork: fashion_mnist::load_weights: " + (dir.path / "none.bin").string() +
                                 ": cannot open the file"));
  }
  SECTION("wrong file") {
    REQUIRE_THROWS_WITH(load_text("cmake_minimum_required(VERSION 3.25)\n"),
                        Contains(bad + "line 1: not a stork Fashion-MNIST weight file (bad magic)"));
    REQUIRE_THROWS_WITH(load_bytes(gzip_stored(idx_labels(100))), Contains(bad + "line 1: "));
    REQUIRE_THROWS_WITH(load_text(""), Contains(bad + "line 1: file truncated"));
    REQUIRE_THROWS_WITH(load_text(replaced(" v1 ", " v2 ")),
                        Contains("line 1: unsupported format version 'v2'"));
    const fm::classifier c =
        fm::classifier::random({.pixels = 196, .hidden1 = 4, .hidden2 = 3, .classes = 10}, 1);
    c.save(dir.path / "classifier.bin");
    REQUIRE_THROWS_WITH(
        fm::eps_mlp::load(dir.path / "classifier.bin"),
        Contains("classifier.bin: line 1: wrong kind of weights 'classifier-mlp' (expected 'eps-mlp')"));
    REQUIRE_THROWS_WITH(fm::classifier::load(p), Contains("wrong kind of weights 'eps-mlp'"));
    REQUIRE_NOTHROW(fm::classifier::load(dir.path / "classifier.bin"));
  }
  SECTION("truncated") {
    REQUIRE_THROWS_WITH(load_bytes(bytes(good.begin(), good.end() - 100)),
                        Contains(bad + "file truncated: the payload has"));
    REQUIRE_THROWS_WITH(load_text(text.substr(0, text.find("block1.fc1.w"))),
                        Contains(bad + "line 9: file truncated: expected tensor 6"));
    REQUIRE_THROWS_WITH(load_text(text.substr(0, payload)), Contains("file truncated: the payload has 0 of"));
    REQUIRE_THROWS_WITH(load_bytes([&] {
                          bytes b = good;
                          b.push_back(0);
                          return b;
                        }()),
                        Contains(bad + "1 unexpected bytes after the payload"));
  }
  SECTION("wrong shapes") {
    // The config says hidden 9, the tensors are for hidden 8.
    REQUIRE_THROWS_WITH(load_text(replaced("hidden 8", "hidden 9")),
                        Contains(bad + "wrong shapes: tensor 'in.w' is 8x196, the architecture needs 9x196"));
    REQUIRE_THROWS_WITH(
        load_text(replaced("blocks 2", "blocks 3")),
        Contains(bad + "wrong shapes: tensor 15 is 'out.w', the architecture needs 'block3.time.w'"));
    REQUIRE_THROWS_WITH(load_text(replaced("in.w 8 196", "in.x 8 196")),
                        Contains("wrong shapes: tensor 3 is 'in.x', the architecture needs 'in.w'"));
    // A shape changed in the tensor list: the payload length no longer fits.
    REQUIRE_THROWS_WITH(
        load_text(replaced("in.w 8 196", "in.w 8 195")),
        Contains(bad + "line 20: payload of 15112 bytes, but the tensors need 15080 (wrong shapes?)"));
    REQUIRE_THROWS_WITH(
        load_text(replaced("tensors 16", "tensors 15")),
        Contains(bad + "line 19: expected 'payload float32-le <bytes> crc32 <8 hex digits>'"));
    REQUIRE_THROWS_WITH(load_text(replaced("hidden 8", "hidden 0")),
                        Contains(bad + "bad config: hidden = 0 is invalid"));
    REQUIRE_THROWS_WITH(load_text(replaced("hidden 8 ", "")),
                        Contains(bad + "the config line has 5 entries, expected 6"));
    REQUIRE_THROWS_WITH(load_text(replaced("hidden 8", "hidden x")),
                        Contains("line 2: config hidden = 'x' is not an integer"));
  }
  SECTION("bad checksum and non-finite values") {
    bytes b = good;
    b[payload + 123] ^= 0x04U;
    REQUIRE_THROWS_WITH(load_bytes(b), Contains(bad + "checksum mismatch: the header says crc32 ") &&
                                           Contains("(corrupt file)"));
    REQUIRE_THROWS_WITH(load_text(replaced(" crc32 ", " crc32 x")), Contains("expected 'payload float32-le"));
    // A NaN with a matching checksum.
    bytes n = good;
    const std::uint32_t nan = 0x7FC00000U;
    std::memcpy(n.data() + payload + 40, &nan, 4);
    const std::uint32_t crc = fm::crc32(std::span(n).subspan(payload));
    std::string t(n.begin(), n.end());
    const std::size_t at = t.find(" crc32 ") + 7;
    t.replace(at, 8, fm::hex(crc, 8));
    REQUIRE_THROWS_WITH(load_text(t), Contains(bad + "value 10 of the payload is not finite"));
  }
}

TEST_CASE("fashion_mnist: the committed ε model matches an independent plain-loop forward pass",
          "[fashion_mnist]") {
  const fm::eps_mlp m = fm::eps_mlp::load(eps_file);
  const raw_weights w = read_raw(eps_file);
  REQUIRE(m.cfg().pixels == 196);
  const Eigen::MatrixXf x = fixed_inputs(196);
  const double ts[] = {0.0, 250.5, 617.25, 999.0};
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    const double t = ts[j];
    const Eigen::MatrixXf xj = x.col(j);
    const Eigen::MatrixXd xd = xj.cast<double>();
    Eigen::MatrixXf out;
    m(xj, t, out);
    Eigen::MatrixXd outd;
    m(xd, t, outd);
    const std::vector<double> ref = naive_eps(w, column(x, j), t);
    double worst = 0.0, scale = 1.0;
    for (Eigen::Index i = 0; i < 196; ++i) {
      worst = std::max(worst, std::abs(out(i, 0) - ref[static_cast<std::size_t>(i)]));
      scale = std::max(scale, std::abs(ref[static_cast<std::size_t>(i)]));
      REQUIRE(outd(i, 0) == static_cast<double>(out(i, 0)));
    }
    // 1e-5 relative to the output's size (at least 1): the Eigen pass runs in float, whose rounding grows
    // with the magnitudes (outputs reach ~30 here at t = 0, where ε̂ is scaled by 1/√(1 − ᾱ₀) ≈ 34).
    INFO("column " << j << ", timestep " << t << ": max |Eigen − naive| = " << worst
                   << ", max |naive| = " << scale);
    CHECK(worst < 1e-5 * scale);
  }
  // The batch call and per-sample timesteps give the same as one column at a time (up to float rounding:
  // Eigen multiplies a single column by another kernel).
  Eigen::MatrixXf batch;
  m(x, 250.5, batch);
  Eigen::MatrixXf one;
  m(Eigen::MatrixXf(x.col(2)), 250.5, one);
  const float tol = 1e-5f * std::max(1.0f, batch.cwiseAbs().maxCoeff());
  CHECK((batch.col(2) - one.col(0)).cwiseAbs().maxCoeff() <= tol);
  const std::vector<double> per{250.5, 250.5, 250.5, 250.5};
  CHECK((m.predict(x, per) - batch).cwiseAbs().maxCoeff() <= tol);
  // Bad calls.
  Eigen::MatrixXf o;
  REQUIRE_THROWS_WITH(m(Eigen::MatrixXf::Zero(195, 2), 10.0, o), Contains("x.rows() = 195 is invalid"));
  REQUIRE_THROWS_WITH(m(x, std::nan(""), o), Contains("timestep = nan is invalid"));
}

TEST_CASE("fashion_mnist: the committed ε model is smooth in the timestep", "[fashion_mnist]") {
  // Samplers call the model between training timesteps: ε̂ at t + ½ must lie close to the mean of its
  // neighbours, within a small fraction of the change over the step (the embedding's fastest feature turns
  // 0.1 rad per timestep; an embedding that aliased between integers would give deviations as large as the
  // change). Inputs: the fixed patterns clamped to [−1, 1] as x₀, noised to each timestep.
  const fm::eps_mlp m = fm::eps_mlp::load(eps_file);
  const Eigen::MatrixXf x0 = fixed_inputs(196).cwiseMax(-1.0f).cwiseMin(1.0f);
  const std::vector<double> abar = fm::sd_alpha_bars();
  fm::rng g(99);
  for (std::size_t t : {std::size_t{0}, std::size_t{3}, std::size_t{100}, std::size_t{500}, std::size_t{900},
                        std::size_t{998}}) {
    Eigen::MatrixXf x = static_cast<float>(std::sqrt(abar[t])) * x0;
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      for (Eigen::Index i = 0; i < x.rows(); ++i)
        x(i, j) += static_cast<float>(std::sqrt(1.0 - abar[t]) * g.normal());
    Eigen::MatrixXf a, b, mid;
    const auto td = static_cast<double>(t);
    m(x, td, a);
    m(x, td + 1.0, b);
    m(x, td + 0.5, mid);
    const float change = (a - b).cwiseAbs().maxCoeff(), off = (mid - 0.5f * (a + b)).cwiseAbs().maxCoeff();
    INFO("timestep " << t << ": max |ε̂(t) − ε̂(t+1)| = " << change << ", max |ε̂(t+½) − mean| = " << off);
    CHECK(off < 0.1f * change + 1e-4f);
  }
}

TEST_CASE("fashion_mnist: the committed ε model's loss on a fixed held-out batch", "[fashion_mnist][data]") {
  if (!have_data()) return;
  const fm::eps_mlp m = fm::eps_mlp::load(eps_file);
  const fm::dataset& test = test_set();
  const std::vector<double> abar = fm::sd_alpha_bars();
  constexpr Eigen::Index n = 200;
  Eigen::MatrixXf x(196, n), eps(196, n);
  std::vector<double> t(n), reversed(n);
  fm::rng g(12345);
  for (Eigen::Index j = 0; j < n; ++j) {
    const auto i = static_cast<std::size_t>(5 * j + 2);  // timesteps 2, 7, …, 997: the whole schedule
    t[static_cast<std::size_t>(j)] = static_cast<double>(i);
    reversed[static_cast<std::size_t>(j)] = 999.0 - static_cast<double>(i);
    for (Eigen::Index r = 0; r < 196; ++r) eps(r, j) = static_cast<float>(g.normal());
    x.col(j) = static_cast<float>(std::sqrt(abar[i])) * test.x.col(j) +
               static_cast<float>(std::sqrt(1.0 - abar[i])) * eps.col(j);
  }
  const double loss = m.loss(x, t, eps);
  // The bound: fashion_mnist_train_eps reports a held-out loss of 0.0723 for the saved weights on all
  // 10,000 test images (random t and ε), and the per-sample loss has a standard deviation of 0.113, so
  // the mean of 200 samples has one of 0.008. 0.1 = 0.0723 + 3.5 sd: a correct model passes, and it is
  // far below what a broken one scores (predicting ε̂ = 0 gives E ε² = 1; wrong timesteps, below).
  INFO("held-out loss " << loss);
  CHECK(loss < 0.1);
  // Negative control: the same batch with the timesteps reversed fails the bound by far.
  CHECK(m.loss(x, reversed, eps) > 1.0);
}

// --------------------------------------------------------------------------------- the velocity model

TEST_CASE("fashion_mnist: velocity weight files round trip, and the two kinds are not interchangeable",
          "[fashion_mnist]") {
  const temp_dir dir;
  const fm::velocity_mlp::config cfg{
      .pixels = 196, .hidden = 8, .blocks = 2, .frequencies = 4, .max_frequency = 100, .embedding = 6};
  const fm::velocity_mlp v = fm::velocity_mlp::random(cfg, 5);
  CHECK(v.params() == fm::eps_mlp::random(cfg, 5).params());  // one architecture, one initialisation
  const std::filesystem::path vp = dir.path / "velocity.bin", ep = dir.path / "eps.bin";
  v.save(vp);
  CHECK(fm::velocity_mlp::load(vp).params() == v.params());
  const bytes file = read_all(vp);
  const std::string head(file.begin(), file.begin() + 45);
  CHECK(head.rfind("stork-fashion-mnist-weights v1 velocity-mlp\n", 0) == 0);
  fm::eps_mlp::random(cfg, 6).save(ep);
  REQUIRE_THROWS_MATCHES(fm::velocity_mlp::load(ep), stork::error,
                         Catch::Matchers::Message("stork: fashion_mnist::load_weights: " + ep.string() +
                                                  ": line 1: wrong kind of weights 'eps-mlp' (expected "
                                                  "'velocity-mlp')"));
  REQUIRE_THROWS_WITH(fm::eps_mlp::load(vp),
                      Contains("line 1: wrong kind of weights 'velocity-mlp' (expected 'eps-mlp')"));
  REQUIRE_THROWS_WITH(fm::velocity_mlp::load(eps_file), Contains("wrong kind of weights 'eps-mlp'"));
  // Errors name the class.
  REQUIRE_THROWS_MATCHES(fm::velocity_mlp({.pixels = 0}), stork::error,
                         Catch::Matchers::Message("stork: fashion_mnist::velocity_mlp: pixels = 0 is invalid "
                                                  "(needs 1 to 4096)"));
  Eigen::MatrixXf o;
  REQUIRE_THROWS_WITH(v(Eigen::MatrixXf::Zero(195, 1), 10.0, o),
                      Contains("fashion_mnist::velocity_mlp: x.rows() = 195 is invalid"));
  CHECK(fm::flow_timestep(0.25) == 250.0);
}

TEST_CASE("fashion_mnist: the flow objective noises as x = (1 - sigma) x0 + sigma eps with target eps - x0",
          "[fashion_mnist]") {
  const Eigen::MatrixXf data = fixed_inputs(196);
  const std::vector<Eigen::Index> cols{2, 0, 3};
  fm::rng g(8), again(8);
  const fm::training::noised b = fm::training::flow_objective{}.noise(data, cols, g);
  REQUIRE(b.t.size() == 3);
  for (std::size_t j = 0; j < 3; ++j) {
    const double sigma = again.uniform();  // the draws in order: σ, then the pixels' ε
    Eigen::VectorXf eps(196);
    for (Eigen::Index r = 0; r < 196; ++r) eps(r) = static_cast<float>(again.normal());
    const auto k = static_cast<Eigen::Index>(j);
    const Eigen::VectorXf x0 = data.col(cols[j]);
    CHECK(b.t[j] == 1000.0 * sigma);
    CHECK((b.target.col(k) - (eps - x0)).cwiseAbs().maxCoeff() < 1e-6f);
    CHECK((b.x.col(k) - ((1.0f - static_cast<float>(sigma)) * x0 + static_cast<float>(sigma) * eps))
              .cwiseAbs()
              .maxCoeff() < 1e-6f);
  }
}

TEST_CASE("fashion_mnist: the committed velocity model matches an independent plain-loop forward pass",
          "[fashion_mnist]") {
  // The velocity model is the ε model's network (models.hpp: time_mlp) with other weights: the plain-loop
  // reading of the ε network (naive_eps) is its reference too.
  const fm::velocity_mlp m = fm::velocity_mlp::load(velocity_file);
  const raw_weights w = read_raw(velocity_file);
  REQUIRE(m.cfg().pixels == 196);
  const Eigen::MatrixXf x = fixed_inputs(196);
  const double ts[] = {0.0, 250.5, 617.25, 1000.0};  // σ = 0, 0.2505, 0.61725, 1
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    const Eigen::MatrixXf xj = x.col(j);
    Eigen::MatrixXf out;
    m(xj, ts[j], out);
    Eigen::MatrixXd outd;
    m(Eigen::MatrixXd(xj.cast<double>()), ts[j], outd);
    const std::vector<double> ref = naive_eps(w, column(x, j), ts[j]);
    double worst = 0.0, scale = 1.0;
    for (Eigen::Index i = 0; i < 196; ++i) {
      worst = std::max(worst, std::abs(out(i, 0) - ref[static_cast<std::size_t>(i)]));
      scale = std::max(scale, std::abs(ref[static_cast<std::size_t>(i)]));
      REQUIRE(outd(i, 0) == static_cast<double>(out(i, 0)));
    }
    INFO("column " << j << ", timestep " << ts[j] << ": max |Eigen − naive| = " << worst
                   << ", max |naive| = " << scale);
    CHECK(worst < 1e-5 * scale);
  }
  Eigen::MatrixXf batch, one;
  m(x, 250.5, batch);
  m(Eigen::MatrixXf(x.col(2)), 250.5, one);
  const float tol = 1e-5f * std::max(1.0f, batch.cwiseAbs().maxCoeff());
  CHECK((batch.col(2) - one.col(0)).cwiseAbs().maxCoeff() <= tol);
}

TEST_CASE("fashion_mnist: the committed velocity model is smooth in sigma", "[fashion_mnist]") {
  // Trained on continuous σ: v̂ at σ + 0.0005 must lie close to the mean of its neighbours σ and σ + 0.001
  // (as for the ε model, within a small fraction of the change over the interval).
  const fm::velocity_mlp m = fm::velocity_mlp::load(velocity_file);
  const Eigen::MatrixXf x0 = fixed_inputs(196).cwiseMax(-1.0f).cwiseMin(1.0f);
  fm::rng g(98);
  for (double sigma : {0.0, 0.003, 0.1, 0.5, 0.9, 0.999}) {
    Eigen::MatrixXf x = static_cast<float>(1.0 - sigma) * x0;
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      for (Eigen::Index i = 0; i < x.rows(); ++i) x(i, j) += static_cast<float>(sigma * g.normal());
    Eigen::MatrixXf a, b, mid;
    m(x, fm::flow_timestep(sigma), a);
    m(x, fm::flow_timestep(sigma + 0.001), b);
    m(x, fm::flow_timestep(sigma + 0.0005), mid);
    const float change = (a - b).cwiseAbs().maxCoeff(), off = (mid - 0.5f * (a + b)).cwiseAbs().maxCoeff();
    INFO("sigma " << sigma << ": max |v(σ) − v(σ+0.001)| = " << change
                  << ", max |v(σ+0.0005) − mean| = " << off);
    CHECK(off < 0.1f * change + 1e-4f);
  }
}

TEST_CASE("fashion_mnist: the committed velocity model's loss on a fixed held-out batch",
          "[fashion_mnist][data]") {
  if (!have_data()) return;
  const fm::velocity_mlp m = fm::velocity_mlp::load(velocity_file);
  const fm::dataset& test = test_set();
  constexpr Eigen::Index n = 200;
  Eigen::MatrixXf x(196, n), v(196, n);
  std::vector<double> t(n), reversed(n);
  fm::rng g(12345);
  for (Eigen::Index j = 0; j < n; ++j) {
    const double sigma = (static_cast<double>(j) + 0.5) / n;  // σ = 0.0025, 0.0075, …, 0.9975: the whole path
    t[static_cast<std::size_t>(j)] = fm::flow_timestep(sigma);
    reversed[static_cast<std::size_t>(j)] = fm::flow_timestep(1.0 - sigma);
    Eigen::VectorXf eps(196);
    for (Eigen::Index r = 0; r < 196; ++r) eps(r) = static_cast<float>(g.normal());
    x.col(j) = static_cast<float>(1.0 - sigma) * test.x.col(j) + static_cast<float>(sigma) * eps;
    v.col(j) = eps - test.x.col(j);
  }
  const double loss = m.loss(x, t, v);
  // The bound: fashion_mnist_train_flow reports a held-out loss of 0.3216 for the saved weights on all
  // 10,000 test images (random σ and ε), and the per-sample loss has a standard deviation of 0.215 there, so
  // the mean of 200 samples has one of 0.015. 0.375 = 0.3216 + 3.5 sd: a correct model passes; predicting
  // v̂ = 0 scores E|ε − x₀|²/d = 1 + E x₀², and the wrong times (below) score far above the bound.
  INFO("held-out loss " << loss);
  CHECK(loss < 0.375);
  CHECK(m.loss(x, reversed, v) > 1.0);
}

TEST_CASE("fashion_mnist: the committed classifier", "[fashion_mnist][data]") {
  const fm::classifier c = fm::classifier::load(classifier_file);
  const raw_weights w = read_raw(classifier_file);
  const Eigen::MatrixXf x = fixed_inputs(196);
  const Eigen::MatrixXf f = c.features(x), l = c.logits(x);
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    const std::vector<double> feat = silu_all(affine(w, "fc2", silu_all(affine(w, "fc1", column(x, j)))));
    const std::vector<double> logits = affine(w, "out", feat);
    REQUIRE(f.rows() == static_cast<Eigen::Index>(feat.size()));
    for (std::size_t i = 0; i < feat.size(); ++i)
      CHECK(std::abs(f(static_cast<Eigen::Index>(i), j) - feat[i]) < 1e-5);
    for (std::size_t i = 0; i < logits.size(); ++i)
      CHECK(std::abs(l(static_cast<Eigen::Index>(i), j) - logits[i]) < 1e-5);
  }
  if (!have_data()) return;
  // The trainer reports 0.8959 on all 10,000 test images; the first 1,000 must reach 0.85 (4.5 binomial
  // standard deviations, 0.01, below).
  const fm::dataset& test = test_set();
  const double acc = c.accuracy(test.x.leftCols(1000), std::span(test.labels).first(1000));
  INFO("accuracy on the first 1000 test images " << acc);
  CHECK(acc > 0.85);
}

// ------------------------------------------------------------------------------------- backward passes

TEST_CASE("fashion_mnist: backward passes agree with finite differences", "[fashion_mnist]") {
  // Directional derivative along a random direction d: (L(p + h·d) − L(p − h·d)) / 2h against g·d.
  fm::rng g(77);
  auto check = [&](auto& model, auto&& loss_at) {
    std::vector<float> grad;
    loss_at(model, &grad);
    const std::vector<float> p0 = model.params();
    std::vector<float> d(p0.size());
    double gd = 0.0;
    for (std::size_t i = 0; i < d.size(); ++i) {
      d[i] = static_cast<float>(g.normal());
      gd += static_cast<double>(d[i]) * grad[i];
    }
    const float h = 1e-3f;
    for (std::size_t i = 0; i < d.size(); ++i) model.params()[i] = p0[i] + h * d[i];
    const double up = loss_at(model, nullptr);
    for (std::size_t i = 0; i < d.size(); ++i) model.params()[i] = p0[i] - h * d[i];
    const double down = loss_at(model, nullptr);
    model.params() = p0;
    const double fd = (up - down) / (2.0 * h);
    INFO("g.d = " << gd << ", finite difference " << fd);
    CHECK(std::abs(fd - gd) < 0.02 * std::abs(gd) + 1e-4);
  };
  const Eigen::MatrixXf x = fixed_inputs(196).leftCols(3);
  SECTION("ε model") {
    fm::eps_mlp m = fm::eps_mlp::random(
        {.pixels = 196, .hidden = 16, .blocks = 2, .frequencies = 4, .max_frequency = 100, .embedding = 8},
        3);
    for (float& v : m.params()) v += 0.05f * static_cast<float>(g.normal());  // non-zero biases too
    const std::vector<double> t{10.0, 400.5, 990.0};
    const Eigen::MatrixXf target = 0.5f * fixed_inputs(196).rightCols(3);
    check(m, [&](const fm::eps_mlp& mm, std::vector<float>* grad) {
      return grad ? mm.gradient(x, t, target, *grad) : mm.loss(x, t, target);
    });
  }
  SECTION("classifier") {
    fm::classifier c = fm::classifier::random({.pixels = 196, .hidden1 = 12, .hidden2 = 7, .classes = 10}, 4);
    for (float& v : c.params()) v += 0.05f * static_cast<float>(g.normal());
    const std::vector<std::uint8_t> y{3, 0, 9};
    check(c, [&](const fm::classifier& cc, std::vector<float>* grad) {
      std::vector<float> scratch;
      return cc.gradient(x, y, grad ? *grad : scratch);
    });
  }
}

// ---------------------------------------------------------------------------------------- Fréchet

TEST_CASE("fashion_mnist: Fréchet distance against closed forms", "[fashion_mnist]") {
  SECTION("diagonal covariances: |Δμ|² + Σ(√a − √b)²") {
    fm::feature_stats a{Eigen::Vector3d(1, 2, 3), Eigen::Vector3d(4, 1, 0.25).asDiagonal(), 10};
    fm::feature_stats b{Eigen::Vector3d(0, 2, 5), Eigen::Vector3d(1, 9, 0.25).asDiagonal(), 10};
    CHECK(fm::frechet_distance(a, b) == Approx(1 + 0 + 4 + 1 + 4 + 0).epsilon(1e-10));
    CHECK(fm::frechet_distance(a, a) == Approx(0).margin(1e-10));
  }
  SECTION("2x2, non-commuting: tr√M = √(tr M + 2√det M) for M = C₁^½C₂C₁^½") {
    Eigen::Matrix2d c1, c2;
    c1 << 2.0, 0.6, 0.6, 1.0;
    c2 << 0.5, -0.3, -0.3, 3.0;
    fm::feature_stats a{Eigen::Vector2d(0.5, -1), c1, 10}, b{Eigen::Vector2d(-0.5, 1), c2, 10};
    const double tr_sqrt = std::sqrt((c1 * c2).trace() + 2 * std::sqrt(c1.determinant() * c2.determinant()));
    const double want = 1.0 + 4.0 + c1.trace() + c2.trace() - 2 * tr_sqrt;
    CHECK(fm::frechet_distance(a, b) == Approx(want).epsilon(1e-10));
    CHECK(fm::frechet_distance(b, a) == Approx(want).epsilon(1e-10));
  }
  SECTION("statistics of features, and errors") {
    Eigen::MatrixXf f(2, 4);
    f << 1, 2, 3, 6,  //
        0, 0, 1, -1;
    const fm::feature_stats s = fm::stats_of(f);
    CHECK(s.mean(0) == Approx(3.0));
    CHECK(s.mean(1) == Approx(0.0));
    CHECK(s.cov(0, 0) == Approx((4 + 1 + 0 + 9) / 3.0));
    CHECK(s.cov(0, 1) == Approx((0 + 0 + 0 - 3) / 3.0));
    CHECK(s.cov(1, 1) == Approx(2 / 3.0));
    CHECK(fm::frechet_distance(s, s) == Approx(0).margin(1e-9));
    REQUIRE_THROWS_WITH(fm::stats_of(f.leftCols(1)), Contains("needs at least 2 feature vectors"));
    const fm::feature_stats three{Eigen::Vector3d::Zero(), Eigen::Matrix3d::Identity(), 3};
    REQUIRE_THROWS_WITH(fm::frechet_distance(s, three), Contains("dimension = 3 is invalid"));
  }
}

// ----------------------------------------------------------------------------------------- PNG grid

TEST_CASE("fashion_mnist: PNG grid", "[fashion_mnist]") {
  const temp_dir dir;
  Eigen::MatrixXf im(4, 3);  // three 2x2 images
  im << -1, 1, 0.5,          //
      1, -1, 0.5,            //
      0, 2, 0.5,             //
      -3, -1, 0.5;
  const std::filesystem::path p = dir.path / "grid.png";
  fm::write_png_grid(p, im, 2, {.columns = 2, .scale = 3, .gap = 1});
  int w = 0, h = 0, ch = 0;
  stbi_uc* px = stbi_load(p.string().c_str(), &w, &h, &ch, 1);
  REQUIRE(px != nullptr);
  CHECK(w == 2 * 6 + 3);  // 2 tiles of 2x3 pixels, 3 gaps
  CHECK(h == 2 * 6 + 3);
  auto at = [&](int x, int y) { return static_cast<int>(px[y * w + x]); };
  CHECK(at(0, 0) == 128);    // border
  CHECK(at(1, 1) == 0);      // image 0, pixel (0, 0) = −1
  CHECK(at(6, 3) == 255);    // image 0, pixel (0, 1) = 1, x = 1 + 3 + 2
  CHECK(at(3, 4) == 128);    // image 0, pixel (1, 0) = 0 → 127.5 rounds to 128
  CHECK(at(6, 6) == 0);      // image 0, pixel (1, 1) = −3, clamped
  CHECK(at(8, 1) == 255);    // image 1, pixel (0, 0) = 1
  CHECK(at(10, 4) == 255);   // image 1, pixel (1, 0) = 2, clamped
  CHECK(at(2, 9) == 191);    // image 2 (second row), 0.5 → 191.25
  CHECK(at(10, 10) == 128);  // no fourth image: grey
  stbi_image_free(px);
  REQUIRE_THROWS_WITH(fm::write_png_grid(dir.path / "no" / "such" / "dir.png", im, 2),
                      Contains("write_png_grid: ") && Contains("dir.png: cannot write the PNG file"));
  REQUIRE_THROWS_WITH(fm::write_png_grid(p, im, 3), Contains("images.rows() = 4 is invalid"));
}
