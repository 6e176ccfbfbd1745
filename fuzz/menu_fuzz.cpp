// libFuzzer target for the run-time menu (issue 18): arbitrary bytes become a method name and option string
// (`stork::method_from_name`) and a schedule name, step count, context and option string
// (`stork::sigmas_from_name`): a known name picked by a byte and then mutated, or raw text. Every call must
// end normally or with stork::error; a σ list that comes back must be finite, non-increasing from its first
// value and end with 0; a method that comes back must run a short grid (the exact denoiser of a Gaussian,
// a seeded noise source) to a state without NaN or throw stork::error with x unchanged. Anything else aborts.
//
// Build: cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DSTORK_BUILD_FUZZERS=ON && cmake --build
// build/fuzz --target stork_menu_fuzz; run: build/fuzz/fuzz/stork_menu_fuzz -max_total_time=30.
#include <stork/stork.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void invariant_broken(const char* what) {
  std::fprintf(stderr, "stork_menu_fuzz: invariant broken: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond)                  \
  do {                                    \
    if (!(cond)) invariant_broken(#cond); \
  } while (false)

/// Splits the input at '\n' into fields (the last one takes the rest).
std::vector<std::string_view> fields(std::string_view in, std::size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    const std::size_t nl = in.find('\n');
    if (nl == std::string_view::npos) break;
    out.push_back(in.substr(0, nl));
    in.remove_prefix(nl + 1);
  }
  out.push_back(in);
  while (out.size() < n) out.emplace_back();
  return out;
}

/// A name: a known one (chosen by the first byte, when it is not ASCII) with the rest of the field appended
/// or not, or the raw field.
std::string name_from(std::string_view field, const std::vector<std::string_view>& known) {
  if (field.empty()) return std::string();
  const auto b = static_cast<unsigned char>(field.front());
  if (b < 0x80) return std::string(field);
  std::string name(known[b % known.size()]);
  if ((b & 1u) != 0) name.append(field.substr(1));
  return name;
}

void fuzz_schedule(std::string_view name_field, std::string_view options, std::uint8_t steps_byte,
                   std::uint8_t context_byte) {
  static const stork::vp_discrete sd = stork::vp_discrete::scaled_linear(1000, 0.00085, 0.012);
  stork::schedule_context ctx;
  if ((context_byte & 1u) != 0) ctx.table = &sd;
  if ((context_byte & 2u) != 0) ctx.flow_shift = 0.5 + (context_byte >> 4);
  if ((context_byte & 4u) != 0) ctx.image_seq_len = 64 * (1 + (context_byte >> 3));
  ctx.options = options;
  const std::string name = name_from(name_field, stork::schedule_names());
  const int steps = static_cast<int>(steps_byte % 70) - 2;
  try {
    const std::vector<double> s = stork::sigmas_from_name(name, steps, ctx);
    FUZZ_CHECK(s.size() >=
               2);  // steps + 1, but for ComfyUI's ddim_uniform, whose stride rounds (as its code)
    FUZZ_CHECK(s.back() == 0.0);
    for (std::size_t i = 0; i < s.size(); ++i) {
      FUZZ_CHECK(std::isfinite(s[i]) && s[i] >= 0.0);
      if (i > 0) FUZZ_CHECK(s[i] <= s[i - 1]);
    }
  } catch (const stork::error&) {
  }
}

void fuzz_method(std::string_view name_field, std::string_view options, std::uint8_t grid_byte) {
  const std::string name = name_from(name_field, stork::method_names());
  try {
    const stork::any_method m = stork::method_from_name(name, options);
    FUZZ_CHECK(!m.name().empty());
    // A short Karras grid and the exact denoiser of N(1, 0.5²).
    const int steps = 1 + grid_byte % 6;
    const std::vector<double> grid = stork::karras_sigmas(steps);
    std::vector<double> x(3, grid.front() * 0.5);
    const std::vector<double> before = x;
    auto denoiser = [](const std::vector<double>& y, double sigma, std::vector<double>& d) {
      for (std::size_t i = 0; i < y.size(); ++i) d[i] = 1.0 + 0.25 / (0.25 + sigma * sigma) * (y[i] - 1.0);
    };
    try {
      stork::integrate(m, stork::field(denoiser, stork::ve{}), x, grid, stork::normal_noise{grid_byte});
      for (double v : x) FUZZ_CHECK(!std::isnan(v));
    } catch (const stork::error&) {
      FUZZ_CHECK(x == before);
    }
  } catch (const stork::error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::vector<std::string_view> f = fields(in, 4);
  fuzz_method(f[0], f[1], data[0]);
  fuzz_schedule(f[2], f[3], data[0], data[1]);
  return 0;
}
