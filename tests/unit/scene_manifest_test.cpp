#include "scene_manifest.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "listing_task.h"

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

TEST(SceneManifest, AListingFormattedAsTheScriptsLinesParsesBackTheSame) {
  SceneListing l;
  l.blender_version = "4.2.3";
  l.files = {"/proj/lib/props.blend", "/proj/tex/wood\tgrain.png"};
  l.warnings = {"several view layers render:\neach region syncs"};
  l.frame = FrameFacts{640, 360, {"left", "right"}, {"_L", "_R"}};
  l.output = OutputFacts{"OPEN_EXR_MULTILAYER", "16"};
  l.denoise = DenoiseFacts{true, false, "Build without OpenImageDenoiser"};
  const SceneListing back = parse_scene_listing(format_scene_listing(l));
  EXPECT_EQ(back.blender_version, l.blender_version);
  // A field cannot hold the line's separators: they become spaces.
  EXPECT_EQ(back.files, (std::vector<std::filesystem::path>{"/proj/lib/props.blend", "/proj/tex/wood grain.png"}));
  EXPECT_EQ(back.warnings, (std::vector<std::string>{"several view layers render: each region syncs"}));
  ASSERT_TRUE(back.frame && back.output && back.denoise);
  EXPECT_EQ(*back.frame, *l.frame);
  EXPECT_EQ(back.output->format, "OPEN_EXR_MULTILAYER");
  EXPECT_EQ(back.output->depth, "16");
  EXPECT_TRUE(back.denoise->scene_denoises);
  EXPECT_FALSE(back.denoise->blender_can);
  EXPECT_EQ(back.denoise->blender_says, l.denoise->blender_says);
  // A listing from an older script, without frame, output or denoise lines, stays without them.
  SceneListing bare;
  bare.blender_version = "3.4.1";
  const SceneListing bare_back = parse_scene_listing(format_scene_listing(bare));
  EXPECT_FALSE(bare_back.frame || bare_back.output || bare_back.denoise);
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

protocol::SceneInfo self_contained_reading() {
  protocol::SceneInfo seen;
  seen.width = 640;
  seen.height = 360;
  seen.views = {"left", "right"};
  seen.view_suffixes = {"_L", "_R"};
  seen.output_format = "OPEN_EXR_MULTILAYER";
  seen.output_depth = "16";
  seen.external_files = 0;
  return seen;
}

TEST(SceneManifest, AnAgentThatReadsNoOtherFileMakesTheListingOfABlendAloneGuess) {
  SceneManifest guess;
  guess.files = {{"/p/s.blend", 10, std::string(64, 'a')}};
  const auto truth = listing_from_agent(guess, self_contained_reading(), "3.4.1");
  ASSERT_TRUE(truth);
  EXPECT_EQ(truth->blender_version, "3.4.1");
  ASSERT_EQ(truth->files.size(), 1U);
  EXPECT_EQ(truth->files[0].hash, guess.files[0].hash);
  ASSERT_TRUE(truth->frame);
  EXPECT_EQ(*truth->frame, (FrameFacts{640, 360, {"left", "right"}, {"_L", "_R"}}));
  ASSERT_TRUE(truth->output);
  EXPECT_TRUE(truth->output->multilayer());
  EXPECT_EQ(truth->output->depth, "16");
  ASSERT_TRUE(truth->denoise);
  EXPECT_FALSE(truth->denoise->scene_denoises);
  // As a listing would have confirmed it: the job goes on with its regions.
  EXPECT_EQ(listing_change(guess, *truth), "its output is multilayer EXR (half), not PNG");
  guess.output = truth->output;
  EXPECT_EQ(listing_change(guess, *truth), "");
}

TEST(SceneManifest, OnlyThisMachinesListingTellsWhenTheSceneReadsOtherFilesOrDenoises) {
  SceneManifest guess;
  guess.files = {{"/p/s.blend", 10, std::string(64, 'a')}};
  protocol::SceneInfo textured = self_contained_reading();
  textured.external_files = 1;  // a texture, found or missing on the agent
  EXPECT_FALSE(listing_from_agent(guess, textured, "3.4.1"));
  protocol::SceneInfo older = self_contained_reading();
  older.external_files = -1;  // an agent that does not say
  EXPECT_FALSE(listing_from_agent(guess, older, "3.4.1"));
  protocol::SceneInfo denoising = self_contained_reading();
  denoising.denoise = true;  // whether this machine could denoise the merged frame
  EXPECT_FALSE(listing_from_agent(guess, denoising, "3.4.1"));
  protocol::SceneInfo no_format = self_contained_reading();
  no_format.output_format.clear();
  EXPECT_FALSE(listing_from_agent(guess, no_format, "3.4.1"));
  EXPECT_FALSE(listing_from_agent(guess, self_contained_reading(), ""));  // no Blender here
  SceneManifest from_last_listing = guess;
  from_last_listing.files.push_back({"/p/t.png", 5, std::string(64, 'b')});
  EXPECT_FALSE(listing_from_agent(from_last_listing, self_contained_reading(), "3.4.1"));
}

TEST(ListingTask, ListsOnlyWhenStartedAndASettledAnswerStartsNothing) {
  std::atomic<int> listed{0};
  auto lister = [&listed] {
    ++listed;
    SceneManifest m;
    m.blender_version = "listed";
    return m;
  };
  {
    ListingTask task(lister, [] { return std::string("3.4.1"); });
    EXPECT_FALSE(task.decided());
    std::optional<std::string> version;
    for (int i = 0; i < 200 && !version; ++i) {
      version = task.this_blender();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(version, "3.4.1");
    SceneManifest settled;
    settled.blender_version = "settled";
    EXPECT_TRUE(task.settle(settled));
    task.start();  // too late: the answer is in
    EXPECT_EQ(task.result().get().blender_version, "settled");
    EXPECT_FALSE(task.settle(SceneManifest{}));
  }
  EXPECT_EQ(listed.load(), 0);
  {
    ListingTask task(lister, []() -> std::string { throw std::runtime_error("no blender"); });
    task.start();
    task.start();
    EXPECT_TRUE(task.decided());
    EXPECT_EQ(task.result().get().blender_version, "listed");
    EXPECT_FALSE(task.settle(SceneManifest{}));
    std::optional<std::string> version;
    for (int i = 0; i < 200 && !version; ++i) {
      version = task.this_blender();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(version, "");  // the failure reads as no Blender
  }
  EXPECT_EQ(listed.load(), 1);
  {
    ListingTask task(lister, {});  // only the listing will do: no version question runs
    EXPECT_EQ(task.this_blender(), "");
    task.start();
    EXPECT_EQ(task.result().get().blender_version, "listed");
  }
  EXPECT_EQ(listed.load(), 2);
}

TEST(ListingTask, RemembersASettledAnswerForTheNextRunButNotItsOwnListing) {
  std::vector<std::string> remembered;
  const auto remember = [&remembered](const SceneManifest& m) { remembered.push_back(m.blender_version); };
  const auto lister = [] {
    SceneManifest m;
    m.blender_version = "listed";
    return m;
  };
  {
    ListingTask task(lister, {}, remember);
    SceneManifest settled;
    settled.blender_version = "settled";
    EXPECT_TRUE(task.settle(settled));
    EXPECT_FALSE(task.settle(SceneManifest{}));
  }
  {
    ListingTask task(lister, {}, remember);
    SceneManifest other;
    other.blender_version = "read by an agent with another Blender";
    EXPECT_TRUE(task.settle(other, /*remember=*/false));
  }
  {
    ListingTask task(lister, {}, remember);  // the listing remembers itself (list_scene)
    task.start();
    EXPECT_EQ(task.result().get().blender_version, "listed");
  }
  {
    ListingTask task(lister, {}, [](const SceneManifest&) { throw std::runtime_error("disk full"); });
    SceneManifest settled;
    settled.blender_version = "settled";
    EXPECT_TRUE(task.settle(settled));  // a cache that cannot be written changes nothing
    EXPECT_EQ(task.result().get().blender_version, "settled");
  }
  EXPECT_EQ(remembered, (std::vector<std::string>{"settled"}));
}
}  // namespace
}  // namespace bnr::broker
