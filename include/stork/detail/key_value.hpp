/// @file
/// @brief Internal: the `"key=value,key=value"` option strings of the run-time menu (`sigmas_from_name`,
/// and the method options), parsed strictly.
///
/// The syntax is stable-diffusion.cpp's `extra_sample_args` (src/core/util.cpp, `parse_key_value_args`,
/// `parse_strict_float`, `parse_strict_bool`): items are separated by ',' or ';', spaces and tabs around
/// keys, values and items are ignored, empty items are skipped, and an item is split at its first '='.
/// stable-diffusion.cpp logs a warning and goes on for a malformed item, an unknown key or a bad value;
/// stork throws stork::error instead, naming the key, the value and every accepted key, so that a typo
/// in a command line is an error and not a silently different grid. A key given twice is an error too
/// (stable-diffusion.cpp keeps the last one).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#if defined(__has_include)
#if __has_include(<version>)
#include <version>
#endif
#endif
#include <charconv>
#if !(defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L)
#include <locale>
#include <sstream>
#endif

#include "stork/error.hpp"

namespace stork::detail {

/// One `key=value` item of an option string; both views point into the parsed string.
struct key_value {
  std::string_view key;
  std::string_view value;
};

/// `s` without leading and trailing spaces, tabs, carriage returns and newlines.
inline std::string_view trim_blanks(std::string_view s) noexcept {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

/// "a, b, c" (or `none` for an empty list).
inline std::string join_names(const std::vector<std::string_view>& names, std::string_view none = "none") {
  if (names.empty()) return std::string(none);
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  return out;
}

/// Throws stork::error("stork: <where>: <param> = \"<value>\" is invalid (<why>)"): detail::fail for a
/// value given as text (quoted, so that an empty or blank value is visible).
[[noreturn]] inline void fail_text(std::string_view where, std::string_view param, std::string_view value,
                                   std::string_view why) {
  std::string msg = "stork: ";
  msg.append(where).append(": ").append(param).append(" = \"").append(value).append("\" is invalid (");
  msg.append(why).append(")");
  throw error(msg);
}

/// Parses all of `s` as a decimal floating-point number in the C locale ("0.6", "-1.5e-3", "+2", ".5";
/// not "0x1p3", "1,5" or "1.5abc"); "inf" and "nan" parse and are left to the caller to reject. Returns
/// false if `s` is not one number. Independent of the global locale.
inline bool parse_decimal(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) return false;
  }
  if (s.empty() || s.front() == ' ' || s.front() == '\t') return false;
  if (s.find_first_of("xX") != std::string_view::npos) return false;  // no hexadecimal, whatever the library
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
  double v = 0.0;
  const char* const end = s.data() + s.size();
  const std::from_chars_result r = std::from_chars(s.data(), end, v);
  if (r.ec != std::errc() || r.ptr != end) return false;
  out = v;
  return true;
#else  // libc++ before floating-point from_chars: a stream imbued with the classic locale
  std::istringstream in{std::string(s)};
  in.imbue(std::locale::classic());
  double v = 0.0;
  in >> std::noskipws >> v;
  if (in.fail() || in.peek() != std::char_traits<char>::eof()) return false;
  out = v;
  return true;
#endif
}

/// Parses all of `s` as a decimal integer ("12", "-3", "+4"). Returns false if `s` is not one integer
/// or does not fit an int.
inline bool parse_integer(std::string_view s, int& out) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) return false;
  }
  if (s.empty()) return false;
  int v = 0;
  const char* const end = s.data() + s.size();
  const std::from_chars_result r = std::from_chars(s.data(), end, v);
  if (r.ec != std::errc() || r.ptr != end) return false;
  out = v;
  return true;
}

/// stable-diffusion.cpp's `parse_strict_bool`, case-insensitive: 1/true/yes/on and 0/false/no/off.
inline bool parse_boolean(std::string_view s, bool& out) {
  std::string low(s);
  for (char& c : low)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (low == "1" || low == "true" || low == "yes" || low == "on") {
    out = true;
    return true;
  }
  if (low == "0" || low == "false" || low == "no" || low == "off") {
    out = false;
    return true;
  }
  return false;
}

/// Splits `text` into its `key=value` items (see the file comment for the syntax). Throws stork::error,
/// naming `options` and the text, for an item without '=' or with an empty key.
/// @par Cost: O(length of text); the views point into `text`.
inline std::vector<key_value> split_key_values(std::string_view where, std::string_view text) {
  std::vector<key_value> items;
  std::size_t start = 0;
  for (std::size_t pos = 0; pos <= text.size(); ++pos) {
    if (pos != text.size() && text[pos] != ',' && text[pos] != ';') continue;
    const std::string_view item = trim_blanks(text.substr(start, pos - start));
    start = pos + 1;
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      fail_text(
          where, "options", text,
          "the item \"" + std::string(item) + "\" has no '='; write key=value, separated by ',' or ';'");
    const std::string_view key = trim_blanks(item.substr(0, eq));
    if (key.empty())
      fail_text(where, "options", text, "the item \"" + std::string(item) + "\" has an empty key");
    items.push_back({key, trim_blanks(item.substr(eq + 1))});
  }
  return items;
}

