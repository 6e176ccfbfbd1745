/// @file
/// @brief Example code (not part of the library): a labelled figure of image rows (one row per sampler, a
/// text label on the left) as a grey PNG, with a 5×7 bitmap font drawn here for the labels.
#pragma once

#include <stb/stb_image_write.h>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common.hpp"
#include "png_grid.hpp"

namespace fashion_mnist {

namespace detail {

/// One glyph: 7 rows of 5 columns, '#' on.
struct glyph {
  char c;
  std::array<std::string_view, 7> rows;
};

// clang-format off
/// The font: lower case, digits and the punctuation of method names and numbers (upper case is drawn as
/// lower case; anything else as a blank).
inline constexpr std::array<glyph, 52> font{{
    {'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
    {'b', {"#....", "#....", "####.", "#...#", "#...#", "#...#", "####."}},
    {'c', {".....", ".....", ".###.", "#....", "#....", "#....", ".###."}},
    {'d', {"....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"}},
    {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
    {'f', {"..##.", ".#...", "####.", ".#...", ".#...", ".#...", ".#..."}},
    {'g', {".....", ".....", ".####", "#...#", ".####", "....#", ".###."}},
    {'h', {"#....", "#....", "####.", "#...#", "#...#", "#...#", "#...#"}},
    {'i', {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."}},
    {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."}},
    {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
    {'l', {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"}},
    {'n', {".....", ".....", "####.", "#...#", "#...#", "#...#", "#...#"}},
    {'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
    {'p', {".....", ".....", "####.", "#...#", "####.", "#....", "#...."}},
    {'q', {".....", ".....", ".####", "#...#", ".####", "....#", "....#"}},
    {'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
    {'s', {".....", ".....", ".####", "#....", ".###.", "....#", "####."}},
    {'t', {".#...", ".#...", "####.", ".#...", ".#...", ".#..#", "..##."}},
    {'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
    {'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'w', {".....", ".....", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
    {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
    {'y', {".....", ".....", "#...#", "#...#", ".####", "....#", ".###."}},
    {'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {'-', {".....", ".....", ".....", "#####", ".....", ".....", "....."}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {',', {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
    {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
    {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
    {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
    {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
    {';', {".....", ".##..", ".##..", ".....", ".##..", "..#..", ".#..."}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'/', {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."}},
    {'<', {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."}},
    {'>', {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."}},
    {'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
    {'*', {".....", "#.#.#", ".###.", "#####", ".###.", "#.#.#", "....."}},
}};
// clang-format on

inline const glyph* find_glyph(char c) {
  if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (const glyph& g : font)
    if (g.c == c) return &g;
  return nullptr;
}

}  // namespace detail

/// An 8-bit grey canvas, row-major.
struct canvas {
  int width = 0, height = 0;
  std::vector<std::uint8_t> px;
  canvas(int w, int h, std::uint8_t fill)
      : width(w), height(h), px(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), fill) {}
  std::uint8_t& at(int x, int y) {
    return px[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)];
  }
  /// Writes the canvas as a PNG; throws stork::error naming the file if it cannot.
  void write_png(const std::filesystem::path& path) const {
    if (stbi_write_png(path.string().c_str(), width, height, 1, px.data(), width) == 0)
      fail("canvas::write_png", path.string(), "cannot write the PNG file");
  }
};

/// Width in pixels of `text` in the 5×7 font at `scale` (6 columns a character: one of spacing).
inline int text_width(std::string_view text, int scale) { return static_cast<int>(text.size()) * 6 * scale; }

/// Draws `text` with its top-left corner at (x, y), each font pixel scale × scale, in grey `ink`; clipped.
inline void draw_text(canvas& c, int x, int y, std::string_view text, int scale, std::uint8_t ink) {
  for (char ch : text) {
    if (const detail::glyph* g = detail::find_glyph(ch))
      for (int r = 0; r < 7; ++r)
        for (int k = 0; k < 5; ++k)
          if (g->rows[static_cast<std::size_t>(r)][static_cast<std::size_t>(k)] == '#')
            for (int dy = 0; dy < scale; ++dy)
              for (int dx = 0; dx < scale; ++dx) {
                const int px = x + k * scale + dx, py = y + r * scale + dy;
                if (px >= 0 && py >= 0 && px < c.width && py < c.height) c.at(px, py) = ink;
              }
    x += 6 * scale;
  }
}

/// @brief A PNG of labelled image rows: a title line, then per row its label (left) and its images (each
/// column of the matrix one side×side image in [−1, 1], all rows the same count), scaled ×`scale`, on white;
/// wide enough for the title.
inline void write_labelled_rows(const std::filesystem::path& path, const std::string& title,
                                const std::vector<std::pair<std::string, Eigen::MatrixXf>>& rows, int side,
                                int scale = 2) {
  if (rows.empty()) fail("write_labelled_rows", path.string(), "no rows");
  const int text_scale = 2, gap = 2, line = 7 * text_scale;
  int label_w = 0;
  for (const auto& r : rows) label_w = std::max(label_w, text_width(r.first, text_scale));
  label_w += 3 * text_scale * 6 / 2;
  const grid_layout layout{
      .columns = static_cast<int>(rows.front().second.cols()), .scale = scale, .gap = gap};
  int row_w = 0, row_h = 0;
  (void)grid_pixels(rows.front().second, side, layout, row_w, row_h);
  const int top = line + 3 * gap + 4;
  const int width =
      std::max(gap * 4 + label_w + row_w, gap * 8 + text_width(title, text_scale));  // title fits
  canvas c(width, top + static_cast<int>(rows.size()) * row_h + gap, 255);
  draw_text(c, gap * 4, gap * 2, title, text_scale, 0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    int w = 0, h = 0;
    const std::vector<std::uint8_t> px = grid_pixels(rows[i].second, side, layout, w, h);
    if (w != row_w || h != row_h)
      fail("write_labelled_rows", path.string(), "every row needs the same number of images");
    const int y0 = top + static_cast<int>(i) * row_h, x0 = gap * 4 + label_w;
    draw_text(c, gap * 4, y0 + (row_h - line) / 2, rows[i].first, text_scale, 0);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        c.at(x0 + x, y0 + y) =
            px[static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)];
  }
  c.write_png(path);
}

}  // namespace fashion_mnist
