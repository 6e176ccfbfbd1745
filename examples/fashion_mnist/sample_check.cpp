// The ctest of the Fashion-MNIST demos: 64 samples at NFE 20 from the demos' noise (its first 64 columns)
// must score an FD below `bound` against the test set — of the ε model with STORK-4 (VP τ, the paper's ε
// path), DPM-Solver++(2M) (VE Karras) and stable-diffusion.cpp's ddim_trailing (VE, its simple schedule),
// of the velocity model with STORK-4 on flow_beta, DPM-Solver++(2M) on use_flow_sigmas and sd.cpp's dpm2 on
// its flow discrete schedule at shift 3 and Euler on flow_sigmas at shift 1, each on its demo grid; a broken
// sampler must not: Euler with 2 model calls (on either model) and the noise itself must score above it.
//
//   fashion_mnist_sample_check [data dir]      exit 0: pass, 1: fail, 77: dataset not installed (skipped)
//
// Where the bound comes from (examples/fashion_mnist/README.md, fashion_mnist_fd): 64 samples carry a large
// small-sample bias, so a 64-sample FD tells a working sampler from a broken one and nothing finer.
// 64 training images score 78.5 ± 10.3 (range 66.0–103.0 over 20 disjoint sets), 64 DDIM samples at 20
// steps 92.8, 64 noise images 271.9. The bound 140 is above the worst of the 20 training sets by more
// than 3 of their standard deviations; the demo's 64-sample FDs of every method at NFE ≥ 10 lie at or below
// DDIM's (fd_first64 in fd.csv), and a sampler that leaves visible noise or blur (Euler at NFE 2) lands
// well above it. The velocity model's 64-sample FDs at NFE 20 lie at 73–79 (flow_demo's fd_first64).
#include <cstdio>
#include <filesystem>
#include <string>

#include "compare.hpp"  // fixed
#include "fashion_mnist.hpp"
#include "samplers.hpp"

namespace {
namespace fm = fashion_mnist;
namespace dm = fashion_mnist::demo;
constexpr double bound = 140.0;
}  // namespace

int main(int argc, char** argv) try {
  const std::filesystem::path here = std::filesystem::path(__FILE__).parent_path();
  const std::filesystem::path data = argc > 1 ? argv[1] : fm::default_data_dir;
  if (!std::filesystem::exists(data / "t10k-images-idx3-ubyte.gz")) {
    std::printf("SKIP: %s has no Fashion-MNIST test set (Debian: dataset-fashion-mnist)\n",
                data.string().c_str());
    return 77;
  }
  const fm::eps_mlp model = fm::eps_mlp::load(here / "eps_weights.bin");
  const fm::velocity_mlp flow = fm::velocity_mlp::load(here / "velocity_weights.bin");
  const fm::classifier c = fm::classifier::load(here / "classifier_weights.bin");
  const fm::dataset test = fm::load_dataset(fm::split::test, data);
  const fm::feature_stats ref = fm::stats_of(fm::features_of(c, test.x));
  const dm::mat noise = dm::normals(model.cfg().pixels, 64);
  const dm::net_fn eps = [&](const dm::mat& x, double t, dm::mat& out) { model(x, t, out); };
  const dm::net_fn velocity = [&](const dm::mat& x, double t, dm::mat& out) { flow(x, t, out); };

  bool ok = true;
  // Runs `m` on `net` with `budget` model calls (flow grids at `shift`); the FD must be below the bound
  // (good) or above it (broken).
  auto check = [&](const dm::method_entry& m, const dm::net_fn& net, double shift, int budget, bool good) {
    const auto [steps, planned] = dm::steps_for(m, budget, shift);
    const std::vector<double> grid = dm::grid_of(m.grid, steps, shift);
    dm::mat x = dm::start_state(m.grid, noise, grid);
    const std::size_t nfe = m.run(net, x, grid).nfe;
    const double fd = fm::image_fd(c, x, ref);
    const bool pass = nfe == planned && static_cast<int>(nfe) <= budget && (good ? fd < bound : fd > bound);
    std::printf(
        "%-13s %-24s %2zu model calls (%2d steps): FD %7.2f, %s %.0f: %s\n", m.name.c_str(),
        (dm::grid_name(m.grid) + (dm::is_flow(m.grid) ? " shift " + dm::fixed(shift, 0) : "")).c_str(), nfe,
        steps, fd, good ? "needs below" : "needs above", bound, pass ? "ok" : "FAILED");
    ok = ok && pass;
  };
  using dm::grid_kind;
  check(dm::vp_entry("stork4_vp", stork::stork4{.stages = 5}), eps, 1.0, 20, true);
  check(dm::ve_entry("dpmpp_2m", stork::dpmpp_2m{}), eps, 1.0, 20, true);
  check(dm::ve_entry("euler", stork::euler{}), eps, 1.0, 2, false);
  check(dm::ve_entry("ddim_trailing", dm::from_menu<stork::ddim_trailing>("ddim_trailing"),
                     grid_kind::table_simple),
        eps, 1.0, 20, true);
  check(dm::flow_entry("stork4", grid_kind::flow_beta, stork::stork4{}), velocity, 3.0, 20, true);
  check(dm::flow_entry("dpm2", grid_kind::sd_discrete, dm::from_menu<stork::dpm2>("dpm2")), velocity, 3.0, 20,
        true);
  check(dm::flow_entry("dpmpp_2m", grid_kind::use_flow_sigmas, stork::dpmpp_2m{}), velocity, 3.0, 20, true);
  check(dm::flow_entry("euler", grid_kind::flow_sigmas, stork::euler{}), velocity, 1.0, 20, true);
  check(dm::flow_entry("euler", grid_kind::flow_sigmas, stork::euler{}), velocity, 1.0, 2, false);
  const double fd_noise = fm::image_fd(c, noise, ref);
  std::printf("%-13s FD %7.2f, needs above %.0f: %s\n", "noise", fd_noise, bound,
              fd_noise > bound ? "ok" : "FAILED");
  ok = ok && fd_noise > bound;
  std::printf(ok ? "all checks passed\n" : "CHECK FAILED\n");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "fashion_mnist_sample_check: %s\n", e.what());
  return 1;
}
