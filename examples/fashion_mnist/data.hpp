/// @file
/// @brief Example code (not part of the library): the Fashion-MNIST reader — gzip (RFC 1952) with the
/// deflate body inflated by stb_image's zlib decoder, IDX (big-endian magic, dimensions, unsigned bytes) —
/// and the conversion to model space (2×2 average pooling to 14×14, pixels scaled to [−1, 1]).
///
/// The data come from Debian's `dataset-fashion-mnist` package (MIT licence):
/// /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, 60,000 training and
/// 10,000 test images of 28×28 with labels 0..9. Every problem with a file — missing, not gzip, truncated,
/// CRC or size mismatch, wrong IDX magic or dimensions, too few or too many bytes, a label out of range —
/// throws stork::error naming the function, the file and the problem.
///
/// An executable that includes this header must compile stb_image's implementation once:
/// examples/fashion_mnist/stb_impl.cpp does (STBI_ONLY_PNG keeps the zlib decoder).
#pragma once

#include <stb/stb_image.h>

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "common.hpp"

namespace fashion_mnist {

/// Where Debian's dataset-fashion-mnist package puts the files.
inline const std::filesystem::path default_data_dir = "/usr/share/datasets/fashion-mnist";

/// Side of an original image.
inline constexpr int original_side = 28;
/// Number of classes (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).
inline constexpr int classes = 10;

/// Reads a whole file. Throws stork::error (naming `where` and the file) if it cannot be opened or read.
inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path, std::string_view where) {
  std::ifstream is(path, std::ios::binary);
  if (!is) fail(where, path.string(), "cannot open the file");
  std::vector<std::uint8_t> bytes;
  char buf[1 << 16];
  while (is.read(buf, sizeof buf) || is.gcount() > 0) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(buf);
    bytes.insert(bytes.end(), p, p + is.gcount());
    if (!is) break;
  }
  if (is.bad()) fail(where, path.string(), "read error");
  return bytes;
}

/// @brief Decompresses a gzip member held in memory; `source` names it in errors.
///
/// Parses the RFC 1952 header (magic 1f 8b, method 8 = deflate, flags FTEXT/FHCRC/FEXTRA/FNAME/FCOMMENT;
/// the optional fields are skipped and the header CRC-16 is checked when present), inflates the body with
/// `stbi_zlib_decode_noheader_malloc` and checks the trailer: CRC-32 and ISIZE (length mod 2³²) of the
/// inflated data. One member only (the IDX files are single-member). Throws stork::error.
inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> in, const std::string& source) {
  constexpr std::string_view where = "gunzip";
  constexpr std::size_t trailer = 8;
  if (in.size() < 10 + trailer)
    fail(where, source,
         "not a gzip file (" + std::to_string(in.size()) + " bytes, a gzip file has at least 18)");
  if (in[0] != 0x1f || in[1] != 0x8b)
    fail(where, source,
         "not a gzip file (starts with bytes " + hex(in[0], 2) + " " + hex(in[1], 2) +
             ", gzip starts with 1f 8b)");
  if (in[2] != 8)
    fail(where, source,
         "unsupported gzip compression method " + std::to_string(in[2]) + " (only 8 = deflate)");
  const std::uint8_t flags = in[3];
  if (flags & 0xE0U)
    fail(where, source, "reserved gzip header flags are set (flags byte " + hex(flags, 2) + ")");
  std::size_t pos = 10;  // magic, method, flags, mtime (4), extra flags, OS
  const std::size_t body_end = in.size() - trailer;
  auto need = [&](std::size_t n, const char* what) {
    if (n > body_end - pos) fail(where, source, std::string("truncated gzip header (in the ") + what + ")");
  };
  if (flags & 0x04U) {  // FEXTRA: 2-byte little-endian length, then that many bytes
    need(2, "FEXTRA length");
    const std::size_t xlen = in[pos] | (static_cast<std::size_t>(in[pos + 1]) << 8);
    pos += 2;
    need(xlen, "FEXTRA field");
    pos += xlen;
  }
  for (const auto& [bit, what] : {std::pair{0x08U, "file name"}, std::pair{0x10U, "comment"}}) {
    if (!(flags & bit)) continue;  // FNAME, FCOMMENT: zero-terminated
    while (true) {
      need(1, what);
      if (in[pos++] == 0) break;
    }
  }
  if (flags & 0x02U) {  // FHCRC: the low 16 bits of the CRC-32 of the header bytes before it
    need(2, "header CRC");
    const std::uint32_t stored = in[pos] | (static_cast<std::uint32_t>(in[pos + 1]) << 8);
    const std::uint32_t computed = crc32(in.first(pos)) & 0xFFFFU;
    if (stored != computed)
      fail(where, source,
           "gzip header CRC-16 mismatch (stored " + hex(stored, 4) + ", computed " + hex(computed, 4) + ")");
    pos += 2;
  }
  if (pos == body_end) fail(where, source, "truncated: no compressed data after the gzip header");
  if (in.size() - pos > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    fail(where, source, "compressed data too large for the decoder (over 2 GiB)");
  // The decoder is given the 8 trailer bytes too: it stops at the final deflate block, and stb_image 2.27
  // wrongly reports "bad huffman code" when a stream's last codes sit in its final 2 bytes without input
  // after them (in PNG the Adler-32 always follows).
  int out_len = 0;
  char* out = stbi_zlib_decode_noheader_malloc(reinterpret_cast<const char*>(in.data() + pos),
                                               static_cast<int>(in.size() - pos), &out_len);
  if (out == nullptr)
    fail(where, source,
         std::string("corrupt or truncated deflate data (the decoder says: ") + stbi_failure_reason() + ")");
  std::vector<std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(out),
                                 reinterpret_cast<const std::uint8_t*>(out) + out_len);
  stbi_image_free(out);
  auto le32 = [&](std::size_t p) {
    return in[p] | (static_cast<std::uint32_t>(in[p + 1]) << 8) |
           (static_cast<std::uint32_t>(in[p + 2]) << 16) | (static_cast<std::uint32_t>(in[p + 3]) << 24);
  };
  const std::uint32_t stored_crc = le32(body_end), stored_size = le32(body_end + 4);
  const std::uint32_t crc = crc32(data);
  if (stored_crc != crc)
    fail(where, source,
         "CRC-32 mismatch (trailer says " + hex(stored_crc, 8) + ", the inflated data have " + hex(crc, 8) +
             "): the file is corrupt or truncated");
  if (stored_size != static_cast<std::uint32_t>(data.size()))
    fail(where, source,
         "size mismatch (trailer says " + std::to_string(stored_size) + " bytes, inflated " +
             std::to_string(data.size()) + "): the file is corrupt or truncated");
  return data;
}

