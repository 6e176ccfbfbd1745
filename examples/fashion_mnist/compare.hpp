/// @file
/// @brief Example code (not part of the library): what the two Fashion-MNIST demos (demo.cpp: the ε model,
/// flow_demo.cpp: the velocity model) share — one sampling run of a (method, budget, setting) and its
/// scores, the thread pool that runs them with a progress line, the FD floor, the distance to the ODE's
/// solution and the FD-vs-NFE plot.
#pragma once

#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fashion_mnist.hpp"
#include "samplers.hpp"

namespace fashion_mnist::demo {

/// The demos' command line, `OUT_DIR SAMPLES THREADS DATA_DIR ...`: argument `i`, or `fallback` when it is
/// missing or empty.
inline std::string argument(int argc, char** argv, int i, const std::string& fallback) {
  return argc > i && argv[i][0] != '\0' ? std::string(argv[i]) : fallback;
}

/// The arguments both demos take (defaults: ".", 5000 samples, 2 threads, Debian's data directory).
struct demo_arguments {
  std::filesystem::path dir;
  Eigen::Index samples = 0;
  int threads = 0;
  std::filesystem::path data;
};

/// Reads and checks arguments 1–4 (`program` names the errors: stork::error for a bad value).
inline demo_arguments read_arguments(int argc, char** argv, const std::string& program) {
  demo_arguments a{argument(argc, argv, 1, "."), std::stol(argument(argc, argv, 2, "5000")),
                   std::stoi(argument(argc, argv, 3, "2")),
                   argument(argc, argv, 4, default_data_dir.string())};
  if (a.samples < 64 || a.samples > 60000)
    throw stork::error("stork: " + program + ": samples must be 64 to 60000");
  if (a.threads < 1 || a.threads > 64) throw stork::error("stork: " + program + ": threads must be 1 to 64");
  return a;
}

/// False, after printing SKIP, when `data` has no Fashion-MNIST test set (the demos then exit with 77,
/// ctest's skip code).
inline bool has_test_set(const std::filesystem::path& data) {
  if (std::filesystem::exists(data / "t10k-images-idx3-ubyte.gz")) return true;
  std::printf("SKIP: %s has no Fashion-MNIST test set (Debian: dataset-fashion-mnist)\n",
              data.string().c_str());
  return false;
}

/// One sampling run: a method (index into the demo's list), an NFE budget (index into `nfe_budgets`) and
/// a setting (the flow demo's shift; 0 in the ε demo), the grid steps the budget rule chose, and results.
struct job {
  std::size_t method = 0, budget = 0, setting = 0;
  int steps = 0;
  std::size_t planned_nfe = 0;
  // results
  std::size_t nfe = 0, calls = 0;
  double fd = NAN, fd64 = NAN, ode_error = NAN, seconds = 0.0;
  mat first;  // the first 12 samples (for the figure of one budget)
  std::string error;
};

/// The columns of a run on which the distance to the ODE's solution is measured (fewer when the run has
/// fewer samples).
inline constexpr Eigen::Index max_ode_samples = 256;

/// Median over the columns of |a − b|/√d: the analytic benchmarks' error measure (docs/results).
inline double median_error(const mat& a, const mat& b) {
  std::vector<double> e(static_cast<std::size_t>(a.cols()));
  for (Eigen::Index j = 0; j < a.cols(); ++j)
    e[static_cast<std::size_t>(j)] =
        std::sqrt(static_cast<double>((a.col(j) - b.col(j)).squaredNorm()) / static_cast<double>(a.rows()));
  std::nth_element(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(e.size() / 2), e.end());
  return e[e.size() / 2];
}

/// v with `digits` decimals.
inline std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

/// @brief The FD floor: n training images (fashion_mnist_fd's seeded choice, rng(7)) against the reference
/// statistics, scored like the samples — what a perfect sampler scores with n samples.
inline double fd_floor(const classifier& c, const dataset& train, const feature_stats& ref, Eigen::Index n) {
  rng g(7);
  std::vector<Eigen::Index> perm(static_cast<std::size_t>(train.x.cols()));
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<Eigen::Index>(i);
  for (std::size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[g.below(i + 1)]);
  mat chosen(train.x.rows(), n);
  for (Eigen::Index j = 0; j < n; ++j) chosen.col(j) = train.x.col(perm[static_cast<std::size_t>(j)]);
  return image_fd(c, chosen, ref);
}

/// What a run needs besides its job: the network, the scorer and where the 8×8 PNG of its first 64
/// samples goes.
struct run_context {
  net_fn net;
  const classifier* scorer = nullptr;
  const feature_stats* reference = nullptr;
  int side = 14;
};

/// @brief Runs `m` on `grid` from `x` (the start state) and scores it into `j`: the model calls (counted
/// by the method and by a wrapper of the network), the FD of all samples and of the first 64, the first 12
/// samples, the distance to `ode` (the ODE's solution from the first `ode.cols()` start states), and the
/// PNG grid `png`.
inline void sample_and_score(job& j, const method_entry& m, const std::vector<double>& grid, mat x,
                             const run_context& ctx, const mat& ode, const std::filesystem::path& png) {
  std::size_t calls = 0;
  const net_fn counted = [&](const mat& y, double t, mat& out) {
    ++calls;
    ctx.net(y, t, out);
  };
  j.nfe = m.run(counted, x, grid).nfe;
  j.calls = calls;
  j.fd = image_fd(*ctx.scorer, x, *ctx.reference);
  j.fd64 = image_fd(*ctx.scorer, x.leftCols(64), *ctx.reference);
  j.first = x.leftCols(12);
  j.ode_error = median_error(x.leftCols(ode.cols()), ode);
  write_png_grid(png, x.leftCols(64), ctx.side);
}

/// @brief Runs `work` on every job on `threads` threads, each single-threaded, the longest (planned model
/// calls) first so that the threads finish together; the results do not depend on the order. A job that
/// throws gets the message in `error`; `seconds` is its wall time. A progress line per job on stderr
/// ("[k/n] <label>: FD ..., elapsed since `start` and an estimate of what is left").
inline void run_jobs(std::vector<job>& jobs, int threads, const std::function<void(job&)>& work,
                     const std::function<std::string(const job&)>& label,
                     std::chrono::steady_clock::time_point start) {
  double total_calls = 0.0;
  for (const job& j : jobs) total_calls += static_cast<double>(j.planned_nfe);
  std::vector<std::size_t> order(jobs.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return jobs[a].planned_nfe > jobs[b].planned_nfe; });
  std::atomic<std::size_t> next{0};
  std::mutex progress;
  std::size_t done = 0;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  double calls_done = 0;
  auto worker = [&] {
    for (std::size_t k; (k = next++) < jobs.size();) {
      job& j = jobs[order[k]];
      const auto js = std::chrono::steady_clock::now();
      try {
        work(j);
      } catch (const std::exception& e) {
        j.error = e.what();
      }
      j.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - js).count();
      const std::lock_guard<std::mutex> lock(progress);
      ++done;
      calls_done += static_cast<double>(j.planned_nfe);
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double left = t / calls_done * (total_calls - calls_done);
      std::fprintf(stderr, "%s[%3zu/%zu] %s: FD %8.3f  (%4.0f s elapsed, ~%4.0f s left)%s", tty ? "\r" : "",
                   done, jobs.size(), label(j).c_str(), j.fd, t, left, tty ? "" : "\n");
      std::fflush(stderr);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  if (tty) std::fprintf(stderr, "\n");
}

/// Whether a failed run is a stochastic sampler that diverged (stork's NaN/Inf check stopped it): a measured
/// result, not a failure of the demo.
inline bool diverged(const method_entry& m, const job& j) {
  return m.stochastic && j.error.find("NaN or Inf") != std::string::npos;
}

/// One line of the FD plot: (model calls, FD) points; stochastic methods dotted, STORK bold.
struct fd_series {
  std::string name;
  bool stochastic = false, bold = false;
  std::vector<std::pair<double, double>> points;
};

/// @brief FD against the actual model calls, log–log, one line per series, the floor dashed (an SVG,
/// 860×520). `heading` starts the title ("Fashion-MNIST eps model"). The FD axis ends at 500 (beyond the
/// noise ceiling: a broken run); points above it sit on the top edge.
inline void write_fd_svg(const std::filesystem::path& path, const std::string& heading,
                         const std::vector<fd_series>& series, double floor, Eigen::Index samples) {
  const double x0 = 70, x1 = 610, y0 = 40, y1 = 470, legend = 640;
  double lo = floor, hi = floor;
  for (const fd_series& s : series)
    for (const auto& p : s.points)
      if (std::isfinite(p.second)) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
  const double dlo = std::floor(std::log10(lo)), dhi = std::min(std::ceil(std::log10(hi)), std::log10(500.0));
  const double nlo = std::log(4.5), nhi = std::log(55.0);
  auto px = [&](double nfe) { return x0 + (std::log(nfe) - nlo) / (nhi - nlo) * (x1 - x0); };
  auto py = [&](double fd) { return y1 - (std::min(std::log10(fd), dhi) - dlo) / (dhi - dlo) * (y1 - y0); };
  const char* colours[] = {"#c0392b", "#e67e22", "#8e44ad", "#d35400", "#f1c40f", "#7f8c8d", "#2c3e50",
                           "#2980b9", "#16a085", "#27ae60", "#1abc9c", "#34495e", "#9b59b6", "#95a5a6",
                           "#3498db", "#e74c3c", "#6d4c41", "#ad1457", "#00838f", "#558b2f", "#4527a0",
                           "#ef6c00", "#b71c1c", "#1b5e20", "#0d47a1", "#827717"};
  std::ofstream os(path);
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='860' height='520' font-family='sans-serif' "
        "font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
     << "<text x='" << x0 << "' y='22' font-size='14'>" << heading << ": FD of " << samples
     << " samples vs the test set, against model calls (log-log"
     << (hi > 500.0 ? "; values above 500 on the top edge" : "") << ")</text>\n";
  os << "<rect x='" << x0 << "' y='" << y0 << "' width='" << x1 - x0 << "' height='" << y1 - y0
     << "' fill='none' stroke='#888'/>\n";
  for (int b : nfe_budgets)
    os << "<line x1='" << px(b) << "' x2='" << px(b) << "' y1='" << y0 << "' y2='" << y1
       << "' stroke='#eee'/>\n<text x='" << px(b) << "' y='" << y1 + 16 << "' text-anchor='middle'>" << b
       << "</text>\n";
  os << "<text x='" << (x0 + x1) / 2 << "' y='" << y1 + 36
     << "' text-anchor='middle'>model calls (NFE)</text>\n";
  for (double d = dlo; d <= dhi; ++d)
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, d);
      if (std::log10(v) > dhi + 1e-9) break;
      os << "<line x1='" << x0 << "' x2='" << x1 << "' y1='" << py(v) << "' y2='" << py(v)
         << "' stroke='#eee'/>\n<text x='" << x0 - 6 << "' y='" << py(v) + 4 << "' text-anchor='end'>" << v
         << "</text>\n";
    }
  os << "<text x='18' y='" << (y0 + y1) / 2 << "' transform='rotate(-90 18 " << (y0 + y1) / 2
     << ")' text-anchor='middle'>FD</text>\n";
  os << "<line x1='" << x0 << "' x2='" << x1 << "' y1='" << py(floor) << "' y2='" << py(floor)
     << "' stroke='#000' stroke-dasharray='6 4'/>\n<text x='" << x0 + 6 << "' y='" << py(floor) - 5
     << "'>floor: " << samples << " training images, FD " << fixed(floor, 2) << "</text>\n";
  for (std::size_t m = 0; m < series.size(); ++m) {
    const fd_series& s = series[m];
    const char* colour = colours[m % std::size(colours)];
    os << "<polyline fill='none' stroke='" << colour << "' stroke-width='" << (s.bold ? 2.4 : 1.6) << "'"
       << (s.stochastic ? " stroke-dasharray='2 3'" : "") << " points='";
    for (const auto& p : s.points)
      if (std::isfinite(p.second)) os << px(p.first) << ',' << py(p.second) << ' ';
    os << "'/>\n";
    const double ly =
        y0 + 8 + std::min(18.0, 470.0 / static_cast<double>(series.size())) * static_cast<double>(m);
    os << "<line x1='" << legend << "' x2='" << legend + 22 << "' y1='" << ly << "' y2='" << ly
       << "' stroke='" << colour << "' stroke-width='" << (s.bold ? 2.4 : 1.6) << "'"
       << (s.stochastic ? " stroke-dasharray='2 3'" : "") << "/>\n<text x='" << legend + 28 << "' y='"
       << ly + 4 << "'>" << s.name << "</text>\n";
  }
  os << "</svg>\n";
}

/// The FD series of the jobs of one setting: one per method, in the methods' order, its points in job order.
inline std::vector<fd_series> series_of(const std::vector<method_entry>& methods,
                                        const std::vector<job>& jobs, std::size_t setting = 0) {
  std::vector<fd_series> out;
  for (std::size_t m = 0; m < methods.size(); ++m) {
    fd_series s{methods[m].name, methods[m].stochastic, methods[m].name.rfind("stork", 0) == 0, {}};
    for (const job& j : jobs)
      if (j.method == m && j.setting == setting) s.points.emplace_back(static_cast<double>(j.nfe), j.fd);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace fashion_mnist::demo
