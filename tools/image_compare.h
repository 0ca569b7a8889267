// Pixel comparison of two images, for tests, tools/bnr-imgdiff and benchmarks.
#pragma once

#include <string>

#include "image.h"

namespace bnr::tools {

struct ImageDifference {
  bool same_size = false;
  double max_abs = 0.0;            // largest channel difference, in the images' own units
  long long pixels_over = 0;       // pixels with any channel difference above the tolerance
  int first_x = -1, first_y = -1;  // first such pixel (row-major), -1 when none
  int first_channel = -1;
  int width_a = 0, height_a = 0;   // the two sizes, for describe()
  int width_b = 0, height_b = 0;
};

// Tolerance in 16-bit units (3/255 of full scale is 3 * 257). A difference equal to the
// tolerance is not over. Images of different sizes: same_size false and nothing else compared.
[[nodiscard]] ImageDifference compare(const Image16& a, const Image16& b, double tolerance);
// Tolerance as absolute float difference, scaled by max(1, |a|, |b|) so bright HDR values
// compare relatively (and compare(a, b) matches compare(b, a)). A NaN or infinity against any
// other value counts as over with max_abs infinite; equal infinities or two NaNs are the same.
[[nodiscard]] ImageDifference compare(const ImageF& a, const ImageF& b, double tolerance);

// One line for humans, e.g. "max diff 2.00, 0 pixels over 3.00" or "size 10x10 vs 12x10".
[[nodiscard]] std::string describe(const ImageDifference& d, double tolerance);

}  // namespace bnr::tools
