// Trains the Fashion-MNIST ε-prediction model (models.hpp: eps_mlp) and writes its weight file.
//
// Not run by ctest (about 12 minutes on one core). To retrain and replace the committed weights:
//   cmake --build build/dev --target fashion_mnist_train_eps
//   build/dev/examples/fashion_mnist/fashion_mnist_train_eps examples/fashion_mnist/eps_weights.bin
// Arguments: [output path, default eps_weights.bin] [steps, default 45000] [data directory, default
// /usr/share/datasets/fashion-mnist]. Single-threaded and seeded: a rerun on the same machine and build
// writes the same file byte for byte (other CPUs or compilers may round differently).
//
// DDPM ε-prediction on Stable Diffusion's scaled-linear table (T = 1000): x₀ a training image (14×14,
// [−1, 1]), t uniform in {0, …, 999}, ε ~ N(0, I), x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, loss mean (ε̂(x_t, t) − ε)².
// Adam with warm-up and cosine decay, gradient clipping, and an exponential moving average (EMA) of the
// weights, which is what is saved. Every 2500 steps it prints the mean training loss of the last 2500
// steps and the held-out loss of the EMA weights on 2000 test images with fixed t and ε.

#include <chrono>
#include <cstdio>
#include <numbers>
#include <string>
#include <vector>

#include "fashion_mnist.hpp"

namespace {

namespace fm = fashion_mnist;

constexpr Eigen::Index batch = 64;
constexpr double lr_max = 2e-3, lr_min = 1e-5, ema_decay = 0.9995, clip = 1.0;
constexpr int warmup = 300;
constexpr std::uint64_t init_seed = 1, data_seed = 2, held_out_seed = 3;

/// A noised batch: inputs x_t, timesteps t, targets ε.
struct noised {
  Eigen::MatrixXf x;
  std::vector<double> t;
  Eigen::MatrixXf eps;
};

/// Noises the given columns of `data` with random t and ε from `g`.
noised noise(const Eigen::MatrixXf& data, const std::vector<Eigen::Index>& cols,
             const std::vector<double>& abar, fm::rng& g) {
  const auto n = static_cast<Eigen::Index>(cols.size());
  noised b{Eigen::MatrixXf(data.rows(), n), std::vector<double>(cols.size()),
           Eigen::MatrixXf(data.rows(), n)};
  for (Eigen::Index j = 0; j < n; ++j) {
    const std::uint64_t i = g.below(fm::train_timesteps);
    b.t[static_cast<std::size_t>(j)] = static_cast<double>(i);
    const auto a = static_cast<float>(std::sqrt(abar[i])), s = static_cast<float>(std::sqrt(1.0 - abar[i]));
    for (Eigen::Index r = 0; r < data.rows(); ++r) b.eps(r, j) = static_cast<float>(g.normal());
    b.x.col(j) = a * data.col(cols[static_cast<std::size_t>(j)]) + s * b.eps.col(j);
  }
  return b;
}

noised first_n(const Eigen::MatrixXf& data, Eigen::Index n, const std::vector<double>& abar,
               std::uint64_t seed) {
  std::vector<Eigen::Index> cols(static_cast<std::size_t>(n));
  for (Eigen::Index j = 0; j < n; ++j) cols[static_cast<std::size_t>(j)] = j;
  fm::rng g(seed);
  return noise(data, cols, abar, g);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string out_path = argc > 1 ? argv[1] : "eps_weights.bin";
    const int steps = argc > 2 ? std::stoi(argv[2]) : 45000;
    const std::filesystem::path dir = argc > 3 ? std::filesystem::path(argv[3]) : fm::default_data_dir;
    const auto start = std::chrono::steady_clock::now();
    const double user_start = fm::user_seconds();
    const fm::dataset train = fm::load_dataset(fm::split::train, dir),
                      test = fm::load_dataset(fm::split::test, dir);
    const std::vector<double> abar = fm::sd_alpha_bars();
    const noised held_out = first_n(test.x, 2000, abar, held_out_seed);

    const fm::eps_mlp::config cfg{};
    fm::eps_mlp net = fm::eps_mlp::random(cfg, init_seed);
    std::vector<float> ema = net.params(), grad;
    fm::adam opt(net.parameter_count());
    std::printf(
        "fashion_mnist_train_eps: %zu parameters (hidden %d, %d blocks, %d frequencies up to %d, embedding "
        "%d), batch %lld, %d steps, data loaded in %.1f s\n",
        net.parameter_count(), cfg.hidden, cfg.blocks, cfg.frequencies, cfg.max_frequency, cfg.embedding,
        static_cast<long long>(batch), steps,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::fflush(stdout);

    fm::rng g(data_seed);
    std::vector<Eigen::Index> order(static_cast<std::size_t>(train.x.cols()));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<Eigen::Index>(i);
    std::size_t next = order.size();  // reshuffle at the start
    double window = 0.0, last_window = 0.0;
    int in_window = 0;
    for (int step = 1; step <= steps; ++step) {
      std::vector<Eigen::Index> cols(static_cast<std::size_t>(batch));
      for (Eigen::Index& c : cols) {
        if (next == order.size()) {  // Fisher–Yates shuffle per epoch
          for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[g.below(i + 1)]);
          next = 0;
        }
        c = order[next++];
      }
      const noised b = noise(train.x, cols, abar, g);
      const double loss = net.gradient(b.x, b.t, b.eps, grad);
      window += loss;
      ++in_window;
      const double progress = static_cast<double>(step) / steps;
      const double lr = (step < warmup ? static_cast<double>(step) / warmup : 1.0) *
                        (lr_min + 0.5 * (lr_max - lr_min) * (1.0 + std::cos(std::numbers::pi * progress)));
      opt.step(net.params(), grad, lr, clip);
      fm::ema_update(ema, net.params(), std::min(ema_decay, (1.0 + step) / (10.0 + step)));
      if (step % 2500 == 0 || step == steps) {
        last_window = window / in_window;
        fm::eps_mlp e = net;
        e.params() = ema;
        std::printf(
            "step %6d  lr %.2e  train loss (mean of last %4d steps) %.5f  held-out loss (EMA) %.5f  %.0f s\n",
            step, lr, in_window, last_window, e.loss(held_out.x, held_out.t, held_out.eps),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        std::fflush(stdout);
        window = 0.0;
        in_window = 0;
      }
    }
    net.params() = ema;
    net.save(out_path);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double user = fm::user_seconds() - user_start;
    // Final losses of the saved (EMA) weights with fixed t and ε: all 10,000 test images, and the first
    // 10,000 training images for comparison.
    const noised test_all = first_n(test.x, test.x.cols(), abar, held_out_seed + 1);
    const noised train_part = first_n(train.x, 10000, abar, held_out_seed + 1);
    std::printf("trained in %.0f s wall, %.0f s user; wrote %s\n", wall, user, out_path.c_str());
    std::printf(
        "final loss of the saved EMA weights: train (10000 images) %.5f, held-out test (10000 images) %.5f\n",
        net.loss(train_part.x, train_part.t, train_part.eps), net.loss(test_all.x, test_all.t, test_all.eps));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist_train_eps: %s\n", e.what());
    return 1;
  }
}
