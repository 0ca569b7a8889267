#include "view_layout.h"

#include <gtest/gtest.h>

#include "progress.h"
#include "scene_file.h"
#include "split_check.h"

namespace bnr::broker {
namespace {

tools::Image16 filled(int w, int h, std::uint16_t value) {
  tools::Image16 img(w, h);
  std::fill(img.rgba.begin(), img.rgba.end(), value);
  return img;
}

protocol::SceneInfo stereo(const std::string& mode) {
  protocol::SceneInfo s;
  s.width = 4;
  s.height = 3;
  s.views = {"left", "right"};
  s.view_suffixes = {"_L", "_R"};
  s.stereo = mode;
  return s;
}

TEST(ViewLayout, TopBottomPutsTheLeftEyeOnTop) {
  const auto out = layout_views(std::vector{filled(4, 3, 1), filled(4, 3, 2)}, stereo("TOPBOTTOM"));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].image.width, 4);
  EXPECT_EQ(out[0].image.height, 6);
  EXPECT_EQ(out[0].image.pixel(3, 2)[0], 1);
  EXPECT_EQ(out[0].image.pixel(0, 3)[0], 2);
}

TEST(ViewLayout, SideBySideHonoursCrossEyed) {
  auto scene = stereo("SIDEBYSIDE");
  auto out = layout_views(std::vector{filled(4, 3, 1), filled(4, 3, 2)}, scene);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].image.width, 8);
  EXPECT_EQ(out[0].image.pixel(3, 0)[0], 1);
  EXPECT_EQ(out[0].image.pixel(4, 0)[0], 2);
  scene.crosseyed = true;
  out = layout_views(std::vector{filled(4, 3, 1), filled(4, 3, 2)}, scene);
  EXPECT_EQ(out[0].image.pixel(0, 0)[0], 2);
}

TEST(ViewLayout, IndividualViewsGetBlenderSuffixes) {
  const auto out = layout_views(std::vector{filled(4, 3, 1), filled(4, 3, 2)}, stereo("INDIVIDUAL"));
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(with_suffix("dir/my scene.png", out[1].suffix), "dir/my scene_R.png");
  EXPECT_EQ(with_suffix("out.png", ""), "out.png");
}

TEST(ViewLayout, UnsupportedModesAreNamed) {
  EXPECT_EQ(unsupported_layout(stereo("TOPBOTTOM")), "");
  EXPECT_NE(unsupported_layout(stereo("ANAGLYPH")).find("ANAGLYPH"), std::string::npos);
  auto squeezed = stereo("SIDEBYSIDE");
  squeezed.squeezed = true;
  EXPECT_NE(unsupported_layout(squeezed), "");
}

TEST(SplitCheck, DenoisingAndWholeFrameNodesAreRefusedWithAReason) {
  protocol::SceneInfo s;
  s.width = 10;
  s.height = 10;
  EXPECT_EQ(split_problem(s), "");
  s.adaptive = true;
  s.margin = 4;
  EXPECT_EQ(split_problem(s), "");
  s.denoise = true;
  EXPECT_NE(split_problem(s).find("--no-denoise"), std::string::npos);
  s.denoise = false;
  s.unsplittable = {"Glare (compositor node 'Glare')"};
  EXPECT_NE(split_problem(s).find("Glare"), std::string::npos);
}

TEST(SplitCheck, DenoisingIsRefusedQuotingBlenderOnlyWhenThisBlenderCannotDenoise) {
  const DenoiseFacts cannot{true, false, "Build without OpenImageDenoiser"};
  const std::string why = denoise_problem(cannot, false, "3.4.1");
  EXPECT_NE(why.find("\"Build without OpenImageDenoiser\""), std::string::npos) << why;
  EXPECT_NE(why.find("3.4.1"), std::string::npos) << why;
  EXPECT_NE(why.find("--no-denoise"), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  EXPECT_EQ(denoise_problem(cannot, true, "3.4.1"), "") << "--no-denoise renders without denoising";
  EXPECT_EQ(denoise_problem({true, true, "a test render with denoising succeeded"}, false, "4.2.0"), "");
  EXPECT_EQ(denoise_problem({false, false, "_cycles.with_openimagedenoise is False"}, false, "3.4.1"), "");
}

TEST(SceneFile, HeadersOfBlendFilesAreRecognised) {
  EXPECT_EQ(blend_header_problem("BLENDER-v304RENDH"), "");
  EXPECT_EQ(blend_header_problem(std::string("\x28\xb5\x2f\xfd\x00", 5)), "");
  EXPECT_EQ(blend_header_problem(std::string("\x1f\x8b\x08", 3)), "");
  EXPECT_EQ(blend_header_problem(""), "the file is empty");
  EXPECT_EQ(blend_header_problem("BLENDER"), "the file is truncated");
  EXPECT_EQ(blend_header_problem("\x89PNG\r\n"), "not a .blend file");
}

TEST(SceneFile, MissingFilesAndDirectoriesAreRefused) {
  EXPECT_THROW(check_scene("/nonexistent/scene.blend"), std::runtime_error);
  EXPECT_THROW(check_scene("/tmp"), std::runtime_error);
}

TEST(Progress, EtaAppearsOnceThereIsARate) {
  using std::chrono::seconds;
  EXPECT_EQ(format_duration(seconds(65)), "1:05");
  EXPECT_EQ(format_duration(seconds(3 * 3600 + 7)), "3:00:07");
  EXPECT_EQ(progress_line(0.01, 1, 2, seconds(10)).find("ETA"), std::string::npos);
  EXPECT_NE(progress_line(0.25, 5, 2, seconds(10)).find("ETA 0:30"), std::string::npos);
  EXPECT_EQ(progress_line(1.0, 9, 2, seconds(10)).find("ETA"), std::string::npos);
}

TEST(Progress, SummaryShowsEachAgentsShare) {
  AgentReport fast{.name = "fast", .regions = 3, .pixels = 750, .busy_seconds = 9.0, .ready_seconds = 1.0,
                   .finish_seconds = 10.0};
  AgentReport slow{.name = "slow", .regions = 1, .pixels = 250, .wasted = 1, .busy_seconds = 3.0,
                   .ready_seconds = 1.0, .finish_seconds = 8.5, .note = "went silent"};
  const std::string table = summary_table({fast, slow}, 1000, 10.0);
  EXPECT_NE(table.find("75.0%"), std::string::npos);
  EXPECT_NE(table.find("100.0%"), std::string::npos) << table;  // busy 9 s of the 9 s after loading
  EXPECT_NE(table.find("-1.5s"), std::string::npos) << table;   // finished 1.5 s before the frame
  EXPECT_NE(table.find("    750 "), std::string::npos) << table;  // pixels
  EXPECT_NE(table.find("   6.0s"), std::string::npos) << table;   // slow: idle 9 - 3 s
  EXPECT_NE(table.find("went silent"), std::string::npos);
  EXPECT_NE(table.find("1 copies cancelled"), std::string::npos);
}

}  // namespace
}  // namespace bnr::broker
