#include "worker_protocol.h"

#include <gtest/gtest.h>

namespace bnr::agent {
namespace {

TEST(WorkerProtocol, ValuesWithTabsNewlinesAndBackslashesRoundTrip) {
  const std::string nasty = "a\tb\nc\\d\\t e=f";
  WorkerLine line{"failed", {{"id", "3"}, {"message", nasty}}};
  const std::string text = format_worker_line(line);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\t'), 2);
  const auto parsed = parse_worker_line(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->kind, "failed");
  EXPECT_EQ(parsed->get("message"), nasty);
  EXPECT_EQ(parsed->get("id"), "3");
  EXPECT_EQ(parsed->get("absent"), "");
}

TEST(WorkerProtocol, ReadyLineBecomesSceneInfo) {
  const auto line = parse_worker_line(
      "ready\tblender=3.4.1\twidth=500\theight=166\tviews=left,right\tsuffixes=_L,_R\tstereo=TOPBOTTOM\t"
      "depth=16\ttransparent=1\tadaptive=1\tmargin=4\tunsplittable=Glare (node 'G');Lens\twarnings=\t"
      "format=OPEN_EXR\tcolor_depth=32\texternal=0\r");
  ASSERT_TRUE(line);
  const protocol::SceneInfo s = scene_info_from_ready(*line);
  EXPECT_EQ(s.width, 500);
  EXPECT_EQ(s.height, 166);
  EXPECT_EQ(s.view_count(), 2U);
  EXPECT_EQ(s.view_suffixes, (std::vector<std::string>{"_L", "_R"}));
  EXPECT_EQ(s.depth, 16);
  EXPECT_TRUE(s.transparent);
  EXPECT_TRUE(s.adaptive);
  EXPECT_EQ(s.margin, 4);
  EXPECT_EQ(s.unsplittable.size(), 2U);
  EXPECT_TRUE(s.warnings.empty());
  EXPECT_EQ(s.output_format, "OPEN_EXR");
  EXPECT_EQ(s.output_depth, "32");
  EXPECT_EQ(s.external_files, 0);
  // An older worker does not count the scene's files: unknown, not none.
  EXPECT_EQ(scene_info_from_ready(*parse_worker_line("ready	width=5	height=5")).external_files, -1);
}

TEST(WorkerProtocol, MalformedNumbersInReadyThrow) {
  const auto line = parse_worker_line("ready\twidth=5x0\theight=10");
  ASSERT_TRUE(line);
  EXPECT_THROW((void)scene_info_from_ready(*line), std::runtime_error);
  EXPECT_FALSE(parse_worker_line(""));
}

// The render test proves Blender agrees; this proves the border fractions survive Blender's
// float32 truncation for every region edge of every frame width up to 2048 (and heights alike).
TEST(RegionMath, PixelCentreFractionsMapToExactlyThoseColumnsForEverySize) {
  long long checked = 0;
  for (int size = 1; size <= 2048; ++size) {
    for (int edge = 0; edge <= size; ++edge) {
      const protocol::Rect r{edge, 0, size, 1};
      const protocol::Rect got = rect_blender_renders(border_for(r, size, 1), size, 1);
      ASSERT_EQ(got.x0, edge) << "width " << size;
      ASSERT_EQ(got.x1, size);
      const protocol::Rect rows{0, edge, 1, size};
      const protocol::Rect got_rows = rect_blender_renders(border_for(rows, 1, size), 1, size);
      ASSERT_EQ(got_rows.y0, edge) << "height " << size;
      ASSERT_EQ(got_rows.y1, size);
      ++checked;
    }
  }
  EXPECT_GT(checked, 2'000'000);
}

TEST(RegionMath, NaiveFractionsWouldLoseColumns) {
  // Why border_for uses pixel centres: px / size truncates one short for some sizes.
  int wrong = 0;
  for (int size = 1; size <= 2048; ++size)
    for (int px = 0; px <= size; ++px) {
      const float f = static_cast<float>(static_cast<double>(px) / size);
      wrong += static_cast<int>(f * static_cast<float>(size)) != px;
    }
  EXPECT_GT(wrong, 0);
}

TEST(RegionMath, OddSizeAtHalfResolutionRegionsOfEveryWidth) {
  // 1001x333 at 50% renders 500x166; cover it with regions 1..37 px wide.
  const int w = 1001 * 50 / 100;
  const int h = 333 * 50 / 100;
  ASSERT_EQ(w, 500);
  ASSERT_EQ(h, 166);
  for (int width = 1; width <= 37; ++width)
    for (int x = 0; x < w; x += width) {
      const protocol::Rect r{x, 3, std::min(x + width, w), h - 5};
      EXPECT_EQ(rect_blender_renders(border_for(r, w, h), w, h), r);
    }
}

TEST(WorkerProtocol, RenderCommandCarriesBottomLeftFractions) {
  const auto line = parse_worker_line(render_command(9, {0, 0, 10, 5}, 20, 10, "/tmp/a b", true));
  ASSERT_TRUE(line);
  EXPECT_EQ(line->kind, "render");
  EXPECT_EQ(line->get("id"), "9");
  EXPECT_EQ(line->get("dir"), "/tmp/a b");
  EXPECT_EQ(line->get("exr"), "1");
  // Top rows 0..5 of 10 are Blender's rows 5..10 from the bottom.
  EXPECT_DOUBLE_EQ(std::stod(line->get("min_y")), 5.5 / 10);
  EXPECT_DOUBLE_EQ(std::stod(line->get("max_y")), 10.5 / 10);
  EXPECT_DOUBLE_EQ(std::stod(line->get("min_x")), 0.5 / 20);
}

TEST(WorkerProtocol, OpenCommandCarriesTheJobsSceneFrameAndSettingsThroughAnyPath) {
  const std::string odd = "/tmp/a b\tc\nd\\e/scene.blend";
  auto line = parse_worker_line(open_command(odd, 7, true, "/tmp/tree\tx"));
  ASSERT_TRUE(line);
  EXPECT_EQ(line->kind, "open");
  EXPECT_EQ(line->get("scene"), odd);
  EXPECT_EQ(line->get("frame"), "7");
  EXPECT_EQ(line->get("no_denoise"), "1");
  EXPECT_EQ(line->get("tree_root"), "/tmp/tree\tx");
  // Unset settings are left out: the worker then does what a command line without them does.
  line = parse_worker_line(open_command("/s.blend", std::nullopt, false, ""));
  ASSERT_TRUE(line);
  EXPECT_EQ(line->fields.size(), 1U);
  EXPECT_EQ(line->get("scene"), "/s.blend");
}

}  // namespace
}  // namespace bnr::agent

#include "blender_version.h"

namespace bnr::tools {
namespace {

TEST(BlenderVersion, ParsedFromVersionOutput) {
  const auto v = parse_blender_version("Blender 3.4.1\n\tbuild date: 2023-02-01\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->str(), "3.4.1");
  EXPECT_EQ(parse_blender_version("Blender 4.2")->str(), "4.2.0");
  EXPECT_FALSE(parse_blender_version("bash: blender: command not found"));
}

}  // namespace
}  // namespace bnr::tools
