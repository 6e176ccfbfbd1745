// Samples the trained Fashion-MNIST rectified-flow velocity model (velocity_weights.bin) with every sampler
// at NFE 5 … 50 on shift-1 and shift-3 flow grids (SD3 samples with shift 3) from the same noise, each method
// on the grid its users run a flow model on (samplers.hpp: flow_methods), and scores the samples by the
// Fréchet distance (FD) of the classifier's features against the 10,000 test images and by their distance to
// the model's own ODE solution from the same noise (the sampler's error, separated from the model's).
//
//   fashion_mnist_flow_demo [output dir, default .] [samples, default 5000] [threads, default 2] [data dir]
//                           [ODE steps, default 320]
//
// Writes into the output directory:
// - fd.csv: shift, method, grid, steps, NFE budget, actual model calls, FD of all samples, FD of the first
//   64, median distance to the ODE solution of the first 256, seconds, and the floor (FD of as many
//   training images);
// - fd_vs_nfe_shift1.svg, fd_vs_nfe_shift3.svg: FD against the actual model calls (log-log), one line per
//   method, the floor;
// - <method>_shift<S>_nfe<budget>.png: the first 64 samples, 8×8;
// - nfe10_shift1_by_method.png, nfe10_shift3_by_method.png: 12 test images, the ODE solution from the first
//   12 noises, then the first 12 samples of every method at NFE 10 (the same noise).
// The terminal gets a progress line and, per shift, the FD table and the ODE-distance table, each row with
// its method's grid. Runs (shift, method, budget) triples on `threads` threads, each single-threaded; the
// results do not depend on the thread count. Exit status 1 if a run's model-call count differs from what
// the budget rule planned, an FD is not finite or a run fails (a stochastic sampler that diverges to NaN/Inf
// is a result, printed as "error" with its message, not a failure), 77 if the dataset is missing.
//
// The ODE solution: ROCK4 (stork::rock4, order 4, one recurrence stage: 5 calls a step) on `ode_steps` steps
// graded towards both ends (cosine spacing) from the grid's first σ to 0, one per start (flow_sigmas and
// simple start at σ = 1, use_flow_sigmas at F(1 − 1/T), which depends on the shift); the same on half the
// steps bounds its error (printed).
//
// Cost: one model call on 5,000 images takes about 0.2 s on one core (AVX2); the full run makes 6,320 of
// them (23 methods x 7 budgets x 2 shifts) plus 7,200 for the ODE solutions on 256 samples (measured: 1,149 s
// wall on 2 threads of a machine shared with other builds). tools/demo runs it on 500 samples by default.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
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

/// The shifts of the flow grids (σ = S·u/(1 + (S − 1)·u)): none, and SD3's.
const std::vector<double> shifts{1.0, 3.0};
/// ROCK4 steps of the ODE solution (the default of the fifth argument; the ctest passes fewer). Measured on
/// the committed model from σ = 1 (median over 256 samples): 40 vs 80 steps differ by 1.0e-3, 80 vs 160
/// by 1.2e-4, 160 vs 320 by 1.3e-5 (order 3 or more), and 320 ROCK4 steps vs 800 uniform Heun steps by 3e-6:
/// the 320-step solution is good to a few 1e-6, and the demo prints its difference to the 160-step one (an
/// upper bound of that one's error).
constexpr int default_ode_steps = 320;

/// `n` intervals from a down to b, graded towards both ends (cosine spacing).
std::vector<double> graded(double a, double b, int n) {
  std::vector<double> g(static_cast<std::size_t>(n) + 1);
  for (int i = 0; i <= n; ++i)
    g[static_cast<std::size_t>(i)] = b + (a - b) * (1.0 + std::cos(3.141592653589793 * i / n)) / 2.0;
  g.front() = a;
  g.back() = b;
  return g;
}

