/// @file
/// @brief Example code (not part of the library): a PNG of a grid of model-space images (stb_image_write).
/// An executable that includes this header must compile stb_image_write's implementation once
/// (examples/fashion_mnist/stb_impl.cpp).
#pragma once

#include <stb/stb_image_write.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common.hpp"

namespace fashion_mnist {

/// Layout of a grid picture.
struct grid_layout {
  int columns = 8;  ///< tiles per row (rows: as many as the images need)
  int scale = 4;    ///< each pixel becomes scale × scale
  int gap = 2;      ///< pixels (after scaling) between tiles and around the border
};

/// @brief The 8-bit grey picture of a grid of images (each column of `images` one side×side image, row-major,
/// values in [−1, 1] mapped to 0..255 with clamping; the gaps are mid-grey 128). Returns the pixels,
/// row-major, and sets width and height.
inline std::vector<std::uint8_t> grid_pixels(const Eigen::MatrixXf& images, int side, const grid_layout& g,
                                             int& width, int& height) {
  if (side < 1 || images.rows() != static_cast<Eigen::Index>(side) * side)
    stork::detail::fail("fashion_mnist::grid_pixels", "images.rows()", static_cast<long long>(images.rows()),
                        "needs side x side = " + std::to_string(side) + "x" + std::to_string(side));
  if (images.cols() < 1 || images.cols() > 4096)
    stork::detail::fail("fashion_mnist::grid_pixels", "images.cols()", static_cast<long long>(images.cols()),
                        "needs 1 to 4096 images");
  if (g.columns < 1 || g.scale < 1 || g.scale > 64 || g.gap < 0 || g.gap > 64)
    stork::detail::fail("fashion_mnist::grid_pixels", "layout.columns", g.columns,
                        "needs columns >= 1, scale 1 to 64, gap 0 to 64");
  const int n = static_cast<int>(images.cols());
  const int cols = std::min(g.columns, n), rows = (n + cols - 1) / cols, tile = side * g.scale;
  width = cols * tile + (cols + 1) * g.gap;
  height = rows * tile + (rows + 1) * g.gap;
  std::vector<std::uint8_t> px(static_cast<std::size_t>(width) * static_cast<std::size_t>(height), 128);
  for (int k = 0; k < n; ++k) {
    const int x0 = g.gap + (k % cols) * (tile + g.gap), y0 = g.gap + (k / cols) * (tile + g.gap);
    for (int y = 0; y < tile; ++y)
      for (int x = 0; x < tile; ++x) {
        const float v = images((y / g.scale) * side + x / g.scale, k);
        const float c = std::clamp(std::isnan(v) ? -1.0f : v, -1.0f, 1.0f);
        px[static_cast<std::size_t>(y0 + y) * static_cast<std::size_t>(width) +
           static_cast<std::size_t>(x0 + x)] = static_cast<std::uint8_t>(std::lround((c + 1.0f) * 127.5f));
      }
  }
  return px;
}

/// @brief Writes images (pixels × n, side×side each, values in [−1, 1]) as a PNG grid, by default 8 tiles
/// a row, ×4 upscaled: 64 images of 14×14 give a 466×466 picture. Throws stork::error naming the file if
/// it cannot be written.
inline void write_png_grid(const std::filesystem::path& path, const Eigen::MatrixXf& images, int side,
                           const grid_layout& g = {}) {
  int w = 0, h = 0;
  const std::vector<std::uint8_t> px = grid_pixels(images, side, g, w, h);
  if (stbi_write_png(path.string().c_str(), w, h, 1, px.data(), w) == 0)
    fail("write_png_grid", path.string(), "cannot write the PNG file");
}

}  // namespace fashion_mnist
