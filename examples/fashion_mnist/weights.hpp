/// @file
/// @brief Example code (not part of the library): the binary weight file of the Fashion-MNIST models.
///
/// Format (version 1): a text header of '\n'-terminated ASCII lines, then the payload.
/// @code
/// stork-fashion-mnist-weights v1 eps-mlp           <- magic, version, kind (eps-mlp or classifier-mlp)
/// config pixels 196 hidden 384 blocks 3 ...        <- the architecture: name value pairs (integers)
/// tensors 21                                       <- how many tensors follow
/// temb.w 128 32                                    <- name rows cols, in payload order (a bias: cols 1)
/// ...
/// payload float32-le 4759312 crc32 eb64e176        <- payload size in bytes and its CRC-32 (8 hex digits)
/// <payload: every tensor in order, row-major, IEEE-754 binary32 little-endian; nothing after it>
/// @endcode
/// The loader checks the magic, version and kind, that the tensor names and shapes are exactly those the
/// config's architecture needs (models.hpp), the payload length (truncated or trailing bytes), its CRC-32 and
/// that every value is finite; any problem throws stork::error naming the file and what is wrong.
#pragma once

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common.hpp"
#include "data.hpp"

namespace fashion_mnist {

inline constexpr std::string_view weights_magic = "stork-fashion-mnist-weights";

/// A tensor's name and shape (rows × cols, row-major).
struct tensor_spec {
  std::string name;
  int rows = 0, cols = 0;
  std::size_t size() const { return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols); }
  bool operator==(const tensor_spec&) const = default;
};

/// Everything a weight file holds.
struct weight_file {
  std::string kind;
  std::vector<std::pair<std::string, int>> config;
  std::vector<tensor_spec> tensors;
  std::vector<float> data;  ///< all tensors, concatenated in order
};

/// Writes `w` in the format above. Throws stork::error naming the file if it cannot be written.
inline void save_weights(const std::filesystem::path& path, const weight_file& w) {
  std::string head = std::string(weights_magic) + " v1 " + w.kind + "\nconfig";
  for (const auto& [k, v] : w.config) head += " " + k + " " + std::to_string(v);
  head += "\ntensors " + std::to_string(w.tensors.size()) + "\n";
  std::size_t total = 0;
  for (const tensor_spec& t : w.tensors) {
    head += t.name + " " + std::to_string(t.rows) + " " + std::to_string(t.cols) + "\n";
    total += t.size();
  }
  if (total != w.data.size())
    fail("save_weights", path.string(),
         "the tensors hold " + std::to_string(total) + " values, data has " + std::to_string(w.data.size()));
  std::vector<std::uint8_t> payload(4 * w.data.size());
  for (std::size_t i = 0; i < w.data.size(); ++i) {
    const auto u = std::bit_cast<std::uint32_t>(w.data[i]);
    for (std::size_t b = 0; b < 4; ++b) payload[4 * i + b] = static_cast<std::uint8_t>(u >> (8 * b));
  }
  head += "payload float32-le " + std::to_string(payload.size()) + " crc32 " + hex(crc32(payload), 8) + "\n";
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  os.write(head.data(), static_cast<std::streamsize>(head.size()));
  os.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
  os.close();
  if (!os) fail("save_weights", path.string(), "cannot write the file");
}

namespace detail {

/// Reads the header line by line from a byte buffer; errors name the file and the line.
struct header_reader {
  std::span<const std::uint8_t> bytes;
  std::string source;
  std::size_t pos = 0, line_no = 0;

  [[noreturn]] void fail_line(const std::string& why) const {
    fail("load_weights", source, "line " + std::to_string(line_no) + ": " + why);
  }
  std::vector<std::string> tokens(const std::string& what) {
    ++line_no;
    std::size_t end = pos;
    while (end < bytes.size() && bytes[end] != '\n' && end - pos < 4096) ++end;
    if (end >= bytes.size()) fail_line("file truncated: expected " + what + ", found the end of the file");
    if (bytes[end] != '\n')
      fail_line("expected " + what + ", found a line over 4096 bytes (not a weight file?)");
    std::vector<std::string> t;
    std::string cur;
    for (std::size_t i = pos; i < end; ++i) {
      const char c = static_cast<char>(bytes[i]);
      if (c == ' ') {
        if (!cur.empty()) t.push_back(std::move(cur));
        cur.clear();
      } else if (c < 0x21 || c > 0x7e) {
        fail_line("expected " + what + ", found a non-printable byte 0x" + hex(bytes[i], 2) +
                  " (not a weight file?)");
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) t.push_back(std::move(cur));
    pos = end + 1;
    return t;
  }
  long long integer(const std::string& s, const std::string& what, long long lo, long long hi) const {
    long long v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) fail_line(what + " = '" + s + "' is not an integer");
    if (v < lo || v > hi)
      fail_line(what + " = " + s + " is out of range (" + std::to_string(lo) + " to " + std::to_string(hi) +
                ")");
    return v;
  }
};

}  // namespace detail

