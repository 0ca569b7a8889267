#include "image_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace bnr::tools {
namespace {

template <typename Image>
ImageDifference start(const Image& a, const Image& b) {
  ImageDifference d;
  d.width_a = a.width;
  d.height_a = a.height;
  d.width_b = b.width;
  d.height_b = b.height;
  // A buffer that does not match its size is treated like a size mismatch rather than read
  // out of bounds.
  const auto values = static_cast<std::size_t>(a.width) * a.height * 4;
  d.same_size = a.width == b.width && a.height == b.height && a.rgba.size() == values &&
                b.rgba.size() == values;
  return d;
}

// Counts the pixel once however many of its channels are over.
void note_over(ImageDifference& d, std::size_t value_index, int width, bool& pixel_counted) {
  if (pixel_counted) return;
  pixel_counted = true;
  if (d.pixels_over++ == 0) {
    const auto pixel = static_cast<long long>(value_index / 4);
    d.first_x = static_cast<int>(pixel % width);
    d.first_y = static_cast<int>(pixel / width);
    d.first_channel = static_cast<int>(value_index % 4);
  }
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

}  // namespace

ImageDifference compare(const Image16& a, const Image16& b, double tolerance) {
  ImageDifference d = start(a, b);
  if (!d.same_size) return d;
  int max_abs = 0;
  for (std::size_t p = 0; p < a.rgba.size(); p += 4) {
    bool counted = false;
    for (std::size_t i = p; i < p + 4; ++i) {
      const int diff = std::abs(static_cast<int>(a.rgba[i]) - static_cast<int>(b.rgba[i]));
      max_abs = std::max(max_abs, diff);
      if (diff > tolerance) note_over(d, i, a.width, counted);
    }
  }
  d.max_abs = max_abs;
  return d;
}

ImageDifference compare(const ImageF& a, const ImageF& b, double tolerance) {
  ImageDifference d = start(a, b);
  if (!d.same_size) return d;
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  for (std::size_t p = 0; p < a.rgba.size(); p += 4) {
    bool counted = false;
    for (std::size_t i = p; i < p + 4; ++i) {
      const double x = a.rgba[i];
      const double y = b.rgba[i];
      if (x == y || (std::isnan(x) && std::isnan(y))) continue;
      // Without this, a NaN difference compares false against everything and passes, and
      // an infinity passes against a tolerance scaled by that same infinity.
      if (!std::isfinite(x) || !std::isfinite(y)) {
        d.max_abs = kInfinity;
        note_over(d, i, a.width, counted);
        continue;
      }
      const double diff = std::abs(x - y);
      d.max_abs = std::max(d.max_abs, diff);
      if (diff > tolerance * std::max({1.0, std::abs(x), std::abs(y)})) {
        note_over(d, i, a.width, counted);
      }
    }
  }
  return d;
}

std::string describe(const ImageDifference& d, double tolerance) {
  if (!d.same_size) {
    return "size " + std::to_string(d.width_a) + "x" + std::to_string(d.height_a) + " vs " +
           std::to_string(d.width_b) + "x" + std::to_string(d.height_b);
  }
  std::string line = "max diff " + number(d.max_abs) + ", " + std::to_string(d.pixels_over) +
                     (d.pixels_over == 1 ? " pixel" : " pixels") + " over " + number(tolerance);
  if (d.pixels_over > 0) {
    static constexpr char kChannelNames[] = "RGBA";
    line += " (first at x=" + std::to_string(d.first_x) + " y=" + std::to_string(d.first_y) +
            " channel " + kChannelNames[d.first_channel] + ")";
  }
  return line;
}

}  // namespace bnr::tools
