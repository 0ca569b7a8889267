// Faults during a render: an agent dies mid-job, the user presses Ctrl+C.
#include <gtest/gtest.h>

#include <csignal>
#include <poll.h>
#include <thread>

#include "harness.h"
#include "image_compare.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

TEST(Fault, AgentKilledMidJobLosesNoPixels) {
  TempDir dir;
  // Long enough (about 8 s) that the survivor is still at work when the victim's silence
  // is noticed: a frame done first would end the job without a word about the victim.
  const auto scene = make_scene(dir / "long.blend", {"--size", "320x180", "--samples", "224"});
  Agent survivor;
  Agent victim;
  auto broker = start_broker({scene.string(), "--no-local", "--agent", survivor.endpoint(), "--agent",
                              victim.endpoint(), "--agent-timeout", "2", "--region-width", "16", "-o",
                              (dir / "ours.png").string()});
  std::string output;
  // Kill the victim once rendering is under way: it holds regions in flight at that point.
  ASSERT_TRUE(wait_for_output(*broker, output, "rendering long.blend", std::chrono::seconds(60))) << output;
  // The victim's Blender (its spare, from the start) runs by now or soon; give it time to
  // take regions, then kill it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (children_of(victim.process().pid()).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  victim.process().send_signal(SIGKILL);
  (void)wait_for_output(*broker, output, "\n  agent ", std::chrono::seconds(180));
  const int status = broker->wait_or_kill(std::chrono::seconds(60));
  (void)tools::read_available(broker->stdout_fd(), output);
  ASSERT_EQ(status, 0) << output;
  // Usually it held regions ("went silent"); on a loaded machine it may still have been loading.
  EXPECT_TRUE(output.find("went silent") != std::string::npos || output.find("did not answer") != std::string::npos)
      << output;
  const auto reference = blender_reference(scene, dir / "ref");
  const tools::ImageDifference d =
      tools::compare(tools::read_png(dir / "ours.png"), tools::read_png(reference.at(0)), 3 * 257);
  EXPECT_TRUE(d.same_size);
  EXPECT_EQ(d.pixels_over, 0) << tools::describe(d, 3 * 257);
}

TEST(Fault, BlenderCrashInsideAnAgentIsRestartedAndReported) {
  TempDir dir;
  const auto scene = make_scene(dir / "crash.blend", {"--size", "320x180", "--samples", "96"});
  Agent agent(2);
  auto broker = start_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--region-width", "16",
                              "-o", (dir / "ours.png").string()});
  std::string output;
  ASSERT_TRUE(wait_for_output(*broker, output, "rendering crash.blend", std::chrono::seconds(60))) << output;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::vector<int> before = children_of(agent.process().pid());
  ASSERT_EQ(before.size(), 1U) << "the agent runs one Blender per job";
  kill(before[0], SIGKILL);
  (void)wait_for_output(*broker, output, "\n  agent ", std::chrono::seconds(180));
  const int status = broker->wait_or_kill(std::chrono::seconds(60));
  (void)tools::read_available(broker->stdout_fd(), output);
  ASSERT_EQ(status, 0) << output;
  EXPECT_NE(output.find("Blender exited"), std::string::npos) << "the crash is reported: " << output;
  const auto reference = blender_reference(scene, dir / "ref");
  const tools::ImageDifference d =
      tools::compare(tools::read_png(dir / "ours.png"), tools::read_png(reference.at(0)), 3 * 257);
  EXPECT_EQ(d.pixels_over, 0) << tools::describe(d, 3 * 257);
  EXPECT_TRUE(agent.process().running());
}

TEST(Fault, CtrlCCancelsTheJobOnEveryAgentAndWritesNothing) {
  TempDir dir;
  const auto scene = make_scene(dir / "slow.blend", {"--size", "320x180", "--samples", "512"});
  Agent agent;
  auto broker = start_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--region-width", "32",
                              "-o", (dir / "out.png").string()});
  std::string output;
  ASSERT_TRUE(wait_for_output(*broker, output, "rendering slow.blend", std::chrono::seconds(60))) << output;
  broker->send_signal(SIGINT);
  const int status = broker->wait_or_kill(std::chrono::seconds(20));
  (void)tools::read_available(broker->stdout_fd(), output);
  EXPECT_NE(status, 0) << output;
  EXPECT_NE(output.find("interrupted"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  // The agent stops its Blender for the cancelled job (it keeps running itself).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto blender_children = [&] { return children_of(agent.process().pid()).size(); };
  while (blender_children() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(blender_children(), 0U) << "the agent's Blender still runs after the broker was interrupted";
  EXPECT_TRUE(agent.process().running());
}

}  // namespace
}  // namespace bnr::testing

namespace bnr::testing {
namespace {

TEST(Fault, BrokerKilledMidJobResumesFromItsSpoolAndRendersTheSameImage) {
  TempDir dir;
  const auto scene = make_scene(dir / "long.blend", {"--size", "320x180", "--samples", "192"});
  Agent agent;
  const std::vector<std::string> args = {scene.string(), "--no-local", "--agent", agent.endpoint(),
                                         "--region-width", "32", "-o", (dir / "out.png").string()};
  auto broker = start_broker(args);
  // Wait until a few regions are journaled, then kill the broker as hard as a power cut would.
  const fs::path journal = dir / "out.png.bnr-spool" / "journal";
  const std::uintmax_t region_bytes = 32 * 180 * 4 * 2;
  ASSERT_GE(wait_for_journal(journal, 3 * region_bytes, std::chrono::seconds(120)), 3 * region_bytes)
      << "no regions were journaled";
  broker->send_signal(SIGKILL);
  (void)broker->wait_or_kill(std::chrono::seconds(10));
  std::string first_output;
  (void)tools::read_available(broker->stdout_fd(), first_output);
  EXPECT_FALSE(fs::exists(dir / "out.png")) << "a killed broker leaves no output file";

  const tools::RunResult r = run_broker(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::size_t at = r.output.find("resuming: ");
  ASSERT_NE(at, std::string::npos) << first_output << "\n---\n" << r.output;
  EXPECT_GE(std::stoi(r.output.substr(at + 10)), 3) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  expect_same_png(dir / "out.png", reference.at(0));
  EXPECT_FALSE(fs::exists(dir / "out.png.bnr-spool")) << "the spool goes once the output is written";
}

}  // namespace
}  // namespace bnr::testing