/// Reads and decompresses a gzip file. Throws stork::error naming the file.
inline std::vector<std::uint8_t> read_gzip(const std::filesystem::path& path) {
  return gunzip(read_file_bytes(path, "read_gzip"), path.string());
}

/// Images as stored: `count` images of rows×cols unsigned bytes, row by row, image after image.
struct idx_images {
  int count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;
};

namespace detail {
inline std::uint32_t be32(std::span<const std::uint8_t> b, std::size_t p) {
  return (static_cast<std::uint32_t>(b[p]) << 24) | (static_cast<std::uint32_t>(b[p + 1]) << 16) |
         (static_cast<std::uint32_t>(b[p + 2]) << 8) | b[p + 3];
}
/// Checks the magic and the byte count of an IDX file with `dims` dimensions of unsigned bytes and returns
/// the dimensions.
inline std::vector<std::uint32_t> idx_dims(std::span<const std::uint8_t> b, int dims,
                                           const std::string& source, std::string_view where,
                                           const char* what) {
  const std::uint32_t want = 0x0800U + static_cast<std::uint32_t>(dims);
  if (b.size() < 4)
    fail(where, source, "truncated IDX data (" + std::to_string(b.size()) + " bytes, no magic number)");
  const std::uint32_t magic = be32(b, 0);
  if (magic != want)
    fail(where, source,
         "wrong IDX magic 0x" + hex(magic, 8) + " (expected 0x" + hex(want, 8) + ": " + what + ")");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(dims);
  if (b.size() < header)
    fail(where, source,
         "truncated IDX header (" + std::to_string(b.size()) + " bytes, the header needs " +
             std::to_string(header) + ")");
  std::vector<std::uint32_t> d;
  std::uint64_t total = 1;
  for (int k = 0; k < dims; ++k) {
    d.push_back(be32(b, 4 + 4 * static_cast<std::size_t>(k)));
    total *= d.back();
    if (total > (std::uint64_t{1} << 32)) fail(where, source, "IDX dimensions too large");
  }
  if (b.size() - header != total)
    fail(where, source,
         "IDX size mismatch: the dimensions need " + std::to_string(total) + " data bytes, found " +
             std::to_string(b.size() - header) + (b.size() - header < total ? " (truncated)" : ""));
  return d;
}
}  // namespace detail

