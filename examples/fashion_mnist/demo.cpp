// Samples the trained Fashion-MNIST ε model with every sampler at NFE 5 … 50 from the same noise, each on
// the grid its users run an SD-type ε model on (samplers.hpp), and scores the samples by the Fréchet
// distance (FD) of the classifier's features against the 10,000 test images.
//
//   fashion_mnist_demo [output dir, default .] [samples, default 5000] [threads, default 2] [data dir]
//
// Writes into the output directory:
// - fd.csv: method, grid, steps, NFE budget, actual model calls, FD of all samples, FD of the first 64,
//   seconds, and the floor (FD of as many training images);
// - fd_vs_nfe.svg: FD against the actual model calls (both axes logarithmic), one line per method, the floor;
// - <method>_nfe<budget>.png: the first 64 samples, 8×8;
// - nfe10_by_method.png: 12 test images, then the first 12 samples of every method at NFE 10 (same noise).
// The terminal gets a progress line and the table. Runs (method, budget) pairs on `threads` threads, each
// single-threaded; the results do not depend on the thread count. Exit status 1 if a run's model-call
// count differs from what the budget rule planned, an FD is not finite or a run fails (a stochastic sampler
// that diverges to NaN/Inf is a result, printed as "error" with its message, not a failure), 77 if the
// dataset is missing.
//
// Cost: one model call on 5,000 images takes about 0.2 s on one idle core (AVX2); the full run makes 3,566
// of them (26 methods x 7 budgets) plus the ODE references on 256 samples: measured 1,020 s wall on 2
// threads of a machine shared with other builds (0.41 s a call there). Time scales with the sample count.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "compare.hpp"
#include "fashion_mnist.hpp"
#include "figure.hpp"
#include "samplers.hpp"

