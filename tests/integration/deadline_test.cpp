// The broker's own bounds on a hung agent, for an agent that does not notice itself (its
// --stall-timeout far away): not ready within --open-timeout, or no result within
// --region-timeout. The job goes on with the others or ends with one line.
#include <gtest/gtest.h>

#include "harness.h"
#include "image_compare.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

TEST(Deadline, AnAgentHungWhileLoadingIsLeftOutAtTheOpenTimeout) {
  TempDir dir;
  const auto scene = make_scene(dir / "s.blend", {"--size", "32x24"});
  const fs::path wrapper = blender_wrapper(dir / "hung-blender", "exec sleep 600");
  Agent agent(1, {"--blender", wrapper.string(), "--stall-timeout", "3600"});
  const auto started = std::chrono::steady_clock::now();
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-q",
                                         "--open-timeout", "3", "-o", (dir / "out.png").string()},
                                        {}, std::chrono::seconds(60));
  EXPECT_FALSE(r.timed_out) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30)) << "bounded by --open-timeout";
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("not ready after 3 s"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
}

TEST(Deadline, AnAgentHungMidRenderLosesItsRegionsToTheOthersAndTheFrameIsBlenders) {
  TempDir dir;
  const auto scene = make_scene(dir / "s.blend", {"--size", "160x90", "--samples", "512"});
  // Its first region (the render after the warm-up pixel) hangs for good, while the other
  // agent has columns of its own to render for a while yet (about 6 s of them, against a
  // region timeout of 4 s or 5x a region's predicted half second: 2 s dropped the healthy
  // agent too once, its region slowed past it on a machine busy with other work).
  Agent hung(1, {"--blender", hanging_blender(dir.path(), 2).string(), "--stall-timeout", "3600"});
  Agent healthy(1);
  const tools::RunResult r =
      run_broker({scene.string(), "--no-local", "--agent", hung.endpoint(), "--agent", healthy.endpoint(),
                  "--region-width", "16", "--region-timeout", "4", "-o", (dir / "ours.png").string()},
                 {}, std::chrono::seconds(180));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("dropped " + hung.address() + " (no result for columns"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("dropped " + healthy.address()), std::string::npos) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  const tools::ImageDifference d =
      tools::compare(tools::read_png(dir / "ours.png"), tools::read_png(reference.at(0)), 3 * 257);
  EXPECT_TRUE(d.same_size);
  EXPECT_EQ(d.pixels_over, 0) << tools::describe(d, 3 * 257);
}

}  // namespace
}  // namespace bnr::testing
