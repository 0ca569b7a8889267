// Every pass of every view layer, merged from regions, equals Blender's own multilayer EXR of
// the same frame: channel names, order and types, metadata (Cryptomatte manifests included)
// and values (float within 1e-4, Cryptomatte bit for bit).
#include <gtest/gtest.h>

#include <csignal>

#include "exr_layers.h"
#include "harness.h"
#include "layers_compare.h"

namespace bnr::testing {
namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += "\n  " + l;
  return out;
}

// Renders `scene` on `agents` agents in narrow regions and compares the multilayer EXR the
// broker writes with Blender's own.
void render_layers_and_compare(const TempDir& dir, const fs::path& scene, int agents, bool half,
                               const std::vector<std::string>& broker_args = {}) {
  const tools::RunResult r = render_on_agents(scene, dir / "ours.png", agents, broker_args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir / "ours.png")) << "a multilayer scene writes its EXR, not a PNG";
  ASSERT_TRUE(fs::exists(dir / "ours.exr")) << r.output;

  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  const tools::ExrLayers ours = tools::read_exr_layers(dir / "ours.exr");
  const tools::ExrLayers blender = tools::read_exr_layers(reference[0]);
  EXPECT_EQ(ours.compression, blender.compression);
  std::size_t halves = 0;
  for (const tools::ExrChannel& c : blender.channels) halves += c.half ? 1 : 0;
  EXPECT_EQ(halves > 0, half) << "the scene's depth decides half or float channels";
  const std::vector<std::string> differences = tools::compare_layers(ours, blender);
  EXPECT_TRUE(differences.empty()) << differences.size() << " differences:" << joined(differences);
  // The comparison saw real passes: both layers, Cryptomatte with its manifest, the AOVs.
  for (const char* channel : {"Main.Combined.R", "Backdrop.Combined.R", "Main.CryptoObject00.r", "Main.Depth.Z",
                              "Main.pattern.R", "Main.mask.X", "Main.Denoising Albedo.R", "Main.Vector.X"})
    EXPECT_LT(ours.find(channel), ours.channels.size()) << channel;
  EXPECT_GE(ours.channels.size(), 100U);
  bool manifest = false;
  for (const auto& [name, value] : ours.text) manifest |= name.find("manifest") != std::string::npos && value.find("Ball") != std::string::npos;
  EXPECT_TRUE(manifest) << "a Cryptomatte manifest naming the objects";
}

TEST(Passes, MultilayerExrOfTwoViewLayersWithCryptomatteAndAovsEqualsBlenders) {
  TempDir dir;
  const auto scene = make_scene_with("make_passes_scene.py", dir / "passes.blend", {"--depth", "16"});
  render_layers_and_compare(dir, scene, 2, true, {"--region-width", "13"});
}

TEST(Passes, AdaptiveSamplingAndFullFloatKeepEveryPassExact) {
  TempDir dir;
  const auto scene =
      make_scene_with("make_passes_scene.py", dir / "passes.blend", {"--adaptive", "--depth", "32", "--samples", "16"});
  render_layers_and_compare(dir, scene, 2, false, {"--region-width", "9"});
}

// The same in tiles of four bands: every pass exact across row margins too.
TEST(Passes, AdaptiveSamplingInBandsKeepsEveryPassExact) {
  TempDir dir;
  const auto scene =
      make_scene_with("make_passes_scene.py", dir / "passes.blend", {"--adaptive", "--depth", "32", "--samples", "16"});
  render_layers_and_compare(dir, scene, 2, false, {"--region-width", "23", "--bands", "4"});
}

// Glare needs the whole frame: the broker's Blender composites the merged raw passes, and the
// multilayer file holds every pass beside the Composite layer, as Blender's own does.
TEST(Passes, AMultilayerOutputWithWholeFrameGlareHoldsTheCompositeAndEveryPass) {
  TempDir dir;
  const auto scene =
      make_scene_with("make_passes_scene.py", dir / "glare.blend", {"--depth", "16", "--compositor", "glare"});
  render_layers_and_compare(dir, scene, 2, true, {"--region-width", "13"});
  EXPECT_LT(tools::read_exr_layers(dir / "ours.exr").find("Composite.Combined.R"), 1000U);
}

// Stereo, each view to its own file (the scene's Individual views format): every pass of
// every view layer per view, as Blender's own files.
TEST(Passes, StereoViewsEachGetEveryPassInTheirOwnFile) {
  TempDir dir;
  const auto scene = make_scene_with("make_passes_scene.py", dir / "stereo.blend", {"--depth", "16", "--stereo"});
  const tools::RunResult r = render_on_agents(scene, dir / "ours.png", 2, {"--region-width", "17"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 2U);
  int index = 0;
  for (const char* view : {"_L", "_R"}) {
    const fs::path ours = dir / (std::string("ours") + view + ".exr");
    ASSERT_TRUE(fs::exists(ours)) << r.output;
    const fs::path& theirs = reference[index++];
    ASSERT_NE(theirs.filename().string().find(view), std::string::npos) << theirs;
    const std::vector<std::string> differences =
        tools::compare_layers(tools::read_exr_layers(ours), tools::read_exr_layers(theirs));
    EXPECT_TRUE(differences.empty()) << view << ": " << differences.size() << " differences:" << joined(differences);
  }
}

// The spool keeps each region's pass layout: a broker killed mid-job resumes with every pass.
TEST(Passes, ABrokerKilledMidJobResumesEveryPassFromItsSpool) {
  TempDir dir;
  const auto scene = make_scene_with("make_passes_scene.py", dir / "long.blend", {"--size", "240x135", "--samples", "32"});
  Agent agent;
  const std::vector<std::string> args = {scene.string(), "--no-local", "--agent", agent.endpoint(),
                                         "--region-width", "16", "-o", (dir / "out.png").string()};
  auto broker = start_broker(args);
  const fs::path journal = dir / "out.exr.bnr-spool" / "journal";
  const std::uintmax_t region_bytes = 16 * 135 * (8 + 100 * 4);  // display pixels and 100+ channels
  ASSERT_GE(wait_for_journal(journal, 3 * region_bytes, std::chrono::seconds(120)), 3 * region_bytes)
      << "no regions were journaled";
  broker->send_signal(SIGKILL);
  (void)broker->wait_or_kill(std::chrono::seconds(10));
  EXPECT_FALSE(fs::exists(dir / "out.exr")) << "a killed broker leaves no output file";
  // The broker started on the guess "a PNG" until its agent read the scene's multilayer output.
  EXPECT_FALSE(fs::exists(dir / "out.png.bnr-spool")) << "the guess's spool is of no use to any run";

  const tools::RunResult r = run_broker(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The first run's agent read the scene's output; this run knew it from the start.
  EXPECT_EQ(r.output.find("starting again"), std::string::npos) << r.output;
  const std::size_t at = r.output.rfind("resuming: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_GE(std::stoi(r.output.substr(at + 10)), 3) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  const std::vector<std::string> differences =
      tools::compare_layers(tools::read_exr_layers(dir / "out.exr"), tools::read_exr_layers(reference[0]));
  EXPECT_TRUE(differences.empty()) << differences.size() << " differences:" << joined(differences);
  EXPECT_FALSE(fs::exists(dir / "out.exr.bnr-spool"));
  EXPECT_FALSE(fs::exists(dir / "out.png.bnr-spool"));
}

}  // namespace
}  // namespace bnr::testing
