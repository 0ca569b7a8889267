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

}  // namespace
}  // namespace bnr::testing
