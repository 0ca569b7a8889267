// What an agent killed mid-job leaves on disk (its work directory, its job's file tree in the
// cache) is removed by the next agent to start; a running agent's is not.
#include <gtest/gtest.h>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"

namespace bnr::testing {
namespace {

std::vector<fs::path> work_dirs(const fs::path& tmp) {
  std::vector<fs::path> out = files_with_prefix(tmp, "bnr-agent-");
  std::erase_if(out, [](const fs::path& p) { return !fs::is_directory(p); });
  return out;
}

TEST(AgentCleanup, AStartingAgentRemovesWhatAKilledAgentLeftAndNothingElse) {
  TempDir dir;
  TempDir tmp("bnr-tmpdir");
  TempDir cache("bnr-cache");
  const auto scene = make_scene(dir / "s.blend", {"--size", "320x180", "--samples", "64"});
  const std::vector<std::string> env = {"TMPDIR=" + tmp.path().string()};
  // Another program's directory with the same prefix, and no lock: not the agents' to remove.
  fs::create_directories(tmp / "bnr-agent-other" / "job-x");

  auto victim = std::make_unique<Agent>(
      AgentOptions{.threads = 1, .extra = {"--cache-dir", cache.path().string()}, .env = env});
  auto broker = start_broker({scene.string(), "--no-local", "--agent", victim->endpoint(), "--agent-timeout", "2",
                              "-o", (dir / "out.png").string()});
  std::string output;
  ASSERT_TRUE(wait_for_output(*broker, output, "rendering s.blend", std::chrono::seconds(60))) << output;
  kill(victim->process().pid(), SIGKILL);
  (void)victim->process().wait_or_kill(std::chrono::seconds(10));
  (void)broker->wait_or_kill(std::chrono::seconds(60));
  ASSERT_EQ(work_dirs(tmp.path()).size(), 2U) << "the killed agent's work directory is left";
  ASSERT_FALSE(fs::is_empty(cache / "jobs")) << "and its job's file tree";

  // A running agent's directory: its lock is held (here by the test).
  fs::create_directories(tmp / "bnr-agent-running");
  const int lock = ::open((tmp / "bnr-agent-running" / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(::flock(lock, LOCK_EX | LOCK_NB), 0);

  const Agent next(AgentOptions{.threads = 1, .extra = {"--cache-dir", cache.path().string()}, .env = env});
  const std::vector<fs::path> left = work_dirs(tmp.path());
  EXPECT_EQ(left.size(), 3U) << "the other program's, the running agent's and the new agent's own";
  EXPECT_TRUE(fs::exists(tmp / "bnr-agent-other" / "job-x"));
  EXPECT_TRUE(fs::exists(tmp / "bnr-agent-running"));
  EXPECT_TRUE(fs::is_empty(cache / "jobs")) << "the job tree no job owns is gone";
  EXPECT_FALSE(fs::is_empty(cache / "blobs")) << "the cached scene itself stays";
  ::close(lock);
}

}  // namespace
}  // namespace bnr::testing
