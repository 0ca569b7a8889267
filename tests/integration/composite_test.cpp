// Compositors that need the whole frame: agents render raw passes in regions, the broker
// merges them and composites once with its own Blender. The file equals Blender's own render
// of the same scene (<= 3/255: 8-bit dither), and File Output nodes write their files once.
#include <gtest/gtest.h>

#include "exr_layers.h"
#include "harness.h"
#include "layers_compare.h"

namespace bnr::testing {
namespace {

fs::path passes_scene(const TempDir& dir, const std::string& name, const std::vector<std::string>& options) {
  std::vector<std::string> all = {"--format", "PNG", "--depth", "8"};
  all.insert(all.end(), options.begin(), options.end());
  return make_scene_with("make_passes_scene.py", dir / name, all);
}

// Renders on two agents in narrow regions; returns the broker's output.
std::string render(const fs::path& scene, const fs::path& out) {
  const tools::RunResult r = render_on_agents(scene, out, 2, {"--region-width", "11"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

// `image` (any format Blender reads) as an 8-bit PNG, converted by Blender.
fs::path as_png(const fs::path& image, const fs::path& png) {
  const std::string expr = "import bpy, sys; im = bpy.data.images.load(sys.argv[-2]); _ = im.pixels[0]; "
                           "im.file_format = 'PNG'; "
                           "im.filepath_raw = sys.argv[-1]; im.save()";
  const tools::RunResult r = tools::run_command(
      {"blender", "-b", "--factory-startup", "--python-exit-code", "2", "--python-expr", expr, "--", image.string(),
       png.string()},
      std::chrono::seconds(60));
  if (r.exit_code != 0 || !fs::exists(png)) throw std::runtime_error("cannot convert " + image.string() + ": " + r.output);
  return png;
}

void composite_and_compare(const std::string& compositor, const std::vector<std::string>& more = {}) {
  TempDir dir;
  std::vector<std::string> options = {"--compositor", compositor};
  options.insert(options.end(), more.begin(), more.end());
  const auto scene = passes_scene(dir, compositor + ".blend", options);
  const std::string output = render(scene, dir / "ours.png");
  EXPECT_NE(output.find("compositing the merged frame once"), std::string::npos) << output;
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  expect_same_png(dir / "ours.png", reference[0]);
}

TEST(Composite, FogGlowOnTheWholeFrameEqualsBlenders) { composite_and_compare("glare"); }

TEST(Composite, LensDistortionEqualsBlenders) { composite_and_compare("lens"); }

TEST(Composite, ZDefocusEqualsBlenders) { composite_and_compare("defocus", {"--adaptive"}); }

// A region's raw passes (126 channels here) outweigh the whole frame's display pixels many
// times: the broker must take them although the scene writes a PNG (it once capped a message
// at the display frame, so regions of a 1080p frame never arrived and every agent was dropped).
TEST(Composite, RegionsWhosePassesOutweighTheDisplayFrameStillArrive) {
  TempDir dir;
  const auto scene = passes_scene(dir, "wide.blend", {"--compositor", "glare", "--size", "320x180", "--samples", "1"});
  // 160x180 px x (8 + 4 x 126) bytes = 14 MiB a region; the frame's display pixels are 0.4 MiB.
  const tools::RunResult r = render_on_agents(scene, dir / "ours.png", 1, {"--region-width", "160"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  expect_same_png(dir / "ours.png", reference[0]);
}

// A node group of streaks, ghosts and simple-star glare, a relative-size blur and the
// normalized depth: nodes whose output depends on the whole image, chained.
TEST(Composite, AGradeOfGlaresRelativeBlurAndNormalizeInANodeGroupEqualsBlenders) {
  composite_and_compare("grade");
}

// Pixel-local, so no whole-frame pass: but two Render Layers nodes mean two view layers in
// every region, which Blender 3.4's persistent data would mix.
TEST(Composite, TwoViewLayersMixedInTheCompositorEqualBlenders) {
  TempDir dir;
  const auto scene = passes_scene(dir, "mix.blend", {"--compositor", "mix-layers"});
  const std::string output = render(scene, dir / "ours.png");
  EXPECT_EQ(output.find("compositing the merged frame once"), std::string::npos) << "pixel-local";
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  expect_same_png(dir / "ours.png", reference[0]);
}

TEST(Composite, AFileOutputNodeWritesItsFilesOnceAsBlendersOwnRenderDoes) {
  TempDir ours_dir, blender_dir;
  const auto ours_scene = passes_scene(ours_dir, "fo.blend", {"--compositor", "file-output"});
  const auto blender_scene = passes_scene(blender_dir, "fo.blend", {"--compositor", "file-output"});
  (void)render(ours_scene, ours_dir / "ours.png");
  const auto reference = blender_reference(blender_scene, blender_dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  expect_same_png(ours_dir / "ours.png", reference[0]);

  const auto names = [](const fs::path& d) {
    std::vector<std::string> out;
    if (fs::is_directory(d))
      for (const auto& e : fs::directory_iterator(d)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::vector<std::string> written = names(ours_dir / "file_output");
  ASSERT_EQ(written, names(blender_dir / "file_output")) << "the same files, named as Blender names them";
  ASSERT_EQ(written.size(), 2U);
  for (const std::string& f : written) expect_same_png(ours_dir / "file_output" / f, blender_dir / "file_output" / f);
}

TEST(Composite, TheScenesOwnJpegOutputIsWrittenByBlendersWriterWithItsExtension) {
  TempDir dir;
  const auto scene = make_scene_with("make_passes_scene.py", dir / "jpeg.blend",
                                     {"--format", "JPEG", "--compositor", "glare"});
  (void)render(scene, dir / "ours.png");
  EXPECT_FALSE(fs::exists(dir / "ours.png"));
  ASSERT_TRUE(fs::exists(dir / "ours.jpg")) << "the extension follows the scene's format";
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  EXPECT_EQ(reference[0].extension(), ".jpg");
  // Decoded by Blender itself: the same JPEG encoder fed the same pixels decodes the same.
  expect_same_png(as_png(dir / "ours.jpg", dir / "ours-decoded.png"), as_png(reference[0], dir / "ref-decoded.png"));
}

// No compositor, but a format bnr does not write itself: Blender writes it from the merged
// passes, of the view layer its own render would write.
TEST(Composite, AnOpenExrOutputWithoutACompositorIsBlendersOwnFile) {
  TempDir dir;
  const auto scene = make_scene_with("make_passes_scene.py", dir / "exr.blend", {"--format", "OPEN_EXR", "--depth", "16"});
  const std::string output = render(scene, dir / "ours.png");
  EXPECT_NE(output.find("writing the scene's output format with this machine's Blender"), std::string::npos) << output;
  ASSERT_TRUE(fs::exists(dir / "ours.exr")) << output;
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  const tools::ExrLayers ours = tools::read_exr_layers(dir / "ours.exr");
  const tools::ExrLayers blender = tools::read_exr_layers(reference[0]);
  const std::vector<std::string> differences = tools::compare_layers(ours, blender);
  std::string text;
  for (const std::string& d : differences) text += "\n  " + d;
  EXPECT_TRUE(differences.empty()) << text;
  EXPECT_EQ(ours.channels.size(), 4U) << "RGBA, half as the scene says";
}

}  // namespace
}  // namespace bnr::testing
