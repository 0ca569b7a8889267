#include "preview.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(Preview, ANarrowFrameIsKeptAsItIs) {
  tools::Image16 full(4, 2);
  full.pixel(1, 1)[0] = 1234;
  const tools::Image16 p = preview_image(full, 2048);
  EXPECT_EQ(p.width, 4);
  EXPECT_EQ(p.rgba, full.rgba);
}

TEST(Preview, AWideFrameShrinksByAWholeFactorAndUnrenderedPartsStayTransparent) {
  tools::Image16 full(8, 4);
  // The left half is rendered opaque red; the right half is still empty.
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      full.pixel(x, y)[0] = 65535;
      full.pixel(x, y)[3] = 65535;
    }
  const tools::Image16 p = preview_image(full, 3);  // factor 3: 8x4 -> 3x2
  EXPECT_EQ(p.width, 3);
  EXPECT_EQ(p.height, 2);
  EXPECT_EQ(p.pixel(0, 0)[0], 65535);
  EXPECT_EQ(p.pixel(0, 0)[3], 65535);
  EXPECT_EQ(p.pixel(2, 0)[3], 0);  // all empty: transparent
  // A box that is a third rendered: red stays full red (no darkening), alpha is a third.
  EXPECT_EQ(p.pixel(1, 0)[0], 65535);
  EXPECT_NEAR(p.pixel(1, 0)[3], 65535 / 3, 1);
}

}  // namespace
}  // namespace bnr::broker
