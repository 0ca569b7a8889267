// Passes end to end in pure code: the wire's pass layout (codec), the spool's copy of it, the
// frame buffer's merge of every channel, and the multilayer EXR file they end up in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "codec.h"
#include "exr_layers.h"
#include "frame_buffer.h"
#include "layers_compare.h"
#include "pass_output.h"
#include "post_process.h"
#include "region_spool.h"
#include "temp_dir.h"

namespace bnr::broker {
namespace {

protocol::PassLayout two_channels() {
  return {{{"Main.Depth.Z", false}, {"Main.AO.R", true}},
          {{"cryptomatte/abc/manifest", "{\"Ball\":\"74d3ebe9\"}"}, {"RenderTime", "00:01.00"}}};
}

// The value of pass channel `c` at full-frame (x, y): a shifted copy shows as another value.
float value(int x, int y, int c) { return static_cast<float>(x * 1000 + y * 10 + c) + 0.25F; }

// Display pixels (zeros) then, per channel, the rendered rectangle's floats.
std::string payload_for(const protocol::Rect& r, std::size_t channels) {
  std::string out(protocol::region_payload_bytes(r, 1, false), '\0');
  for (std::size_t c = 0; c < channels; ++c)
    for (int y = r.y0; y < r.y1; ++y)
      for (int x = r.x0; x < r.x1; ++x) {
        const float v = value(x, y, static_cast<int>(c));
        out.append(reinterpret_cast<const char*>(&v), sizeof v);
      }
  return out;
}

TEST(PassLayout, RoundTripsInARegionDoneAndSizesThePayload) {
  const protocol::Rect rect{2, 0, 5, 4};
  protocol::RegionDone done{"j", 3, rect, 1, false, 0.5};
  done.passes = two_channels();
  const std::string bulk = payload_for(rect, 2);
  EXPECT_EQ(bulk.size(), protocol::region_payload_bytes(rect, 1, false) + 2 * rect.area() * sizeof(float));
  const auto frames = protocol::encode(done);
  const std::string_view parts[] = {frames[0], frames[1], bulk};
  const protocol::Decoded d = protocol::decode(parts);
  ASSERT_TRUE(d.packet) << d.error;
  EXPECT_EQ(std::get<protocol::RegionDone>(d.packet->message).passes, done.passes);

  const std::string_view short_bulk[] = {frames[0], frames[1], std::string_view(bulk).substr(4)};
  EXPECT_FALSE(protocol::decode(short_bulk).packet) << "the payload must hold every channel";
}

TEST(PassLayout, HostileLayoutsAreRefusedWithAReason) {
  protocol::PassLayout twice = two_channels();
  twice.channels.push_back(twice.channels.front());
  EXPECT_NE(protocol::pass_layout_problem(twice).find("twice"), std::string::npos);
  protocol::PassLayout control = two_channels();
  control.channels[0].name = "Main.\nDepth";
  EXPECT_NE(protocol::pass_layout_problem(control), "");
  protocol::PassLayout many;
  for (std::size_t i = 0; i <= protocol::kMaxPassChannels; ++i) many.channels.push_back({"c" + std::to_string(i)});
  EXPECT_NE(protocol::pass_layout_problem(many), "");
  protocol::PassLayout empty_name = two_channels();
  empty_name.channels[1].name.clear();
  EXPECT_NE(protocol::pass_layout_problem(empty_name), "");
  EXPECT_EQ(protocol::pass_layout_problem(two_channels()), "");
  EXPECT_FALSE(protocol::decode_pass_layout("\x92\x91\x92\xa1" "a").has_value()) << "truncated msgpack";
  EXPECT_EQ(protocol::decode_pass_layout(protocol::encode_pass_layout(two_channels())), two_channels());
}

TEST(PassFrameBuffer, EveryChannelsCoreLandsInPlaceAndAnotherLayoutIsRefused) {
  FrameBuffer frame(12, 4, 1, false, true);
  const protocol::Rect core{4, 0, 8, 4};
  const protocol::Rect rendered = with_margin(core, 2, 12, 4);
  EXPECT_FALSE(frame.merge(core, rendered, 1, false, payload_for(rendered, 0))) << "passes were asked for";
  ASSERT_TRUE(frame.merge(core, rendered, 1, false, payload_for(rendered, 2), two_channels()));
  ASSERT_EQ(frame.passes().size(), 1U);
  const tools::ExrLayers& layers = frame.passes()[0];
  ASSERT_EQ(layers.channels.size(), 2U);
  EXPECT_EQ(layers.channels[1].name, "Main.AO.R");
  EXPECT_TRUE(layers.channels[1].half);
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 12; ++x)
        ASSERT_EQ(layers.channels[c].pixels[y * 12 + x], x >= 4 && x < 8 ? value(x, y, c) : 0.0F) << x << "," << y;

