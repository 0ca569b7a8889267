#include "scene_manifest.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(SceneManifest, ListingLinesBecomeFilesWarningsAndMissingPaths) {
  const SceneListing l = parse_scene_listing(
      "version\t3.4.1\n"
      "file\t/proj/lib/props.blend\n"
      "file\t/proj/tex/../tex/wood.png\n"
      "file\t/proj/tex/wood.png\n"          // the same file again: listed once
      "file\trelative/oops.png\n"            // never shipped
      "missing\t/proj/tex/gone.png\timage gone\n"
      "warning\timage sequence seq is not sent to agents\n"
      "future-kind\twhatever\n");
  EXPECT_EQ(l.blender_version, "3.4.1");
  ASSERT_EQ(l.files.size(), 2U);
  EXPECT_EQ(l.files[0], "/proj/lib/props.blend");
  EXPECT_EQ(l.files[1], "/proj/tex/wood.png");
  ASSERT_EQ(l.missing.size(), 1U);
  EXPECT_EQ(l.missing[0], "/proj/tex/gone.png");
  ASSERT_EQ(l.warnings.size(), 3U);
  EXPECT_NE(l.warnings[0].find("relative/oops.png"), std::string::npos);
  EXPECT_NE(l.warnings[1].find("image gone uses /proj/tex/gone.png"), std::string::npos);
  EXPECT_NE(l.warnings[2].find("image sequence"), std::string::npos);
}

TEST(SceneManifest, TreePathsMirrorTheAbsolutePathWithoutItsRoot) {
  EXPECT_EQ(tree_path_of("/home/u/proj/scene.blend"), "home/u/proj/scene.blend");
  EXPECT_EQ(tree_path_of("/home/u/proj/../lib/x.blend"), "home/u/lib/x.blend");
  EXPECT_EQ(tree_path_of("//srv/share/t.png"), "srv/share/t.png");
}

TEST(SceneManifest, WireFilesKeepTheBlendFirstWithSizesAndHashes) {
  SceneManifest m;
  m.files = {{"/p/s.blend", 10, std::string(64, 'a')}, {"/p/t.png", 5, std::string(64, 'b')}};
  const auto wire = m.wire_files();
  ASSERT_EQ(wire.size(), 2U);
  EXPECT_EQ(wire[0].path, "p/s.blend");
  EXPECT_EQ(wire[1].size, 5U);
  EXPECT_EQ(wire[1].hash, std::string(64, 'b'));
  EXPECT_EQ(m.total_bytes(), 15U);
}


TEST(SceneManifest, FrameAndViewLinesAreTheFrameTheBrokerOwns) {
  const SceneListing stereo = parse_scene_listing("version\t3.4.1\nframe\t1920\t1080\nview\tleft\t_L\nview\tright\t_R\n");
  ASSERT_TRUE(stereo.frame);
  EXPECT_EQ(*stereo.frame, (FrameFacts{1920, 1080, {"left", "right"}, {"_L", "_R"}}));
  const SceneListing mono = parse_scene_listing("frame\t640\t360\n");
  ASSERT_TRUE(mono.frame);
  EXPECT_TRUE(mono.frame->views.empty());
  // From an older script, or unreadable: nothing is decided here.
  EXPECT_FALSE(parse_scene_listing("version\t3.4.1\n").frame);
  EXPECT_FALSE(parse_scene_listing("frame\t12x\t360\n").frame);
  EXPECT_FALSE(parse_scene_listing("frame\t0\t360\n").frame);
}

TEST(SceneManifest, DenoiseLineSaysWhetherTheSceneDenoisesAndBlenderCan) {
  const SceneListing noisy = parse_scene_listing(
      "version\t3.4.1\ndenoise\t1\t0\tBuild without OpenImageDenoiser (_cycles.with_openimagedenoise is False)\n");
  ASSERT_TRUE(noisy.denoise);
  EXPECT_TRUE(noisy.denoise->scene_denoises);
  EXPECT_FALSE(noisy.denoise->blender_can);
  EXPECT_EQ(noisy.denoise->blender_says, "Build without OpenImageDenoiser (_cycles.with_openimagedenoise is False)");
  const SceneListing clean = parse_scene_listing("denoise\t0\t1\t_cycles.with_openimagedenoise is True\n");
  ASSERT_TRUE(clean.denoise);
  EXPECT_FALSE(clean.denoise->scene_denoises);
  EXPECT_TRUE(clean.denoise->blender_can);
  // An older script's listing has none: the broker lists the scene again.
  EXPECT_FALSE(parse_scene_listing("version\t3.4.1\nframe\t640\t360\n").denoise);
}
TEST(SceneManifest, AGuessHoldsWhenTheListingNamesTheSameFilesAndOutputKind) {
  SceneManifest guess;
  guess.files = {{"/p/s.blend", 10, std::string(64, 'a')}};
  SceneManifest truth = guess;
  truth.blender_version = "3.4.1";
  truth.output = OutputFacts{"PNG", "16"};
  truth.frame = FrameFacts{640, 360, {}, {}};
  truth.warnings = {"/p/gone.png is missing"};
  EXPECT_EQ(listing_change(guess, truth), "");  // no output in a guess: PNG

  SceneManifest textured = truth;
  textured.files.push_back({"/p/t.png", 5, std::string(64, 'b')});
  EXPECT_EQ(listing_change(guess, textured), "it uses 1 external files, not the 0 guessed");
  SceneManifest edited = truth;
  edited.files[0].hash = std::string(64, 'c');  // the .blend changed while it was listed
  EXPECT_NE(listing_change(guess, edited), "");

  SceneManifest multilayer = truth;
  multilayer.output = OutputFacts{"OPEN_EXR_MULTILAYER", "32"};
  EXPECT_EQ(listing_change(guess, multilayer), "its output is multilayer EXR, not PNG");
  SceneManifest half = multilayer;
  half.output->depth = "16";
  guess.output = multilayer.output;
  EXPECT_NE(listing_change(guess, half), "");
  EXPECT_EQ(listing_change(guess, multilayer), "");

  guess.frame = FrameFacts{640, 360, {}, {}};
  SceneManifest resized = multilayer;
  resized.frame = FrameFacts{1280, 720, {}, {}};
  EXPECT_EQ(listing_change(guess, resized), "its frame size or views changed");

  SceneManifest no_blender = multilayer;
  no_blender.blender_version.clear();
  EXPECT_EQ(listing_change(guess, no_blender), "this machine's Blender could not list the scene");
}
}  // namespace
}  // namespace bnr::broker