/// @brief Reads a weight file of kind `kind`. Checks the format (not its architecture: the models do) and
/// the payload (length, CRC-32, finite values). Throws stork::error naming the file and the problem.
inline weight_file load_weights(const std::filesystem::path& path, std::string_view kind) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path, "load_weights");
  detail::header_reader rd{bytes, path.string()};
  std::vector<std::string> t = rd.tokens("the header line '" + std::string(weights_magic) + " v1 <kind>'");
  if (t.empty() || t[0] != weights_magic) rd.fail_line("not a stork Fashion-MNIST weight file (bad magic)");
  if (t.size() < 2 || t[1] != "v1")
    rd.fail_line("unsupported format version '" + (t.size() < 2 ? std::string() : t[1]) + "' (expected v1)");
  if (t.size() != 3) rd.fail_line("expected '<magic> v1 <kind>'");
  if (t[2] != kind)
    rd.fail_line("wrong kind of weights '" + t[2] + "' (expected '" + std::string(kind) + "')");
  weight_file w{t[2], {}, {}, {}};
  t = rd.tokens("the config line");
  if (t.empty() || t[0] != "config" || t.size() % 2 != 1)
    rd.fail_line("expected 'config <name> <value> ...'");
  for (std::size_t i = 1; i < t.size(); i += 2)
    w.config.emplace_back(t[i], static_cast<int>(rd.integer(t[i + 1], "config " + t[i], 0, 1 << 20)));
  t = rd.tokens("'tensors <count>'");
  if (t.size() != 2 || t[0] != "tensors") rd.fail_line("expected 'tensors <count>'");
  const auto count = static_cast<std::size_t>(rd.integer(t[1], "tensor count", 1, 1000));
  std::size_t total = 0;
  for (std::size_t k = 0; k < count; ++k) {
    t = rd.tokens("tensor " + std::to_string(k + 1) + " as '<name> <rows> <cols>'");
    if (t.size() != 3)
      rd.fail_line("expected tensor " + std::to_string(k + 1) + " as '<name> <rows> <cols>'");
    tensor_spec s{t[0], static_cast<int>(rd.integer(t[1], t[0] + " rows", 1, 1 << 16)),
                  static_cast<int>(rd.integer(t[2], t[0] + " cols", 1, 1 << 16))};
    total += s.size();
    if (total > (std::size_t{1} << 28)) rd.fail_line("too many values (over 2^28)");
    w.tensors.push_back(std::move(s));
  }
  t = rd.tokens("'payload float32-le <bytes> crc32 <hex>'");
  if (t.size() != 5 || t[0] != "payload" || t[1] != "float32-le" || t[3] != "crc32" || t[4].size() != 8)
    rd.fail_line("expected 'payload float32-le <bytes> crc32 <8 hex digits>'");
  const auto declared = static_cast<std::size_t>(rd.integer(t[2], "payload bytes", 0, 1LL << 30));
  if (declared != 4 * total)
    rd.fail_line("payload of " + t[2] + " bytes, but the tensors need " + std::to_string(4 * total) +
                 " (wrong shapes?)");
  std::uint32_t stored_crc = 0;
  if (const auto [p, ec] = std::from_chars(t[4].data(), t[4].data() + 8, stored_crc, 16);
      ec != std::errc{} || p != t[4].data() + 8)
    rd.fail_line("crc32 '" + t[4] + "' is not 8 hex digits");
  const std::size_t have = bytes.size() - rd.pos;
  if (have < declared)
    fail("load_weights", path.string(),
         "file truncated: the payload has " + std::to_string(have) + " of " + std::to_string(declared) +
             " bytes");
  if (have > declared)
    fail("load_weights", path.string(),
         std::to_string(have - declared) + " unexpected bytes after the payload");
  const std::span<const std::uint8_t> payload(bytes.data() + rd.pos, declared);
  if (const std::uint32_t crc = crc32(payload); crc != stored_crc)
    fail("load_weights", path.string(),
         "checksum mismatch: the header says crc32 " + t[4] + ", the payload has " + hex(crc, 8) +
             " (corrupt file)");
  w.data.resize(total);
  for (std::size_t i = 0; i < total; ++i) {
    std::uint32_t u = 0;
    for (std::size_t b = 0; b < 4; ++b) u |= static_cast<std::uint32_t>(payload[4 * i + b]) << (8 * b);
    w.data[i] = std::bit_cast<float>(u);
    if (!std::isfinite(w.data[i]))
      fail("load_weights", path.string(), "value " + std::to_string(i) + " of the payload is not finite");
  }
  return w;
}

/// Empty if `file` holds exactly the tensors `want` (names and shapes, in order), else what differs.
inline std::string tensor_mismatch(const std::vector<tensor_spec>& file,
                                   const std::vector<tensor_spec>& want) {
  auto shape = [](const tensor_spec& s) { return std::to_string(s.rows) + "x" + std::to_string(s.cols); };
  for (std::size_t k = 0; k < std::min(file.size(), want.size()); ++k) {
    if (file[k].name != want[k].name)
      return "tensor " + std::to_string(k + 1) + " is '" + file[k].name + "', the architecture needs '" +
             want[k].name + "'";
    if (!(file[k] == want[k]))
      return "tensor '" + file[k].name + "' is " + shape(file[k]) + ", the architecture needs " +
             shape(want[k]);
  }
  if (file.size() != want.size())
    return std::to_string(file.size()) + " tensors, the architecture needs " + std::to_string(want.size());
  return {};
}

}  // namespace fashion_mnist
