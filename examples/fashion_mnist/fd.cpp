// The Fréchet-distance reference numbers of the Fashion-MNIST example, and a sanity check of the ε model.
//
//   fashion_mnist_fd [classifier weights] [eps weights, or - to skip] [data directory] [output directory]
// Defaults (also for an empty argument): the committed classifier_weights.bin and eps_weights.bin next to
// this file, Debian's data directory, no output directory. Prints
// - the classifier's test accuracy (10,000 test images);
// - the floor: FD(5,000 training images, the 10,000 test images) — what a perfect sampler would score with
//   5,000 samples — and the same with 64 training images (mean and spread over 20 disjoint sets: the
//   small-sample bias that a 64-sample check must allow for);
// - the ceiling: FD(5,000 pure-noise images, N(0, 1) per pixel clamped to [−1, 1], the test images), and
//   with the first 64 of them;
// - with an ε model: the FD of 5,000 samples of a plain DDIM (η = 0, trailing timesteps, no clipping) at
//   10, 20 and 50 steps from the same noise, a check of the model independent of the library's samplers;
//   with an output directory also a PNG grid of the first 64 samples (ddim_<steps>.png) and of 64 test
//   images (test.png).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "fashion_mnist.hpp"
#include "samplers.hpp"  // demo::normals: the noise the demo and its check share

namespace {

namespace fm = fashion_mnist;

/// DDIM (η = 0) from x (noise, VP scale at t = 999) in `steps` steps on timesteps round(999 − k·1000/steps).
Eigen::MatrixXf ddim(const fm::eps_mlp& model, Eigen::MatrixXf x, int steps) {
  const std::vector<double> abar = fm::sd_alpha_bars();
  Eigen::MatrixXf e;
  for (int k = 0; k < steps; ++k) {
    const long t = std::lround(999.0 - k * 1000.0 / steps);
    const long s = k + 1 < steps ? std::lround(999.0 - (k + 1) * 1000.0 / steps) : -1;
    const double at = abar[static_cast<std::size_t>(t)], as = s < 0 ? 1.0 : abar[static_cast<std::size_t>(s)];
    model(x, static_cast<double>(t), e);
    const Eigen::MatrixXf x0 =
        (x - static_cast<float>(std::sqrt(1.0 - at)) * e) / static_cast<float>(std::sqrt(at));
    x = static_cast<float>(std::sqrt(as)) * x0 + static_cast<float>(std::sqrt(1.0 - as)) * e;
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path here = std::filesystem::path(__FILE__).parent_path();
    auto arg = [&](int i, const std::string& fallback) {  // a missing or empty argument takes the default
      return argc > i && argv[i][0] != '\0' ? std::string(argv[i]) : fallback;
    };
    const std::filesystem::path cpath = arg(1, (here / "classifier_weights.bin").string());
    const std::string epath = arg(2, (here / "eps_weights.bin").string());
    const std::filesystem::path dir = arg(3, fm::default_data_dir.string());
    const std::string out = arg(4, "");
    const auto start = std::chrono::steady_clock::now();
    const fm::classifier c = fm::classifier::load(cpath);
    const fm::dataset train = fm::load_dataset(fm::split::train, dir),
                      test = fm::load_dataset(fm::split::test, dir);
    std::printf("classifier %s: test accuracy %.4f (10000 images)\n", cpath.string().c_str(),
                c.accuracy(test.x, test.labels));
    const fm::feature_stats ref = fm::stats_of(fm::features_of(c, test.x));

    // Floor: training images, a seeded random choice of 5000.
    fm::rng g(7);
    std::vector<Eigen::Index> perm(static_cast<std::size_t>(train.x.cols()));
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<Eigen::Index>(i);
    for (std::size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[g.below(i + 1)]);
    auto pick = [&](std::size_t from, Eigen::Index n) {
      Eigen::MatrixXf m(train.x.rows(), n);
      for (Eigen::Index j = 0; j < n; ++j) m.col(j) = train.x.col(perm[from + static_cast<std::size_t>(j)]);
      return m;
    };
    std::printf("FD floor   (5000 training images vs the test set): %.4f\n",
                fm::image_fd(c, pick(0, 5000), ref));
    double sum = 0.0, sum2 = 0.0, lo = 1e300, hi = 0.0;
    constexpr int sets = 20;
    for (int k = 0; k < sets; ++k) {
      const double fd = fm::image_fd(c, pick(5000 + static_cast<std::size_t>(64 * k), 64), ref);
      sum += fd;
      sum2 += fd * fd;
      lo = std::min(lo, fd);
      hi = std::max(hi, fd);
    }
    const double mean = sum / sets;
    std::printf(
        "FD floor   (64 training images vs the test set, %d disjoint sets): mean %.4f, sd %.4f, range %.4f "
        "to %.4f\n",
        sets, mean, std::sqrt(std::max(0.0, sum2 / sets - mean * mean)), lo, hi);
    const Eigen::MatrixXf noise_images = fm::demo::normals(train.x.rows(), 5000, 8);
    std::printf("FD ceiling (5000 noise images vs the test set): %.4f; the first 64: %.4f\n",
                fm::image_fd(c, noise_images, ref), fm::image_fd(c, noise_images.leftCols(64), ref));
    if (!out.empty())
      fm::write_png_grid(std::filesystem::path(out) / "test.png", test.x.leftCols(64), test.side);

    if (epath != "-") {
      const fm::eps_mlp model = fm::eps_mlp::load(epath);
      const Eigen::MatrixXf noise = fm::demo::normals(model.cfg().pixels, 5000, 9);
      for (int steps : {10, 20, 50}) {
        const Eigen::MatrixXf x = ddim(model, noise, steps);
        std::printf("DDIM %2d steps: FD %.4f (5000 samples), %.4f (the first 64)  (%.0f s)\n", steps,
                    fm::image_fd(c, x, ref), fm::image_fd(c, x.leftCols(64), ref),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        std::fflush(stdout);
        if (!out.empty())
          fm::write_png_grid(std::filesystem::path(out) / ("ddim_" + std::to_string(steps) + ".png"),
                             x.leftCols(64), test.side);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist_fd: %s\n", e.what());
    return 1;
  }
}
