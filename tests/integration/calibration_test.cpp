// The optional speed tests: a machine benchmark on a built-in Cycles scene, and a small
// version of the user's scene. Both measure every agent and seed later jobs.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "harness.h"

namespace bnr::testing {
namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Calibration, MachineBenchmarkRendersTheBuiltInSceneOnEveryAgentAndSavesTheirSpeeds) {
  Agent one(1, {"--name", "bench-one"});
  Agent two(1, {"--name", "bench-two"});
  const tools::RunResult r =
      run_broker({"--benchmark", "--no-local", "--agent", one.endpoint(), "--agent", two.endpoint()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rendering bnr-benchmark.blend: 480x270"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("benchmark took"), std::string::npos) << r.output;
  // Both agents rendered strips of it, and what was learned is kept for the next job.
  const std::string speeds = read_text(test_config_dir() / "agent-speeds.tsv");
  EXPECT_NE(speeds.find("/bench-one"), std::string::npos) << speeds;
  EXPECT_NE(speeds.find("/bench-two"), std::string::npos) << speeds;
}

TEST(Calibration, SpeedTestOnASmallSceneThenTheRealRenderMatchesBlender) {
  TempDir dir;
  const auto small = make_scene(dir / "small.blend", {"--size", "80x45"});
  const auto scene = make_scene(dir / "full.blend", {"--size", "160x90"});
  Agent one(1, {"--name", "st-one"});
  Agent two(1, {"--name", "st-two"});
  const tools::RunResult r = run_broker({scene.string(), "--speed-test", small.string(), "--no-local", "--agent",
                                         one.endpoint(), "--agent", two.endpoint(), "-o", (dir / "out.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("speed-test took"), std::string::npos) << r.output;
  expect_same_png(dir / "out.png", blender_reference(scene, dir / "ref").at(0));
}

// What a render learned of where the frame is costly seeds the next render of the same scene;
// an edited scene starts afresh. Each render equals Blender's.
TEST(Calibration, ASceneRenderedAgainStartsFromTheCostMapItsLastRenderLearned) {
  TempDir dir;
  const auto scene = make_scene(dir / "again.blend", {"--size", "160x90", "--samples", "16"});
  const auto reference = blender_reference(scene, dir / "ref").at(0);
  Agent one(1), two(1);
  const auto render = [&](const std::string& name) {
    const fs::path out = dir / (name + ".png");
    const tools::RunResult r =
        run_broker({scene.string(), "--no-local", "--agent", one.endpoint(), "--agent", two.endpoint(), "-o", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return std::make_pair(r.output, out);
  };
  const std::string kFromLastRender = "sized from the start by where this scene's last render was costly";
  const auto [first, first_png] = render("first");
  EXPECT_EQ(first.find(kFromLastRender), std::string::npos) << first;
  expect_same_png(first_png, reference);
  const auto [again, again_png] = render("again");
  EXPECT_NE(again.find(kFromLastRender), std::string::npos) << again;
  expect_same_png(again_png, reference);

  (void)make_scene(scene, {"--size", "160x90", "--samples", "24"});  // edited
  const auto [edited, edited_png] = render("edited");
  EXPECT_EQ(edited.find(kFromLastRender), std::string::npos) << edited;
  expect_same_png(edited_png, blender_reference(scene, dir / "ref-edited").at(0));
}

}  // namespace
}  // namespace bnr::testing