std::string shift_tag(double s) { return "shift" + std::to_string(static_cast<int>(s)); }

}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const std::filesystem::path here = std::filesystem::path(__FILE__).parent_path();
  const dm::demo_arguments args = dm::read_arguments(argc, argv, "fashion_mnist_flow_demo");
  const std::filesystem::path &dir = args.dir, &data = args.data;
  const Eigen::Index n = args.samples;
  const int threads = args.threads;
  const int ode_steps = std::stoi(dm::argument(argc, argv, 5, std::to_string(default_ode_steps)));
  if (ode_steps < 2 || ode_steps > 100000)
    throw stork::error("stork: fashion_mnist_flow_demo: ODE steps must be 2 to 100000");
  if (!dm::has_test_set(data)) return 77;
  std::filesystem::create_directories(dir);

  const fm::velocity_mlp model = fm::velocity_mlp::load(here / "velocity_weights.bin");
  const fm::classifier c = fm::classifier::load(here / "classifier_weights.bin");
  const fm::dataset test = fm::load_dataset(fm::split::test, data),
                    train = fm::load_dataset(fm::split::train, data);
  const fm::feature_stats ref = fm::stats_of(fm::features_of(c, test.x));
  const double floor = dm::fd_floor(c, train, ref, n);
  const mat noise = dm::normals(model.cfg().pixels, n);  // x at the grid's first σ, the same for every run
  const Eigen::Index ode_samples = std::min(dm::max_ode_samples, n);
  const std::vector<dm::method_entry> methods = dm::flow_methods();
  const dm::net_fn net = [&](const mat& y, double t, mat& out) { model(y, t, out); };

  std::vector<job> jobs;
  std::size_t total_calls = 0;
  for (std::size_t s = 0; s < shifts.size(); ++s)
    for (std::size_t m = 0; m < methods.size(); ++m)
      for (std::size_t b = 0; b < dm::nfe_budgets.size(); ++b) {
        const auto [steps, nfe] = dm::steps_for(methods[m], dm::nfe_budgets[b], shifts[s]);
        job j;
        j.method = m, j.budget = b, j.setting = s, j.steps = steps, j.planned_nfe = nfe;
        total_calls += nfe;
        jobs.push_back(std::move(j));
      }

  // The ODE's solutions from the first ode_samples noises, one per first σ of a grid (the ODE does not
  // depend on the shift, only where it starts: σ = 1, F(1 − 1/T) for shift 1 and for shift 3), and the same
  // on half the steps for their error; on the threads.
  auto first_sigma = [](dm::grid_kind g, double shift) { return dm::grid_of(g, 4, shift).front(); };
  std::map<double, std::pair<mat, mat>> odes;  // σ₀ → (solution, half the steps)
  for (double shift : shifts)
    for (const dm::method_entry& m : methods) odes[first_sigma(m.grid, shift)];
  {
    std::vector<std::pair<double, int>> tasks;  // (σ₀, steps)
    for (const auto& entry : odes)
      tasks.push_back({entry.first, ode_steps}), tasks.push_back({entry.first, ode_steps / 2});
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t k; (k = next++) < tasks.size();) {
        const auto [sigma0, steps] = tasks[k];
        mat x = noise.leftCols(ode_samples);
        auto velocity = [&](const mat& y, double sigma, mat& v) { model(y, fm::flow_timestep(sigma), v); };
        stork::integrate(stork::rock4{1}, velocity, x, graded(sigma0, 0.0, steps));
        auto& out = odes.at(sigma0);  // at(): no insertion, safe beside the other threads' writes
        (steps == ode_steps ? out.first : out.second) = std::move(x);
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (std::thread& t : pool) t.join();
  }
  auto ode_of = [&](std::size_t s, dm::grid_kind g) -> const mat& {
    return odes.at(first_sigma(g, shifts[s])).first;
  };

  mat probe;  // one model call on all the samples, timed, for the estimate
  const auto t0 = std::chrono::steady_clock::now();
  model(noise, 1000.0, probe);
  const double call_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "fashion_mnist flow demo: rectified-flow velocity model, %lld samples from the same noise per run, %zu "
      "methods x %zu budgets x %zu shifts, %d thread(s)\n"
      "one model call on %lld images: %.2f s; %zu calls planned: about %.0f s\n"
      "FD floor (%lld training images vs the test set): %.3f\n"
      "ODE solutions (first %lld samples): ROCK4 on %d graded steps; median |x - x_ODE|/sqrt(d) to %d steps:",
      static_cast<long long>(n), methods.size(), dm::nfe_budgets.size(), shifts.size(), threads,
      static_cast<long long>(n), call_s, total_calls, call_s * static_cast<double>(total_calls) / threads,
      static_cast<long long>(n), floor, static_cast<long long>(ode_samples), ode_steps, ode_steps / 2);
  for (const auto& [sigma0, value] : odes)
    std::printf(" from sigma %.5f: %.1e;", sigma0, dm::median_error(value.first, value.second));
  std::printf("\n\n");
  std::fflush(stdout);

  const dm::run_context ctx{net, &c, &ref, test.side};
  dm::run_jobs(
      jobs, threads,
      [&](job& j) {
        const dm::method_entry& m = methods[j.method];
        const double shift = shifts[j.setting];
        if (j.steps == 0) throw stork::error("no grid fits the budget");
        const std::vector<double> grid = dm::grid_of(m.grid, j.steps, shift);
        dm::sample_and_score(j, m, grid, dm::start_state(m.grid, noise, grid), ctx, ode_of(j.setting, m.grid),
                             dir / (m.name + "_" + shift_tag(shift) + "_nfe" +
                                    std::to_string(dm::nfe_budgets[j.budget]) + ".png"));
      },
      [&](const job& j) {
        char buf[80];
        std::snprintf(buf, sizeof buf, "shift %g %-15s NFE %2d", shifts[j.setting],
                      methods[j.method].name.c_str(), dm::nfe_budgets[j.budget]);
        return std::string(buf);
      },
      start);

  // The tables (terminal and CSV): per shift, FD and the distance to the ODE's solution.
  bool ok = true;
  std::ofstream csv(dir / "fd.csv");
  csv << "shift,method,grid,steps,nfe_budget,nfe,fd,fd_first64,ode_error_first256,seconds,floor\n";
  for (const job& j : jobs) {
    if (!j.error.empty()) {
      ok = ok && dm::diverged(methods[j.method], j);
      continue;
    }
    ok = ok && j.nfe == j.planned_nfe && j.calls == j.nfe && std::isfinite(j.fd);
    csv << shifts[j.setting] << ',' << methods[j.method].name << ',' << dm::grid_name(methods[j.method].grid)
        << ',' << j.steps << ',' << dm::nfe_budgets[j.budget] << ',' << j.nfe << ',' << j.fd << ',' << j.fd64
        << ',' << j.ode_error << ',' << j.seconds << ',' << floor << '\n';
  }
  auto table = [&](std::size_t s, const char* what, auto value) {
    std::printf("%s, shift %g (actual model calls)\n%-16s %-16s", what, shifts[s], "method", "grid");
    for (int b : dm::nfe_budgets) std::printf("  NFE %-8d", b);
    std::printf("\n");
    for (std::size_t m = 0; m < methods.size(); ++m) {
      std::printf("%-16s %-16s", methods[m].name.c_str(), dm::grid_name(methods[m].grid).c_str());
      for (const job& j : jobs)
        if (j.method == m && j.setting == s) {
          if (!j.error.empty())
            std::printf("  %-12s", "error");
          else
            std::printf("  %s (%2zu)", value(j).c_str(), j.nfe);
        }
      std::printf("\n");
    }
    std::printf("\n");
  };
  char buf[32];
  for (std::size_t s = 0; s < shifts.size(); ++s) {
    table(s,
          ("FD of " + std::to_string(n) + " samples vs the test set; floor " + dm::fixed(floor, 3)).c_str(),
          [&](const job& j) { return (std::snprintf(buf, sizeof buf, "%7.2f", j.fd), std::string(buf)); });
    table(s,
          ("median |x - x_ODE|/sqrt(d) of the first " + std::to_string(ode_samples) +
           " samples (pixels in [-1, 1]; the stochastic samplers do not solve the ODE)")
              .c_str(),
          [&](const job& j) {
            return (std::snprintf(buf, sizeof buf, "%7.1e", j.ode_error), std::string(buf));
          });
  }
  std::printf("grids:\n");
  for (dm::grid_kind g :
       {dm::grid_kind::flow_sigmas, dm::grid_kind::flow_beta, dm::grid_kind::use_flow_sigmas,
        dm::grid_kind::simple, dm::grid_kind::sd_discrete, dm::grid_kind::sd_simple})
    std::printf("  %s\n", dm::describe(g).c_str());
  for (const auto& [name, why] : dm::menu_methods_not_run())
    std::printf("not run: %s: %s\n", name.c_str(), why.c_str());
  for (const job& j : jobs)
    if (!j.error.empty())
      std::printf("error: shift %g %s NFE %d: %s\n", shifts[j.setting], methods[j.method].name.c_str(),
                  dm::nfe_budgets[j.budget], j.error.c_str());

  const auto b10 = static_cast<std::size_t>(std::find(dm::nfe_budgets.begin(), dm::nfe_budgets.end(), 10) -
                                            dm::nfe_budgets.begin());
  for (std::size_t s = 0; s < shifts.size(); ++s) {
    const std::string tag = shift_tag(shifts[s]);
    dm::write_fd_svg(dir / ("fd_vs_nfe_" + tag + ".svg"),
                     "Fashion-MNIST flow model, shift " + dm::fixed(shifts[s], 0),
                     dm::series_of(methods, jobs, s), floor, n);
    std::vector<std::pair<std::string, mat>> rows{
        {"test images", test.x.leftCols(12)},
        {"ode solution", ode_of(s, dm::grid_kind::flow_sigmas).leftCols(12)}};
    for (const job& j : jobs)
      if (j.setting == s && j.budget == b10 && j.error.empty())
        rows.emplace_back(methods[j.method].name + "  fd " + dm::fixed(j.fd, 1), j.first);
    fm::write_labelled_rows(dir / ("nfe10_" + tag + "_by_method.png"),
                            "flow model, nfe 10, shift " + dm::fixed(shifts[s], 0) + ", same noise; fd of " +
                                std::to_string(n) + " samples",
                            rows, test.side);
  }
  std::printf(
      "%.0f s; wrote fd.csv, fd_vs_nfe_shift*.svg, nfe10_shift*_by_method.png and %zu PNG grids in %s\n",
      elapsed(), jobs.size(), dir.string().c_str());
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "fashion_mnist_flow_demo: %s\n", e.what());
  return 1;
}