  protocol::PassLayout other = two_channels();
  other.channels[1].name = "Main.AO.G";
  EXPECT_FALSE(frame.merge({0, 0, 4, 4}, {0, 0, 4, 4}, 1, false, payload_for({0, 0, 4, 4}, 2), other));
  frame.set_pass_text("RenderTime", "00:09.00");
  frame.set_pass_text("NotStamped", "x");
  EXPECT_EQ(frame.passes()[0].text.back(), (std::pair<std::string, std::string>("RenderTime", "00:09.00")));
  EXPECT_EQ(frame.passes()[0].text.size(), 2U) << "only attributes the regions carried";
}

TEST(PassSpool, ARegionWithPassesReplaysWithItsLayout) {
  tools::TempDir temp("bnr-pass-spool");
  const protocol::Rect rect{0, 0, 3, 2};
  const std::string payload = payload_for(rect, 2);
  {
    RegionSpool spool = RegionSpool::open(temp.path() / "s", "key");
    spool.append(rect, rect, 1, false, payload, two_channels());
    spool.append(rect, rect, 1, false, std::string(protocol::region_payload_bytes(rect, 1, false), 'x'));
    EXPECT_THROW(spool.append(rect, rect, 1, false, payload), std::invalid_argument) << "layout missing";
  }
  RegionSpool spool = RegionSpool::open(temp.path() / "s", "key");
  std::vector<std::pair<protocol::PassLayout, std::string>> seen;
  spool.replay([&](const SpooledRegion& r) { seen.emplace_back(r.passes, std::string(r.payload)); });
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].first, two_channels());
  EXPECT_EQ(seen[0].second, payload);
  EXPECT_TRUE(seen[1].first.empty());
}

TEST(ExrLayersFile, WritesAndReadsBackChannelsTypesTextAndCompression) {
  tools::TempDir temp("bnr-exr-layers");
  tools::ExrLayers layers;
  layers.width = 3;
  layers.height = 2;
  layers.compression = 4;  // PIZ
  // In the order OpenEXR keeps channels: sorted by name.
  layers.channels = {{"A.Combined.R", true, {0.5F, 0.25F, 1.0F, 2.0F, 0.0F, 65504.0F}},
                     {"A.Depth.Z", false, {1e10F, 0.1F, 2.5F, 3.0F, -1.0F, 0.333333F}}};
  layers.text = {{"cryptomatte/abc/manifest", "{\"Ball\":\"74d3ebe9\"}"}, {"Frame", "001"}};
  const auto path = temp.path() / "l.exr";
  tools::write_exr_layers(path, layers);
  const tools::ExrLayers back = tools::read_exr_layers(path);
  EXPECT_EQ(back.compression, 4);
  EXPECT_TRUE(tools::compare_layers(back, layers, {0.0}).empty());
  tools::ExrLayers shifted = layers;
  shifted.channels[1].pixels[4] = -1.5F;
  EXPECT_EQ(tools::compare_layers(back, shifted).size(), 1U);
  EXPECT_THROW(tools::read_exr_layers(temp.path() / "missing.exr"), std::runtime_error);
}

TEST(PassOutput, HalfDepthKeepsColourPassesHalfAndDataPassesFloatAsBlenderDoes) {
  const std::vector<std::string> names = {"Main.Combined.A", "Main.Combined.R", "Main.Depth.Z", "Main.UV.A",
                                          "Main.UV.U", "Main.CryptoObject00.r", "Main.AO.B", "Main.Normal.X"};
  EXPECT_EQ(blender_stores_half(names), (std::vector<bool>{true, true, false, false, false, false, true, false}));
  EXPECT_EQ(with_format_extension("out/ours.png", ".jpg"), std::filesystem::path("out/ours.jpg"));
}

TEST(PassOutput, RenderTimeReadsAsBlendersStamp) {
  EXPECT_EQ(blender_render_time(0.52), "00:00.52");
  EXPECT_EQ(blender_render_time(75.256), "01:15.26");
  EXPECT_EQ(blender_render_time(3725.5), "01:02:05.50");
}

}  // namespace
}  // namespace bnr::broker
