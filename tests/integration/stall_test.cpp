// A Blender that hangs (no CPU time, no output) is noticed by its agent: while loading, the job
// fails with a one-line reason naming --stall-timeout; mid-render, its region fails, Blender
// restarts and the frame still comes out as Blender renders it.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "harness.h"
#include "image_compare.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

TEST(Stall, BlenderHungWhileLoadingFailsTheJobNamingTheFlag) {
  TempDir dir;
  const auto scene = make_scene(dir / "s.blend", {"--size", "32x24"});
  // sleep takes Blender's place (same PID, same pipes): no CPU time, no output, ever.
  const fs::path wrapper = blender_wrapper(dir / "hung-blender", "exec sleep 600");
  Agent agent(1, {"--blender", wrapper.string(), "--stall-timeout", "2"});
  const tools::RunResult r = run_broker(
      {scene.string(), "--no-local", "--agent", agent.endpoint(), "-q", "-o", (dir / "out.png").string()}, {},
      std::chrono::seconds(60));
  EXPECT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("no progress for 2 s while loading the scene"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--stall-timeout"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  EXPECT_TRUE(agent.process().running());
  // The agent sends JobFailed before it reaps the killed Blender.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!children_of(agent.process().pid()).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(children_of(agent.process().pid()).empty()) << "the hung Blender was killed";
}

TEST(Stall, BlenderHungMidRenderIsRestartedAndTheFrameIsBlenders) {
  TempDir dir;
  const auto scene = make_scene(dir / "s.blend", {"--size", "160x90", "--samples", "16"});
  // A real Blender whose third render (after the warm-up pixel and one region) hangs, once.
  const fs::path marker = dir / "hung-once";
  const fs::path wrapper = hanging_blender(dir.path(), 3, marker);
  Agent agent(AgentOptions{.threads = 2, .extra = {"--blender", wrapper.string(), "--stall-timeout", "3"}});
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--region-width",
                                         "16", "-o", (dir / "ours.png").string()},
                                        {}, std::chrono::seconds(180));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(marker)) << "Blender really hung";
  EXPECT_NE(r.output.find("no progress for 3 s rendering region"), std::string::npos) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  const tools::ImageDifference d =
      tools::compare(tools::read_png(dir / "ours.png"), tools::read_png(reference.at(0)), 3 * 257);
  EXPECT_TRUE(d.same_size);
  EXPECT_EQ(d.pixels_over, 0) << tools::describe(d, 3 * 257);
  EXPECT_TRUE(agent.process().running());
}

}  // namespace
}  // namespace bnr::testing
