/// @file
/// @brief `stork::variant`: which STORK to run, the textbook method or the reference code's.
#pragma once

namespace stork {

/// @brief `corrected` (the default) is the textbook method: Abdulle's ROCK4 bookkeeping, exact RKG2
/// stage times, velocity polynomials exact on non-uniform grids, correct third derivatives and an
/// order-preserving start-up. `reference` reproduces the reference STORKScheduler.py step for step,
/// defects included (docs/reference.md §2), for people reproducing the paper's numbers.
enum class variant { corrected, reference };

}  // namespace stork
