/// @file
/// @brief Example code (not part of the library): the training run shared by the two generative models of
/// the Fashion-MNIST example, and their two objectives. fashion_mnist_train_eps (train_eps.cpp) trains
/// `eps_mlp` with `epsilon_objective`, fashion_mnist_train_flow (train_flow.cpp) `velocity_mlp` with
/// `flow_objective`: the same data, network, optimiser, budget and seeds, a different noising and target.
///
/// The run (`train_main`): batches of 64 training images (14×14, [−1, 1]) drawn without replacement, a
/// Fisher–Yates shuffle per epoch; each image noised by the objective with its own random time and
/// N(0, I) noise; loss mean (out(x, t) − target)²; Adam with a 300-step linear warm-up and cosine decay
/// from 2e-3 to 1e-5, gradient clipping at norm 1, and an exponential moving average (EMA, decay 0.9995,
/// warmed up as (1 + step)/(10 + step)) of the weights, which is what is saved. Every 2500 steps it prints
/// the mean training loss of the last 2500 steps and the held-out loss of the EMA weights on 2000 test images
/// with fixed times and noise; at the end the wall and user CPU seconds and the final losses of the saved
/// weights (10,000 training and all 10,000 test images, fixed times and noise).
///
/// Arguments of both programs: [output path] [steps, default 45000] [data directory, default
/// /usr/share/datasets/fashion-mnist]. Single-threaded and seeded (initialisation 1, batches and noise 2,
/// held-out noise 3 and 4): a rerun on the same machine and build writes the same file byte for byte
/// (other CPUs or compilers may round differently).
#pragma once

#include <Eigen/Core>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "fashion_mnist.hpp"

namespace fashion_mnist::training {

/// A noised batch: network inputs x, their timesteps t (the network's time input) and the targets.
struct noised {
  Eigen::MatrixXf x;
  std::vector<double> t;
  Eigen::MatrixXf target;
};

/// @brief DDPM ε-prediction on Stable Diffusion's scaled-linear table (T = 1000): t uniform in
/// {0, …, 999}, ε ~ N(0, I), x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, target ε.
struct epsilon_objective {
  using model = eps_mlp;
  std::vector<double> abar = sd_alpha_bars();

  /// Noises the given columns of `data` with random t and ε from `g` (per column: t, then the pixels' ε).
  noised noise(const Eigen::MatrixXf& data, const std::vector<Eigen::Index>& cols, rng& g) const {
    const auto n = static_cast<Eigen::Index>(cols.size());
    noised b{Eigen::MatrixXf(data.rows(), n), std::vector<double>(cols.size()),
             Eigen::MatrixXf(data.rows(), n)};
    for (Eigen::Index j = 0; j < n; ++j) {
      const std::uint64_t i = g.below(train_timesteps);
      b.t[static_cast<std::size_t>(j)] = static_cast<double>(i);
      const auto a = static_cast<float>(std::sqrt(abar[i])), s = static_cast<float>(std::sqrt(1.0 - abar[i]));
      for (Eigen::Index r = 0; r < data.rows(); ++r) b.target(r, j) = static_cast<float>(g.normal());
      b.x.col(j) = a * data.col(cols[static_cast<std::size_t>(j)]) + s * b.target.col(j);
    }
    return b;
  }
};

/// @brief Rectified flow (flow matching with straight paths, Liu et al. 2022; SD3's objective with σ
/// uniform): σ uniform in (0, 1), ε ~ N(0, I), x_σ = (1 − σ)·x₀ + σ·ε, target the velocity ε − x₀, at the
/// network timestep 1000·σ (`flow_timestep`).
struct flow_objective {
  using model = velocity_mlp;

