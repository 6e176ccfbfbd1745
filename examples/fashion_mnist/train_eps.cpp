// Trains the Fashion-MNIST ε-prediction model (models.hpp: eps_mlp) and writes its weight file.
//
// Not run by ctest (about 10 minutes of one core). To retrain and replace the committed weights:
//   cmake --build build/dev --target fashion_mnist_train_eps
//   build/dev/examples/fashion_mnist/fashion_mnist_train_eps examples/fashion_mnist/eps_weights.bin
// Arguments: [output path, default eps_weights.bin] [steps, default 45000] [data directory, default
// /usr/share/datasets/fashion-mnist]. Single-threaded and seeded: a rerun on the same machine and build
// writes the same file byte for byte (other CPUs or compilers may round differently).
//
// DDPM ε-prediction on Stable Diffusion's scaled-linear table (T = 1000): x₀ a training image (14×14,
// [−1, 1]), t uniform in {0, …, 999}, ε ~ N(0, I), x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε, loss mean (ε̂(x_t, t) − ε)²
// (train.hpp: epsilon_objective). The run — Adam with warm-up and cosine decay, gradient clipping, the
// saved exponential moving average of the weights, the loss reports — is train.hpp's, shared with the
// velocity model's trainer (train_flow.cpp).

#include "train.hpp"

int main(int argc, char** argv) {
  return fashion_mnist::training::train_main<fashion_mnist::training::epsilon_objective>(
      argc, argv, "fashion_mnist_train_eps", "eps_weights.bin");
}
