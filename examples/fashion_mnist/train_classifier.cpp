// Trains the Fashion-MNIST classifier (models.hpp: classifier) whose penultimate features the Fréchet
// distance uses, and writes its weight file.
//
// Not run by ctest (about a minute on one core). To retrain and replace the committed weights:
//   cmake --build build/dev --target fashion_mnist_train_classifier
//   build/dev/examples/fashion_mnist/fashion_mnist_train_classifier
//   examples/fashion_mnist/classifier_weights.bin
// Arguments: [output path, default classifier_weights.bin] [epochs, default 30] [data directory, default
// /usr/share/datasets/fashion-mnist]. Single-threaded and seeded: a rerun on the same machine and build
// writes the same file byte for byte.
//
// Cross-entropy on the 60,000 training images (14×14, [−1, 1]), random horizontal flips (clothes are
// mirror-symmetric classes), Adam with cosine decay; the saved weights are an EMA of the weights. Prints
// the loss per epoch and the test accuracy (10,000 images) at the end.

#include <chrono>
#include <cstdio>
#include <numbers>
#include <string>
#include <vector>

#include "fashion_mnist.hpp"

namespace {

namespace fm = fashion_mnist;

constexpr Eigen::Index batch = 128;
constexpr double lr_max = 1e-3, lr_min = 1e-5, ema_decay = 0.999;
constexpr std::uint64_t init_seed = 21, data_seed = 22;

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string out_path = argc > 1 ? argv[1] : "classifier_weights.bin";
    const int epochs = argc > 2 ? std::stoi(argv[2]) : 30;
    const std::filesystem::path dir = argc > 3 ? std::filesystem::path(argv[3]) : fm::default_data_dir;
    const auto start = std::chrono::steady_clock::now();
    const double user_start = fm::user_seconds();
    const fm::dataset train = fm::load_dataset(fm::split::train, dir),
                      test = fm::load_dataset(fm::split::test, dir);
    const int side = train.side;

    fm::classifier net = fm::classifier::random({}, init_seed);
    std::vector<float> ema = net.params(), grad;
    fm::adam opt(net.parameter_count());
    const auto n = static_cast<std::size_t>(train.x.cols());
    const int steps_per_epoch = static_cast<int>(n / static_cast<std::size_t>(batch));
    const int steps = epochs * steps_per_epoch;
    std::printf("fashion_mnist_train_classifier: %zu parameters (%d-%d-%d-%d), batch %lld, %d epochs\n",
                net.parameter_count(), net.cfg().pixels, net.cfg().hidden1, net.cfg().hidden2,
                net.cfg().classes, static_cast<long long>(batch), epochs);
    fm::rng g(data_seed);
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    Eigen::MatrixXf x(train.x.rows(), batch);
    std::vector<std::uint8_t> y(static_cast<std::size_t>(batch));
    int step = 0;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[g.below(i + 1)]);
      double sum = 0.0;
      for (int s = 0; s < steps_per_epoch; ++s) {
        ++step;
        for (Eigen::Index j = 0; j < batch; ++j) {
          const std::size_t k = order[static_cast<std::size_t>(s) * static_cast<std::size_t>(batch) +
                                      static_cast<std::size_t>(j)];
          const auto col = static_cast<Eigen::Index>(k);
          const bool flip = g.uniform() < 0.5;
          for (int r = 0; r < side; ++r)
            for (int c = 0; c < side; ++c)
              x(r * side + c, j) = train.x(r * side + (flip ? side - 1 - c : c), col);
          y[static_cast<std::size_t>(j)] = train.labels[k];
        }
        sum += net.gradient(x, y, grad);
        const double lr =
            lr_min + 0.5 * (lr_max - lr_min) * (1.0 + std::cos(std::numbers::pi * step / steps));
        opt.step(net.params(), grad, lr);
        fm::ema_update(ema, net.params(), std::min(ema_decay, (1.0 + step) / (10.0 + step)));
      }
      fm::classifier e = net;
      e.params() = ema;
      std::printf("epoch %3d  train loss %.4f  test accuracy (EMA) %.4f  %.0f s\n", epoch,
                  sum / steps_per_epoch, e.accuracy(test.x, test.labels),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      std::fflush(stdout);
    }
    net.params() = ema;
    net.save(out_path);
    std::printf("trained in %.0f s wall, %.0f s user; train accuracy %.4f, test accuracy %.4f; wrote %s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                fm::user_seconds() - user_start, net.accuracy(train.x, train.labels),
                net.accuracy(test.x, test.labels), out_path.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist_train_classifier: %s\n", e.what());
    return 1;
  }
}
