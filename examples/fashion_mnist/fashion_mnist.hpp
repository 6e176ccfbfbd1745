/// @file
/// @brief Example code (not part of the library): everything for the Fashion-MNIST diffusion example —
/// data (data.hpp), weight files (weights.hpp), the ε model and the classifier (models.hpp), the Fréchet
/// distance (frechet.hpp) and PNG grids (png_grid.hpp). Compile examples/fashion_mnist/stb_impl.cpp once
/// into every executable that includes it.
#pragma once

#include "data.hpp"
#include "frechet.hpp"
#include "models.hpp"
#include "png_grid.hpp"
#include "weights.hpp"
