// Trains the flow_mlp velocity field by flow matching on two moons and writes its weights.
//
// Not run by ctest (it takes one to two minutes on 2 cores). To retrain and replace the committed weights:
//   cmake --build build/dev --target flow_mlp_train
//   build/dev/examples/flow_mlp/flow_mlp_train examples/flow_mlp/weights.txt
// Arguments: [output path, default weights.txt] [steps, default 30000]. Everything is seeded, so a rerun
// on the same machine and compiler writes the same file.
//
// Flow matching (rectified flow): x₀ ~ two moons, ε ~ N(0, I), σ ∈ (0, 1), x_σ = (1−σ)x₀ + σε; the
// network regresses the velocity dx/dσ = ε − x₀ with the mean squared error (σ drawn as in `draw`). Adam,
// cosine learning rate, and an exponential moving average (EMA) of the weights, which is what is saved.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "flow_mlp.hpp"

namespace {

constexpr int frequencies = 4;
const std::vector<int> hidden{64, 64};
constexpr Eigen::Index batch = 512;
constexpr double lr_max = 5e-3, lr_min = 2e-5, ema_decay = 0.999;
constexpr int warmup = 500;
constexpr std::uint64_t init_seed = 1, data_seed = 11, validation_seed = 101;

/// One flow-matching batch: inputs x_σ, times σ, targets ε − x₀.
struct fm_batch {
  Eigen::MatrixXd x;
  Eigen::VectorXd sigma;
  Eigen::MatrixXd target;
};

/// Training batches draw σ uniformly for half the samples and as u³ (dense near 0, where the velocity is
/// sharpest) for the other half; validation batches draw σ uniformly.
fm_batch draw(Eigen::Index n, flow_mlp::rng& g, bool training) {
  const Eigen::MatrixXd x0 = flow_mlp::two_moons(n, g);
  const Eigen::MatrixXd eps = g.normal_matrix(2, n);
  fm_batch b{Eigen::MatrixXd(2, n), Eigen::VectorXd(n), eps - x0};
  for (Eigen::Index j = 0; j < n; ++j) {
    b.sigma(j) = g.uniform();
    if (training && g.uniform() < 0.5) b.sigma(j) = std::pow(b.sigma(j), 3.0);
    b.x.col(j) = (1.0 - b.sigma(j)) * x0.col(j) + b.sigma(j) * eps.col(j);
  }
  return b;
}

/// Mean over the batch of |v − target|².
double loss_of(const flow_mlp::model& m, const fm_batch& b) {
  return (m.forward(m.features(b.x, b.sigma)) - b.target).colwise().squaredNorm().mean();
}

struct adam_slot {
  Eigen::MatrixXd mw, vw;
  Eigen::VectorXd mb, vb;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string out_path = argc > 1 ? argv[1] : "weights.txt";
  const int steps = argc > 2 ? std::stoi(argv[2]) : 30000;
  flow_mlp::model net = flow_mlp::random_model(frequencies, hidden, init_seed);
  flow_mlp::model ema = net;
  const std::size_t L = net.layers().size();
  std::vector<adam_slot> opt(L);
  for (std::size_t k = 0; k < L; ++k) {
    const flow_mlp::layer& l = net.layers()[k];
    opt[k] = {Eigen::MatrixXd::Zero(l.w.rows(), l.w.cols()), Eigen::MatrixXd::Zero(l.w.rows(), l.w.cols()),
              Eigen::VectorXd::Zero(l.b.size()), Eigen::VectorXd::Zero(l.b.size())};
  }
  flow_mlp::rng data(data_seed), vg(validation_seed);
  const fm_batch validation = draw(8192, vg, false);
  std::printf("flow_mlp_train: %lld parameters, batch %lld, %d steps\n",
              static_cast<long long>(net.parameter_count()), static_cast<long long>(batch), steps);

  const auto start = std::chrono::steady_clock::now();
  std::vector<Eigen::MatrixXd> z(L), a(L + 1);
  double running = 0.0, last_window = 0.0;
  int in_window = 0;
  for (int step = 1; step <= steps; ++step) {
    const fm_batch b = draw(batch, data, true);
    // Forward, keeping pre-activations z and activations a.
    a[0] = net.features(b.x, b.sigma);
    for (std::size_t k = 0; k < L; ++k) {
      z[k] = net.layers()[k].w * a[k];
      z[k].colwise() += net.layers()[k].b;
      a[k + 1] =
          k + 1 < L ? Eigen::MatrixXd(z[k].unaryExpr([](double t) { return flow_mlp::silu(t); })) : z[k];
    }
    const Eigen::MatrixXd r = a[L] - b.target;
    const double loss = r.colwise().squaredNorm().mean();
    running += loss;
    ++in_window;
    // Backward: dL/d out = 2 r / batch.
    Eigen::MatrixXd d = (2.0 / static_cast<double>(batch)) * r;
    const double progress = static_cast<double>(step) / steps;
    const double lr = (step < warmup ? static_cast<double>(step) / warmup : 1.0) *
                      (lr_min + 0.5 * (lr_max - lr_min) * (1.0 + std::cos(std::numbers::pi * progress)));
    const double bc1 = 1.0 - std::pow(0.9, step), bc2 = 1.0 - std::pow(0.999, step);
    for (std::size_t k = L; k-- > 0;) {
      flow_mlp::layer& l = net.layers()[k];
      const Eigen::MatrixXd gw = d * a[k].transpose();
      const Eigen::VectorXd gb = d.rowwise().sum();
      if (k > 0) {
        d = l.w.transpose() * d;
        d.array() *= z[k - 1].unaryExpr([](double t) { return flow_mlp::silu_grad(t); }).array();
      }
      adam_slot& o = opt[k];
      o.mw = 0.9 * o.mw + 0.1 * gw;
      o.vw = 0.999 * o.vw + 0.001 * gw.cwiseAbs2();
      o.mb = 0.9 * o.mb + 0.1 * gb;
      o.vb = 0.999 * o.vb + 0.001 * gb.cwiseAbs2();
      l.w.array() -= lr * (o.mw.array() / bc1) / ((o.vw.array() / bc2).sqrt() + 1e-8);
      l.b.array() -= lr * (o.mb.array() / bc1) / ((o.vb.array() / bc2).sqrt() + 1e-8);
    }
    const double decay = std::min(ema_decay, (1.0 + step) / (10.0 + step));
    for (std::size_t k = 0; k < L; ++k) {
      ema.layers()[k].w = decay * ema.layers()[k].w + (1.0 - decay) * net.layers()[k].w;
      ema.layers()[k].b = decay * ema.layers()[k].b + (1.0 - decay) * net.layers()[k].b;
    }
    if (step % 1000 == 0 || step == steps) {
      last_window = running / in_window;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf(
          "step %6d  lr %.2e  train loss (mean of last %4d) %.4f  validation loss (EMA) %.4f  %.1f s\n", step,
          lr, in_window, last_window, loss_of(ema, validation), secs);
      std::fflush(stdout);
      running = 0.0;
      in_window = 0;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ofstream os(out_path);
  ema.save(os);
  os.close();
  if (!os) {
    std::fprintf(stderr, "flow_mlp_train: cannot write %s\n", out_path.c_str());
    return 1;
  }
  std::printf("trained in %.1f s; final train loss %.4f, validation loss (EMA weights) %.4f; wrote %s\n",
              secs, last_window, loss_of(ema, validation), out_path.c_str());
  // The irreducible part of the loss: E|ε − x₀ − E[ε − x₀ | x_σ]|² > 0, so the loss never reaches 0.
}
