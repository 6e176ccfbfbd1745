// Trains the Fashion-MNIST rectified-flow velocity model (models.hpp: velocity_mlp) and writes its weight
// file.
//
// Not run by ctest (about 10 minutes of one core). To retrain and replace the committed weights:
//   cmake --build build/dev --target fashion_mnist_train_flow
//   build/dev/examples/fashion_mnist/fashion_mnist_train_flow examples/fashion_mnist/velocity_weights.bin
// Arguments: [output path, default velocity_weights.bin] [steps, default 45000] [data directory, default
// /usr/share/datasets/fashion-mnist]. Single-threaded and seeded: a rerun on the same machine and build
// writes the same file byte for byte (other CPUs or compilers may round differently).
//
// Rectified flow: x₀ a training image (14×14, [−1, 1]), σ uniform in (0, 1), ε ~ N(0, I),
// x_σ = (1 − σ)·x₀ + σ·ε, loss mean (v̂(x_σ, 1000·σ) − (ε − x₀))² (train.hpp: flow_objective). Everything
// else — data, network, optimiser, schedule, EMA, seeds and the 45,000 steps of batch 64 — is the ε model's
// (train.hpp).

#include "train.hpp"

int main(int argc, char** argv) {
  return fashion_mnist::training::train_main<fashion_mnist::training::flow_objective>(
      argc, argv, "fashion_mnist_train_flow", "velocity_weights.bin");
}