/// Parses IDX images (magic 0x00000803: unsigned bytes, 3 dimensions count × 28 × 28). Throws stork::error.
inline idx_images parse_idx_images(std::span<const std::uint8_t> b, const std::string& source) {
  constexpr std::string_view where = "parse_idx_images";
  const std::vector<std::uint32_t> d =
      detail::idx_dims(b, 3, source, where, "unsigned-byte images, 3 dimensions");
  if (d[1] != original_side || d[2] != original_side)
    fail(where, source,
         "wrong IDX dimensions " + std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" +
             std::to_string(d[2]) + " (Fashion-MNIST images are 28x28)");
  if (d[0] == 0 || d[0] > 1000000)
    fail(where, source, "image count " + std::to_string(d[0]) + " out of range (1 to 1000000)");
  idx_images im{static_cast<int>(d[0]), original_side, original_side, {}};
  im.pixels.assign(b.begin() + 16, b.end());
  return im;
}

/// Parses IDX labels (magic 0x00000801: unsigned bytes, 1 dimension), each in 0..9. Throws stork::error.
inline std::vector<std::uint8_t> parse_idx_labels(std::span<const std::uint8_t> b,
                                                  const std::string& source) {
  constexpr std::string_view where = "parse_idx_labels";
  const std::vector<std::uint32_t> d =
      detail::idx_dims(b, 1, source, where, "unsigned-byte labels, 1 dimension");
  if (d[0] == 0 || d[0] > 1000000)
    fail(where, source, "label count " + std::to_string(d[0]) + " out of range (1 to 1000000)");
  std::vector<std::uint8_t> labels(b.begin() + 8, b.end());
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= classes)
      fail(
          where, source,
          "label " + std::to_string(labels[i]) + " at index " + std::to_string(i) + " out of range (0 to 9)");
  return labels;
}

inline idx_images read_idx_images(const std::filesystem::path& path) {
  return parse_idx_images(read_gzip(path), path.string());
}
inline std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& path) {
  return parse_idx_labels(read_gzip(path), path.string());
}

/// @brief Model space: each image one column of `side·side` floats in [−1, 1], row-major within the image.
/// `factor` 2 averages 2×2 blocks (28×28 → 14×14), `factor` 1 keeps 28×28; v = 2·mean/255 − 1.
inline Eigen::MatrixXf to_model_space(const idx_images& im, int factor = 2) {
  if (factor != 1 && factor != 2)
    stork::detail::fail("fashion_mnist::to_model_space", "factor", factor, "needs 1 or 2");
  const int side = im.rows / factor;
  const Eigen::Index px = static_cast<Eigen::Index>(side) * side;
  Eigen::MatrixXf x(px, im.count);
  const float scale = 2.0f / (255.0f * static_cast<float>(factor * factor));
  const std::size_t stride = static_cast<std::size_t>(im.rows) * static_cast<std::size_t>(im.cols);
  for (int n = 0; n < im.count; ++n) {
    const std::uint8_t* p = im.pixels.data() + static_cast<std::size_t>(n) * stride;
    for (int r = 0; r < side; ++r)
      for (int c = 0; c < side; ++c) {
        int sum = 0;
        for (int dr = 0; dr < factor; ++dr)
          for (int dc = 0; dc < factor; ++dc)
            sum += p[static_cast<std::size_t>((r * factor + dr) * im.cols + c * factor + dc)];
        x(r * side + c, n) = static_cast<float>(sum) * scale - 1.0f;
      }
  }
  return x;
}

enum class split { train, test };

/// Images in model space (pixels × count) with their labels.
struct dataset {
  Eigen::MatrixXf x;
  std::vector<std::uint8_t> labels;
  int side = 0;
};

/// @brief Loads the training (60,000) or test (10,000) split from `dir` (default: the Debian package's
/// directory), pooled by `factor`. Throws stork::error naming the file for anything wrong, including image
/// and label files of different lengths.
inline dataset load_dataset(split s, const std::filesystem::path& dir = default_data_dir, int factor = 2) {
  const std::string stem = s == split::train ? "train" : "t10k";
  const std::filesystem::path ip = dir / (stem + "-images-idx3-ubyte.gz"),
                              lp = dir / (stem + "-labels-idx1-ubyte.gz");
  const idx_images im = read_idx_images(ip);
  dataset d{to_model_space(im, factor), read_idx_labels(lp), original_side / factor};
  if (d.labels.size() != static_cast<std::size_t>(im.count))
    fail("load_dataset", lp.string(),
         std::to_string(d.labels.size()) + " labels for " + std::to_string(im.count) + " images in " +
             ip.string());
  return d;
}

}  // namespace fashion_mnist