  /// Noises the given columns of `data` with random σ and ε from `g` (per column: σ, then the pixels' ε).
  noised noise(const Eigen::MatrixXf& data, const std::vector<Eigen::Index>& cols, rng& g) const {
    const auto n = static_cast<Eigen::Index>(cols.size());
    noised b{Eigen::MatrixXf(data.rows(), n), std::vector<double>(cols.size()),
             Eigen::MatrixXf(data.rows(), n)};
    Eigen::VectorXf eps(data.rows());
    for (Eigen::Index j = 0; j < n; ++j) {
      const double sigma = g.uniform();
      b.t[static_cast<std::size_t>(j)] = flow_timestep(sigma);
      for (Eigen::Index r = 0; r < data.rows(); ++r) eps(r) = static_cast<float>(g.normal());
      const auto x0 = data.col(cols[static_cast<std::size_t>(j)]);
      b.x.col(j) = static_cast<float>(1.0 - sigma) * x0 + static_cast<float>(sigma) * eps;
      b.target.col(j) = eps - x0;
    }
    return b;
  }
};

/// The training constants (the file comment).
inline constexpr Eigen::Index batch = 64;
inline constexpr double lr_max = 2e-3, lr_min = 1e-5, ema_decay = 0.9995, clip = 1.0;
inline constexpr int warmup = 300, default_steps = 45000, report_every = 2500;
inline constexpr std::uint64_t init_seed = 1, data_seed = 2, held_out_seed = 3;

/// The first n columns of `data`, noised by `objective` from rng(seed).
template <class Objective>
noised first_n(const Objective& objective, const Eigen::MatrixXf& data, Eigen::Index n, std::uint64_t seed) {
  std::vector<Eigen::Index> cols(static_cast<std::size_t>(n));
  for (Eigen::Index j = 0; j < n; ++j) cols[static_cast<std::size_t>(j)] = j;
  rng g(seed);
  return objective.noise(data, cols, g);
}

/// @brief The whole training program (file comment) for `Objective`; `program` names it in its output and
/// errors, `default_out` is the output path without an argument. Returns the exit status.
template <class Objective>
int train_main(int argc, char** argv, const char* program, const char* default_out) {
  using model_t = typename Objective::model;
  try {
    const std::string out_path = argc > 1 ? argv[1] : default_out;
    const int steps = argc > 2 ? std::stoi(argv[2]) : default_steps;
    const std::filesystem::path dir = argc > 3 ? std::filesystem::path(argv[3]) : default_data_dir;
    const auto start = std::chrono::steady_clock::now();
    auto wall = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const double user_start = user_seconds();
    const dataset train = load_dataset(split::train, dir), test = load_dataset(split::test, dir);
    const Objective objective{};
    const noised held_out = first_n(objective, test.x, 2000, held_out_seed);

    const typename model_t::config cfg{};
    model_t net = model_t::random(cfg, init_seed);
    std::vector<float> ema = net.params(), grad;
    adam opt(net.parameter_count());
    std::printf(
        "%s: %zu parameters (hidden %d, %d blocks, %d frequencies up to %d, embedding %d), batch %lld, %d "
        "steps, data loaded in %.1f s\n",
        program, net.parameter_count(), cfg.hidden, cfg.blocks, cfg.frequencies, cfg.max_frequency,
        cfg.embedding, static_cast<long long>(batch), steps, wall());
    std::fflush(stdout);

    rng g(data_seed);
    std::vector<Eigen::Index> order(static_cast<std::size_t>(train.x.cols()));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<Eigen::Index>(i);
    std::size_t next = order.size();  // reshuffle at the start
    double window = 0.0;
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
      const noised b = objective.noise(train.x, cols, g);
      window += net.gradient(b.x, b.t, b.target, grad);
      ++in_window;
      const double progress = static_cast<double>(step) / steps;
      const double lr = (step < warmup ? static_cast<double>(step) / warmup : 1.0) *
                        (lr_min + 0.5 * (lr_max - lr_min) * (1.0 + std::cos(3.141592653589793 * progress)));
      opt.step(net.params(), grad, lr, clip);
      ema_update(ema, net.params(), std::min(ema_decay, (1.0 + step) / (10.0 + step)));
      if (step % report_every == 0 || step == steps) {
        model_t e = net;
        e.params() = ema;
        std::printf(
            "step %6d  lr %.2e  train loss (mean of last %4d steps) %.5f  held-out loss (EMA) %.5f  %.0f s\n",
            step, lr, in_window, window / in_window, e.loss(held_out.x, held_out.t, held_out.target), wall());
        std::fflush(stdout);
        window = 0.0;
        in_window = 0;
      }
    }
    net.params() = ema;
    net.save(out_path);
    const double wall_s = wall(), user = user_seconds() - user_start;
    // Final losses of the saved (EMA) weights with fixed times and noise: all 10,000 test images, and the
    // first 10,000 training images for comparison.
    const noised test_all = first_n(objective, test.x, test.x.cols(), held_out_seed + 1);
    const noised train_part = first_n(objective, train.x, 10000, held_out_seed + 1);
    std::printf("trained in %.0f s wall, %.0f s user; wrote %s\n", wall_s, user, out_path.c_str());
    std::printf(
        "final loss of the saved EMA weights: train (10000 images) %.5f, held-out test (10000 images) %.5f\n",
        net.loss(train_part.x, train_part.t, train_part.target),
        net.loss(test_all.x, test_all.t, test_all.target));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace fashion_mnist::training
