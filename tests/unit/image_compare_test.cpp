#include "image_compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace bnr::tools {
namespace {

constexpr double kPngTolerance = 3 * 257;

// A horizontal ramp with a different value in every column and channel.
Image16 ramp16(int width, int height) {
  Image16 image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 4; ++c)
        image.pixel(x, y)[c] = static_cast<std::uint16_t>(x * 2000 + c * 10 + y);
    }
  }
  return image;
}

TEST(ImageCompare, IdenticalImagesHaveNoDifference) {
  const Image16 a = ramp16(10, 8);
  const ImageDifference d = compare(a, a, 0.0);
  EXPECT_TRUE(d.same_size);
  EXPECT_EQ(d.max_abs, 0.0);
  EXPECT_EQ(d.pixels_over, 0);
  EXPECT_EQ(d.first_x, -1);
  EXPECT_EQ(d.first_y, -1);
  EXPECT_EQ(d.first_channel, -1);
  EXPECT_EQ(describe(d, kPngTolerance), "max diff 0, 0 pixels over 771");
}

TEST(ImageCompare, FindsARegionPlacedOneColumnOff) {
  const Image16 a = ramp16(10, 8);
  Image16 b = a;
  // Columns 4..6 of b hold what a has one column to the left, as a mis-placed tile would.
  for (int y = 0; y < 8; ++y) {
    for (int x = 4; x <= 6; ++x) {
      for (int c = 0; c < 4; ++c) b.pixel(x, y)[c] = a.pixel(x - 1, y)[c];
    }
  }
  const ImageDifference d = compare(a, b, kPngTolerance);
  EXPECT_TRUE(d.same_size);
  EXPECT_EQ(d.max_abs, 2000.0);
  EXPECT_EQ(d.pixels_over, 3 * 8);
  EXPECT_EQ(d.first_x, 4);
  EXPECT_EQ(d.first_y, 0);
  EXPECT_EQ(d.first_channel, 0);
  EXPECT_EQ(describe(d, kPngTolerance),
            "max diff 2000, 24 pixels over 771 (first at x=4 y=0 channel R)");
}

TEST(ImageCompare, CountsEachPixelOnceAndReportsTheFirstChannel) {
  Image16 a(3, 2);
  Image16 b(3, 2);
  b.pixel(2, 1)[2] = 1000;
  b.pixel(2, 1)[3] = 5000;
  const ImageDifference d = compare(a, b, kPngTolerance);
  EXPECT_EQ(d.pixels_over, 1);
  EXPECT_EQ(d.first_x, 2);
  EXPECT_EQ(d.first_y, 1);
  EXPECT_EQ(d.first_channel, 2);
  EXPECT_EQ(d.max_abs, 5000.0);
  EXPECT_EQ(describe(d, kPngTolerance),
            "max diff 5000, 1 pixel over 771 (first at x=2 y=1 channel B)");
}

TEST(ImageCompare, DifferenceEqualToToleranceIsNotOver) {
  Image16 a(2, 2);
  Image16 b(2, 2);
  b.pixel(1, 1)[0] = 771;
  EXPECT_EQ(compare(a, b, kPngTolerance).pixels_over, 0);
  b.pixel(1, 1)[0] = 772;
  EXPECT_EQ(compare(a, b, kPngTolerance).pixels_over, 1);
  EXPECT_EQ(compare(a, b, kPngTolerance).max_abs, 772.0);
}

TEST(ImageCompare, SizeMismatchIsReported) {
  const ImageDifference d = compare(Image16(10, 10), Image16(12, 10), kPngTolerance);
  EXPECT_FALSE(d.same_size);
  EXPECT_EQ(describe(d, kPngTolerance), "size 10x10 vs 12x10");
  const ImageDifference f = compare(ImageF(3, 4), ImageF(3, 5), 1e-3);
  EXPECT_FALSE(f.same_size);
  EXPECT_EQ(describe(f, 1e-3), "size 3x4 vs 3x5");
}

TEST(ImageCompare, BufferNotMatchingItsSizeIsNotTheSameSize) {
  Image16 a(2, 2);
  Image16 b(2, 2);
  b.rgba.resize(3);
  EXPECT_FALSE(compare(a, b, 0.0).same_size);
}

TEST(ImageCompare, FloatToleranceIsRelativeAboveOne) {
  ImageF a(2, 1);
  ImageF b(2, 1);
  a.pixel(0, 0)[0] = 1000.0F;
  b.pixel(0, 0)[0] = 1000.5F;  // 5e-4 relative: within 1e-3
  a.pixel(1, 0)[1] = 0.1F;
  b.pixel(1, 0)[1] = 0.1015F;  // 1.5e-3 absolute: over
  const ImageDifference d = compare(a, b, 1e-3);
  EXPECT_EQ(d.pixels_over, 1);
  EXPECT_EQ(d.first_x, 1);
  EXPECT_EQ(d.first_channel, 1);
  EXPECT_DOUBLE_EQ(d.max_abs, 0.5);
  EXPECT_EQ(describe(d, 1e-3), "max diff 0.5, 1 pixel over 0.001 (first at x=1 y=0 channel G)");
}

TEST(ImageCompare, FloatComparisonIsSymmetric) {
  ImageF a(1, 1);
  ImageF b(1, 1);
  a.rgba = {10.0F, 0.0F, 0.0F, 1.0F};
  b.rgba = {10.0099F, 0.0F, 0.0F, 1.0F};  // within 1e-3 of the larger value, not the smaller
  EXPECT_EQ(compare(a, b, 1e-3).pixels_over, compare(b, a, 1e-3).pixels_over);
}

TEST(ImageCompare, NanOrInfinityAgainstANumberIsOver) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  ImageF a(4, 1);
  ImageF b(4, 1);
  a.pixel(0, 0)[0] = nan;  // NaN vs 0: over
  a.pixel(1, 0)[0] = nan;
  b.pixel(1, 0)[0] = nan;  // NaN vs NaN: same
  a.pixel(2, 0)[0] = inf;
  b.pixel(2, 0)[0] = inf;  // inf vs inf: same
  a.pixel(3, 0)[0] = inf;
  b.pixel(3, 0)[0] = 1e30F;  // inf vs a huge number: over
  const ImageDifference d = compare(a, b, 1e-3);
  EXPECT_EQ(d.pixels_over, 2);
  EXPECT_EQ(d.first_x, 0);
  EXPECT_TRUE(std::isinf(d.max_abs));
}

}  // namespace
}  // namespace bnr::tools