namespace {
namespace fm = fashion_mnist;
namespace dm = fashion_mnist::demo;
using dm::job;
using dm::mat;
}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const std::filesystem::path here = std::filesystem::path(__FILE__).parent_path();
  const dm::demo_arguments args = dm::read_arguments(argc, argv, "fashion_mnist_demo");
  const std::filesystem::path &dir = args.dir, &data = args.data;
  const Eigen::Index n = args.samples;
  const int threads = args.threads;
  if (!dm::has_test_set(data)) return 77;
  std::filesystem::create_directories(dir);

  const fm::eps_mlp model = fm::eps_mlp::load(here / "eps_weights.bin");
  const fm::classifier c = fm::classifier::load(here / "classifier_weights.bin");
  const fm::dataset test = fm::load_dataset(fm::split::test, data),
                    train = fm::load_dataset(fm::split::train, data);
  const fm::feature_stats ref = fm::stats_of(fm::features_of(c, test.x));

  const double floor = dm::fd_floor(c, train, ref, n);  // n training images, scored like the samples

  const mat noise = dm::normals(model.cfg().pixels, n);  // the same N(0, I) for every method
  const Eigen::Index ode_samples = std::min(dm::max_ode_samples, n);
  const std::vector<dm::method_entry> methods = dm::compared_methods();
  std::vector<job> jobs;
  std::size_t total_calls = 0;
  for (std::size_t m = 0; m < methods.size(); ++m)
    for (std::size_t b = 0; b < dm::nfe_budgets.size(); ++b) {
      const auto [steps, nfe] = dm::steps_for(methods[m], dm::nfe_budgets[b]);
      job j;
      j.method = m, j.budget = b, j.steps = steps, j.planned_nfe = nfe;
      total_calls += nfe;
      jobs.push_back(std::move(j));
    }

  // The ODE's solution from the first ode_samples noises, for the error column, one per path (they differ:
  // a noise level maps to the network's fractional timestep by the Hermite log ᾱ in τ, by log-σ
  // interpolation in σ): VE σ by DPM-Solver++(2M) on karras_sigmas(400), VP τ by STORK-4 on 800 uniform τ
  // steps; half the steps estimate each one's own error. (iPNDM is no reference: its last step extrapolates
  // the velocity over [σ_min, 0] instead of landing on D(σ_min), a different end point by ~5e-3.)
  const dm::net_fn plain = [&](const mat& y, double t, mat& out) { model(y, t, out); };
  auto solve = [&](const dm::method_entry& m, int steps) {
    const std::vector<double> grid = dm::grid_of(m.grid, steps);
    mat x = dm::start_state(m.grid, noise.leftCols(ode_samples), grid);
    m.run(plain, x, grid);
    return x;
  };
  const dm::method_entry ode_ve_method = dm::ve_entry("dpmpp_2m", stork::dpmpp_2m{}),
                         ode_vp_method = dm::vp_entry("stork4_vp", stork::stork4{});
  mat ode_vp, ode_vp_half;
  std::jthread vp_thread([&] {  // the two paths on two threads (joined on every exit)
    ode_vp = solve(ode_vp_method, 800);
    ode_vp_half = solve(ode_vp_method, 400);
  });
  const mat ode_ve = solve(ode_ve_method, 400), ode_ve_half = solve(ode_ve_method, 200);
  vp_thread.join();
  auto ode_of = [&](dm::grid_kind kind) -> const mat& { return dm::is_ve(kind) ? ode_ve : ode_vp; };

  // One model call on all the samples, timed, for the estimate.
  mat probe;
  const auto t0 = std::chrono::steady_clock::now();
  model(noise, 999.0, probe);
  const double call_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "fashion_mnist demo: %lld samples from the same noise per run, %zu methods x %zu budgets, %d "
      "thread(s)\n"
      "one model call on %lld images: %.2f s; %zu calls planned: about %.0f s\n"
      "FD floor (%lld training images vs the test set): %.3f\n"
      "ODE solutions (first %lld samples), median |x - x_ODE|/sqrt(d) to half the steps: VE dpmpp_2m "
      "karras(400) %.1e, VP stork4 tau(800) %.1e; the two paths' ODEs differ by %.1e\n\n",
      static_cast<long long>(n), methods.size(), dm::nfe_budgets.size(), threads, static_cast<long long>(n),
      call_s, total_calls, call_s * static_cast<double>(total_calls) / threads, static_cast<long long>(n),
      floor, static_cast<long long>(ode_samples), dm::median_error(ode_ve, ode_ve_half),
      dm::median_error(ode_vp, ode_vp_half), dm::median_error(ode_ve, ode_vp));
  std::fflush(stdout);

  const dm::run_context ctx{plain, &c, &ref, test.side};
  dm::run_jobs(
      jobs, threads,
      [&](job& j) {
        const dm::method_entry& m = methods[j.method];
        if (j.steps == 0) throw stork::error("no grid fits the budget");
        const std::vector<double> grid = dm::grid_of(m.grid, j.steps);
        dm::sample_and_score(j, m, grid, dm::start_state(m.grid, noise, grid), ctx, ode_of(m.grid),
                             dir / (m.name + "_nfe" + std::to_string(dm::nfe_budgets[j.budget]) + ".png"));
      },
      [&](const job& j) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%-15s NFE %2d", methods[j.method].name.c_str(),
                      dm::nfe_budgets[j.budget]);
        return std::string(buf);
      },
      start);

  // The table (terminal and CSV).
  bool ok = true;
  std::ofstream csv(dir / "fd.csv");
  csv << "method,grid,steps,nfe_budget,nfe,fd,fd_first64,ode_error_first256,seconds,floor\n";
  std::printf("FD of %lld samples vs the test set (actual model calls); floor %.3f\n%-16s",
              static_cast<long long>(n), floor, "method");
  for (int b : dm::nfe_budgets) std::printf("  NFE %-8d", b);
  std::printf("\n");
  for (std::size_t m = 0; m < methods.size(); ++m) {
    std::printf("%-16s", methods[m].name.c_str());
    for (const job& j : jobs) {
      if (j.method != m) continue;
      if (!j.error.empty()) {
        std::printf("  %-12s", "error");
        ok = ok && dm::diverged(methods[m], j);
        continue;
      }
      ok = ok && j.nfe == j.planned_nfe && j.calls == j.nfe && std::isfinite(j.fd);
      std::printf("  %7.2f (%2zu)", j.fd, j.nfe);
      csv << methods[m].name << ",\"" << dm::describe(methods[m].grid) << "\"," << j.steps << ','
          << dm::nfe_budgets[j.budget] << ',' << j.nfe << ',' << j.fd << ',' << j.fd64 << ',' << j.ode_error
          << ',' << j.seconds << ',' << floor << '\n';
    }
    std::printf("\n");
  }
  std::printf(
      "\nmedian |x - x_ODE|/sqrt(d) of the first %lld samples against its own path's ODE solution (pixels in "
      "[-1, 1]; the reference reading and stochastic samplers do not solve that ODE)\n%-16s",
      static_cast<long long>(ode_samples), "method");
  for (int b : dm::nfe_budgets) std::printf("  NFE %-8d", b);
  std::printf("\n");
  for (std::size_t m = 0; m < methods.size(); ++m) {
    std::printf("%-16s", methods[m].name.c_str());
    for (const job& j : jobs)
      if (j.method == m) std::printf("  %7.1e (%2zu)", j.ode_error, j.nfe);
    std::printf("\n");
  }
  std::printf("\ngrids:\n");
  for (const dm::method_entry& m : methods)
    std::printf("  %-16s %s\n", m.name.c_str(), dm::describe(m.grid).c_str());
  for (const auto& [name, why] : dm::methods_not_run())
    std::printf("not run: %s: %s\n", name.c_str(), why.c_str());
  for (const job& j : jobs)
    if (!j.error.empty())
      std::printf("error: %s NFE %d: %s\n", methods[j.method].name.c_str(), dm::nfe_budgets[j.budget],
                  j.error.c_str());

  dm::write_fd_svg(dir / "fd_vs_nfe.svg", "Fashion-MNIST eps model", dm::series_of(methods, jobs), floor, n);
  std::vector<std::pair<std::string, mat>> rows{{"test images", test.x.leftCols(12)}};
  const auto b10 = static_cast<std::size_t>(std::find(dm::nfe_budgets.begin(), dm::nfe_budgets.end(), 10) -
                                            dm::nfe_budgets.begin());
  for (const job& j : jobs)
    if (j.budget == b10 && j.error.empty())
      rows.emplace_back(methods[j.method].name + "  fd " + dm::fixed(j.fd, 1), j.first);
  fm::write_labelled_rows(dir / "nfe10_by_method.png",
                          "nfe 10, same noise; fd of " + std::to_string(n) + " samples", rows, test.side);
  std::printf("\n%.0f s; wrote fd.csv, fd_vs_nfe.svg, nfe10_by_method.png and %zu PNG grids in %s\n",
              elapsed(), jobs.size(), dir.string().c_str());
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "fashion_mnist_demo: %s\n", e.what());
  return 1;
}
