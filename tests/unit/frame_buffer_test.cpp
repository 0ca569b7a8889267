#include "frame_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace bnr::broker {
namespace {

// A payload whose every display value encodes its own full-frame position and view, so a
// shifted copy shows up as a wrong value.
std::uint16_t code(int x, int y, int view, int channel) {
  return static_cast<std::uint16_t>((x * 131 + y * 7 + view * 5000 + channel) & 0xFFFF);
}

std::string payload_for(const protocol::Rect& r, int views, bool with_float) {
  std::string out;
  for (int v = 0; v < views; ++v)
    for (int y = r.y0; y < r.y1; ++y)
      for (int x = r.x0; x < r.x1; ++x)
        for (int c = 0; c < 4; ++c) {
          const std::uint16_t value = code(x, y, v, c);
          out.append(reinterpret_cast<const char*>(&value), sizeof value);
        }
  if (with_float)
    for (int v = 0; v < views; ++v)
      for (int y = r.y0; y < r.y1; ++y)
        for (int x = r.x0; x < r.x1; ++x)
          for (int c = 0; c < 4; ++c) {
            const float value = static_cast<float>(code(x, y, v, c)) / 3.0F;
            out.append(reinterpret_cast<const char*>(&value), sizeof value);
          }
  return out;
}

TEST(FrameBuffer, MarginIsClippedToTheFrame) {
  EXPECT_EQ(with_margin({0, 0, 10, 20}, 4, 30, 20), (protocol::Rect{0, 0, 14, 20}));
  EXPECT_EQ(with_margin({10, 0, 20, 20}, 4, 30, 20), (protocol::Rect{6, 0, 24, 20}));
  EXPECT_EQ(with_margin({28, 2, 30, 5}, 4, 30, 20), (protocol::Rect{24, 0, 30, 9}));
  EXPECT_EQ(with_margin({5, 5, 6, 6}, 0, 30, 20), (protocol::Rect{5, 5, 6, 6}));
}

TEST(FrameBuffer, OnlyTheCoreOfARegionWithMarginLandsAtItsPlace) {
  FrameBuffer frame(30, 6, 2, true);
  const protocol::Rect core{10, 0, 17, 6};
  const protocol::Rect rendered = with_margin(core, 3, 30, 6);
  ASSERT_TRUE(frame.merge(core, rendered, 2, true, payload_for(rendered, 2, true)));
  for (int v = 0; v < 2; ++v)
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 30; ++x)
        for (int c = 0; c < 4; ++c) {
          const bool inside = x >= core.x0 && x < core.x1;
          const std::uint16_t want = inside ? code(x, y, v, c) : 0;
          ASSERT_EQ(frame.display()[v].pixel(x, y)[c], want) << x << "," << y << " view " << v;
          ASSERT_FLOAT_EQ(frame.linear()[v].pixel(x, y)[c], inside ? static_cast<float>(want) / 3.0F : 0.0F);
        }
}

TEST(FrameBuffer, OnePixelWideRegionsTileTheWholeFrame) {
  FrameBuffer frame(13, 4, 1, false);
  for (int x = 0; x < 13; ++x) {
    const protocol::Rect core{x, 0, x + 1, 4};
    const protocol::Rect rendered = with_margin(core, 2, 13, 4);
    ASSERT_TRUE(frame.merge(core, rendered, 1, false, payload_for(rendered, 1, false)));
  }
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 13; ++x) ASSERT_EQ(frame.display()[0].pixel(x, y)[2], code(x, y, 0, 2));
}

TEST(FrameBuffer, PayloadsThatDoNotFitChangeNothing) {
  FrameBuffer frame(10, 4, 1, false);
  const protocol::Rect core{2, 0, 5, 4};
  const std::string good = payload_for(core, 1, false);
  EXPECT_FALSE(frame.merge(core, core, 1, false, good.substr(1)));                      // short
  EXPECT_FALSE(frame.merge(core, {3, 0, 5, 4}, 1, false, payload_for({3, 0, 5, 4}, 1, false)));  // core outside
  EXPECT_FALSE(frame.merge(core, core, 2, false, payload_for(core, 2, false)));       // view count
  EXPECT_FALSE(frame.merge({8, 0, 11, 4}, {8, 0, 11, 4}, 1, false, payload_for({8, 0, 11, 4}, 1, false)));
  for (std::uint16_t v : frame.display()[0].rgba) ASSERT_EQ(v, 0);
  EXPECT_TRUE(frame.merge(core, core, 1, false, good));
}

TEST(FrameBuffer, FloatImageNeedsFloatPixels) {
  FrameBuffer frame(4, 4, 1, true);
  const protocol::Rect r{0, 0, 4, 4};
  EXPECT_FALSE(frame.merge(r, r, 1, false, payload_for(r, 1, false)));
  EXPECT_TRUE(frame.merge(r, r, 1, true, payload_for(r, 1, true)));
}

}  // namespace
}  // namespace bnr::broker