/// @brief The options of one menu entry: parses an option string once, rejects any key outside
/// `accepted` (and any key given twice), and reads typed values with strict checks.
///
/// Every error is a stork::error that names `where` (e.g. `sigmas_from_name("beta")`), the key, the
/// value as given, what is needed, and the accepted keys. The object keeps views into `text` and
/// `accepted`: it must not outlive them.
/// @code
/// detail::key_value_options o("sigmas_from_name(\"beta\")", "alpha=0.5", {"alpha", "beta"});
/// const double alpha = o.real("alpha", 0.6);     // 0.5
/// const double beta = o.real("beta", 0.6);       // 0.6, the fallback
/// @endcode
/// @par Cost: O(items · accepted keys) to construct, O(items) per read.
class key_value_options {
 public:
  key_value_options(std::string_view where, std::string_view text, std::vector<std::string_view> accepted)
      : where_(where), accepted_(std::move(accepted)), items_(split_key_values(where, text)) {
    for (std::size_t i = 0; i < items_.size(); ++i) {
      bool known = false;
      for (std::string_view a : accepted_) known = known || a == items_[i].key;
      if (!known)
        fail_text(where_, "options", text,
                  "unknown key \"" + std::string(items_[i].key) + "\"; " + accepted_list());
      for (std::size_t j = 0; j < i; ++j)
        if (items_[j].key == items_[i].key)
          fail_text(where_, "options", text,
                    "the key \"" + std::string(items_[i].key) + "\" is given twice; " + accepted_list());
    }
  }

  /// True if the string sets `key`.
  bool has(std::string_view key) const noexcept { return find(key) != nullptr; }

  /// The value of `key` as a finite number, or `fallback` if the key is absent.
  double real(std::string_view key, double fallback) const {
    const key_value* kv = find(key);
    if (kv == nullptr) return fallback;
    double v = 0.0;
    if (!parse_decimal(kv->value, v) || !std::isfinite(v))
      fail_text(where_, kv->key, kv->value, "needs a finite decimal number; " + accepted_list());
    return v;
  }

  /// The value of `key` as an integer, or `fallback` if the key is absent.
  int integer(std::string_view key, int fallback) const {
    const key_value* kv = find(key);
    if (kv == nullptr) return fallback;
    int v = 0;
    if (!parse_integer(kv->value, v))
      fail_text(where_, kv->key, kv->value, "needs an integer; " + accepted_list());
    return v;
  }

  /// The value of `key` as a boolean (1/true/yes/on, 0/false/no/off, any case), or `fallback`.
  bool boolean(std::string_view key, bool fallback) const {
    const key_value* kv = find(key);
    if (kv == nullptr) return fallback;
    bool v = false;
    if (!parse_boolean(kv->value, v))
      fail_text(where_, kv->key, kv->value, "needs true/false, 1/0, yes/no or on/off; " + accepted_list());
    return v;
  }

  /// The value of `key`, which must be one of `allowed` (exactly, case-sensitive), or `fallback`.
  std::string_view choice(std::string_view key, std::string_view fallback,
                          const std::vector<std::string_view>& allowed) const {
    const key_value* kv = find(key);
    if (kv == nullptr) return fallback;
    for (std::string_view a : allowed)
      if (a == kv->value) return a;
    fail_text(where_, kv->key, kv->value, "needs one of " + join_names(allowed) + "; " + accepted_list());
  }

  /// Throws stork::error naming `key` and its value, with `why` and the accepted keys (for range checks
  /// made after reading the value).
  [[noreturn]] void reject(std::string_view key, std::string_view why) const {
    const key_value* kv = find(key);
    fail_text(where_, key, kv != nullptr ? kv->value : std::string_view(),
              std::string(why) + "; " + accepted_list());
  }

  /// "accepted keys: a, b" (or "this takes no options").
  std::string accepted_list() const {
    return accepted_.empty() ? std::string("this takes no options")
                             : "accepted keys: " + join_names(accepted_);
  }

 private:
  const key_value* find(std::string_view key) const noexcept {
    for (const key_value& kv : items_)
      if (kv.key == key) return &kv;
    return nullptr;
  }

  std::string_view where_;
  std::vector<std::string_view> accepted_;
  std::vector<key_value> items_;
};

}  // namespace stork::detail
