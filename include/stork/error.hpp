/// @file
/// @brief stork::error, the one exception type the library throws for bad input.
#pragma once

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace stork {

/// @brief Thrown for every invalid argument: bad stage counts, grids, sizes, options, non-finite values.
///
/// The message names the parameter and the offending value, e.g.
/// `stork: rkg2: stages = 1 is invalid (needs stages >= 2)`. When a call throws it, the caller's state
/// (the sampled `x`, a scheduler) is left as it was before the call.
class error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

/// Shortest decimal that reads back as the same double ("nan", "inf" spelled out).
inline std::string describe(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  for (int prec = 6; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
inline std::string describe(long long v) { return std::to_string(v); }
inline std::string describe(int v) { return std::to_string(v); }
inline std::string describe(std::size_t v) { return std::to_string(v); }

/// Throws stork::error("stork: <where>: <param> = <value> is invalid (<why>)").
template <class V>
[[noreturn]] void fail(std::string_view where, std::string_view param, const V& value, std::string_view why) {
  std::string msg = "stork: ";
  msg.append(where).append(": ").append(param).append(" = ").append(describe(value));
  msg.append(" is invalid (").append(why).append(")");
  throw error(msg);
}

}  // namespace detail
}  // namespace stork
