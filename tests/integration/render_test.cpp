// The distributed render equals Blender's own full-frame render of the same scene, pixel by
// pixel: 3/255 per channel allows for Blender's 8-bit dither; a seam or a shifted column is
// far more.
#include <gtest/gtest.h>

#include "exr_file.h"
#include "harness.h"
#include "image_compare.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

// Renders `scene` with the broker and compares with Blender's own output.
void render_and_compare(const TempDir& dir, const fs::path& scene, const std::vector<std::string>& broker_args,
                        int agents = 2) {
  const tools::RunResult r = render_on_agents(scene, dir / "ours.png", agents, broker_args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  expect_same_png(dir / "ours.png", reference[0]);
}

TEST(Render, SeveralAgentsMatchBlendersOwnRenderWithAdaptiveSampling) {
  TempDir dir;
  const auto scene = make_scene(dir / "scene.blend", {"--adaptive"});
  render_and_compare(dir, scene, {}, 3);
}

// With adaptive sampling every region needs an overlap margin; in bands its rows need one too
// (Cycles' convergence filter reaches across both). A coarse noise threshold over many samples
// stops pixels early in a pattern that a region's edges change without the margin. Cut into
// bands by the broker's own choice, and into narrow tiles of three bands, the frame is
// Blender's: every float of the EXR within half-float precision, the PNG within dither.
TEST(Render, AnAdaptiveSceneCutIntoBandsEqualsBlenders) {
  TempDir dir;
  const auto scene = make_scene(dir / "bands.blend", {"--adaptive", "--noise-threshold", "0.05", "--samples", "256",
                                                      "--size", "240x136"});
  const auto reference = blender_reference(scene, dir / "ref", {"-F", "OPEN_EXR"});
  ASSERT_EQ(reference.size(), 1U);
  const tools::ImageF blender = tools::read_exr(reference[0]);
  const auto render_in_bands = [&](const std::string& name, const std::vector<std::string>& args,
                                   const std::string& said) {
    Agent first, second;
    std::vector<std::string> broker = {scene.string(), "--no-local", "--agent", first.endpoint(), "--agent",
                                       second.endpoint(), "-o", (dir / (name + ".png")).string(), "--exr",
                                       (dir / (name + ".exr")).string()};
    broker.insert(broker.end(), args.begin(), args.end());
    const tools::RunResult r = run_broker(broker);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(said), std::string::npos) << r.output;
    // Blender's -F OPEN_EXR writes half floats: allow their precision.
    const tools::ImageDifference d = tools::compare(tools::read_exr(dir / (name + ".exr")), blender, 2e-3);
    EXPECT_TRUE(d.same_size);
    EXPECT_EQ(d.pixels_over, 0) << name << ": " << tools::describe(d, 2e-3);
  };
  render_in_bands("chosen", {}, "regions in 2 bands of about 68 rows");
  render_in_bands("tiles", {"--bands", "3", "--region-width", "37"}, "regions in 3 bands of about 45 rows");
}

TEST(Render, OddSizeAtHalfResolutionWithSevenPixelRegions) {
  TempDir dir;
  const auto scene = make_scene(dir / "odd.blend", {"--size", "1001x333", "--percent", "50", "--samples", "4"});
  render_and_compare(dir, scene, {"--region-width", "7"});
  EXPECT_EQ(tools::read_png(dir / "ours.png").width, 500);
  EXPECT_EQ(tools::read_png(dir / "ours.png").height, 166);
}

TEST(Render, OnePixelWideRegionsLeaveNoSeam) {
  TempDir dir;
  const auto scene = make_scene(dir / "thin.blend", {"--size", "23x15", "--adaptive"});
  render_and_compare(dir, scene, {"--region-width", "1"});
}

TEST(Render, TransparentFilmKeepsAlpha) {
  TempDir dir;
  const auto scene = make_scene(dir / "alpha.blend", {"--transparent"});
  render_and_compare(dir, scene, {});
  const tools::Image16 ours = tools::read_png(dir / "ours.png");
  int transparent = 0;
  for (std::size_t i = 3; i < ours.rgba.size(); i += 4) transparent += ours.rgba[i] < 65535;
  EXPECT_GT(transparent, 0) << "a transparent-film scene should have see-through pixels";
}

TEST(Render, SixteenBitPngAtTheScenesDepth) {
  TempDir dir;
  const auto scene = make_scene(dir / "deep.blend", {"--depth", "16"});
  render_and_compare(dir, scene, {});
  EXPECT_EQ(png_bit_depth(dir / "ours.png"), 16);
}

TEST(Render, ViewTransformLookAndExposureMatch) {
  TempDir dir;
  const auto scene = make_scene(dir / "look.blend", {"--look"});
  render_and_compare(dir, scene, {});
}

TEST(Render, CompositorBlurIsRenderedWithAMargin) {
  TempDir dir;
  const auto scene = make_scene(dir / "blur.blend", {"--blur", "3"});
  render_and_compare(dir, scene, {"--region-width", "20"});
}

TEST(Render, StereoEquirectangularPanoramaTopBottom) {
  TempDir dir;
  const auto scene = make_scene(dir / "pano.blend", {"--stereo", "--size", "256x128"});
  render_and_compare(dir, scene, {});
  const tools::Image16 ours = tools::read_png(dir / "ours.png");
  EXPECT_EQ(ours.width, 256);
  EXPECT_EQ(ours.height, 256);
}

TEST(Render, ExrHoldsTheSceneLinearValues) {
  TempDir dir;
  const auto scene = make_scene(dir / "exr.blend", {});
  Agent agent;
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                         (dir / "ours.png").string(), "--exr", (dir / "ours.exr").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto reference = blender_reference(scene, dir / "ref", {"-F", "OPEN_EXR"});
  ASSERT_EQ(reference.size(), 1U);
  const tools::ImageF ours = tools::read_exr(dir / "ours.exr");
  const tools::ImageF blender = tools::read_exr(reference[0]);
  // Blender's -F OPEN_EXR writes half floats: allow their precision.
  const tools::ImageDifference d = tools::compare(ours, blender, 2e-3);
  EXPECT_TRUE(d.same_size);
  EXPECT_EQ(d.pixels_over, 0) << tools::describe(d, 2e-3);
  float brightest = 0;
  for (std::size_t i = 0; i < ours.rgba.size(); i += 4) brightest = std::max(brightest, ours.rgba[i]);
  EXPECT_GT(brightest, 0.0F);
}

TEST(Render, BrokerAloneRendersWithItsLocalAgentScenesWithSpacesOneAfterAnother) {
  TempDir dir;
  const auto first = make_scene(dir / "first scene.blend", {"--size", "64x48"});
  const auto second = make_scene(dir / "second.blend", {"--size", "48x32", "--transparent"});
  const tools::RunResult r = run_broker({first.string(), second.string(), "--local-threads", "2"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_png(dir / "first scene.png", blender_reference(first, dir / "ref1").at(0));
  expect_same_png(dir / "second.png", blender_reference(second, dir / "ref2").at(0));
  EXPECT_NE(r.output.find("regions"), std::string::npos) << "the summary says what was done: " << r.output;
}

}  // namespace
}  // namespace bnr::testing
