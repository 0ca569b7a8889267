// An agent frozen for 30 s (SIGSTOP, as a machine that hangs or sleeps), then continued, with
// real processes. With another agent the frame still equals Blender's; alone, the broker's
// bound fires with one clear line and the same command later finishes the frame.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "harness.h"

namespace bnr::testing {
namespace {

using namespace std::chrono_literals;

// Stops an agent and its Blender as a frozen machine would (SIGSTOP), and continues them when
// told or at the latest when it goes out of scope, so that they can be ended.
class Frozen {
 public:
  explicit Frozen(Agent& agent) : pids_(children_of(agent.process().pid())) {
    pids_.insert(pids_.begin(), agent.process().pid());
    for (int pid : pids_) kill(pid, SIGSTOP);
  }
  ~Frozen() { thaw(); }
  Frozen(const Frozen&) = delete;
  Frozen& operator=(const Frozen&) = delete;
  void thaw() {
    for (int pid : pids_) kill(pid, SIGCONT);
    pids_.clear();
  }

 private:
  std::vector<int> pids_;
};

// Small regions so that both agents hold some when one freezes.
const std::vector<std::string> kFreezeScene = {"--size", "96x54", "--samples", "48"};

TEST(Chaos, AnAgentFrozenFor30SecondsLeavesTheFrameToTheOtherAndItEqualsBlenders) {
  TempDir dir;
  const auto scene = make_scene(dir / "freeze.blend", kFreezeScene);
  Agent healthy;
  Agent frozen_agent;
  auto broker = start_broker({scene.string(), "--no-local", "--agent", healthy.endpoint(), "--agent",
                              frozen_agent.endpoint(), "--region-width", "8", "-o", (dir / "ours.png").string()});
  const fs::path journal = dir / "ours.png.bnr-spool" / "journal";
  ASSERT_GE(wait_for_journal(journal, 2 * journal_bytes(8, 54), 120s), 2 * journal_bytes(8, 54));
  Frozen frozen(frozen_agent);
  // It stays frozen for 30 s, or less when the broker finishes the frame without it sooner.
  std::string output;
  (void)wait_for_output(*broker, output, "\n  agent ", 30s);
  frozen.thaw();
  ASSERT_EQ(wait_for_exit(*broker, output, 120s), 0) << output;
  expect_same_png(dir / "ours.png", blender_reference(scene, dir / "ref").at(0));
  EXPECT_TRUE(healthy.process().running());
  EXPECT_TRUE(frozen_agent.process().running()) << "the agent survives being frozen";
}

// With the frozen agent the only one, the broker's bound fires: one line and exit 1 after the
// agent timeout, the finished regions kept. Once the agent runs again, the same command
// finishes the frame from them.
TEST(Chaos, TheOnlyAgentFrozenFor30SecondsEndsTheJobWithinItsBoundAndTheSameCommandResumes) {
  TempDir dir;
  const auto scene = make_scene(dir / "alone.blend", kFreezeScene);
  Agent agent;
  const std::vector<std::string> args = {scene.string(),   "--no-local", "--agent", agent.endpoint(),
                                         "--region-width", "8",          "-o",      (dir / "ours.png").string()};
  std::vector<std::string> quiet = args;
  quiet.push_back("-q");
  auto broker = start_broker(quiet);
  const fs::path journal = dir / "ours.png.bnr-spool" / "journal";
  ASSERT_GE(wait_for_journal(journal, 2 * journal_bytes(8, 54), 120s), 2 * journal_bytes(8, 54));
  const auto stopped_at = std::chrono::steady_clock::now();
  Frozen frozen(agent);
  // The agent timeout is 10 s; the bound leaves a loaded machine room.
  std::string output;
  const int status = wait_for_exit(*broker, output, 25s);
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 30s) << "the broker did not end within its bound";
  EXPECT_EQ(status, 1) << output;
  EXPECT_EQ(line_count(output), 1) << output;
  EXPECT_NE(output.find(agent.address()), std::string::npos) << "the line names the agent: " << output;
  EXPECT_NE(output.find("went silent"), std::string::npos) << output;
  EXPECT_TRUE(fs::exists(journal)) << "the finished regions are kept";
  EXPECT_FALSE(fs::exists(dir / "ours.png"));

  std::this_thread::sleep_until(stopped_at + 30s);
  frozen.thaw();
  const tools::RunResult again = run_broker(args, {}, 120s);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("resuming: "), std::string::npos) << again.output;
  expect_same_png(dir / "ours.png", blender_reference(scene, dir / "ref").at(0));
}

}  // namespace
}  // namespace bnr::testing
