// Chaos on the wire, with real processes: a slow lossy link, a TCP reset in the middle of a
// job. Each ends with Blender's own image; every process is ended by its objects.
#include <gtest/gtest.h>

#include "harness.h"
#include "lossy_link.h"

namespace bnr::testing {
namespace {

using namespace std::chrono_literals;

TEST(Chaos, AFrameOverASlowLossyLinkEqualsBlenders) {
  LossyLink link({200ms, 0.05});
  if (!link.skip_reason().empty()) GTEST_SKIP() << link.skip_reason();
  TempDir dir;
  const auto scene = make_scene(dir / "far.blend", {"--size", "48x32", "--compress"});
  AgentOptions options;
  options.prefix = link.exec_prefix();
  options.bind = link.inner_address();
  Agent agent(options);
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--region-width",
                                         "16", "-o", (dir / "ours.png").string()},
                                        {}, 240s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_png(dir / "ours.png", blender_reference(scene, dir / "ref").at(0));
  EXPECT_GT(link.dropped(), 0U) << "no packet was lost: the link was not lossy";
  EXPECT_GT(link.forwarded(), link.dropped());
}

// The sockets `ss -K` killed (it lists each one under a header line).
int killed_sockets(const std::string& ss_output, int port) {
  int n = 0;
  for (std::size_t at = ss_output.find(":" + std::to_string(port) + " "); at != std::string::npos;
       at = ss_output.find(":" + std::to_string(port) + " ", at + 1))
    ++n;
  return n;
}

// A Wi-Fi blip: the connection between the broker and its only agent is reset mid-render.
TEST(Chaos, ATcpResetMidJobLosesNothingAndTheFrameEqualsBlenders) {
  TempDir dir;
  const auto scene = make_scene(dir / "blip.blend", {"--size", "128x72", "--samples", "64"});
  Agent agent;
  auto broker = start_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--region-width", "16", "-o",
                              (dir / "ours.png").string()});
  const fs::path journal = dir / "ours.png.bnr-spool" / "journal";
  ASSERT_GE(wait_for_journal(journal, 2 * journal_bytes(16, 72), 120s), 2 * journal_bytes(16, 72))
      << "no regions were journaled";
  const tools::RunResult ss =
      tools::run_command({"ss", "-K", "dst", "127.0.0.1", "dport", "=", std::to_string(agent.port())}, 10s);
  ASSERT_GE(killed_sockets(ss.output, agent.port()), 1) << "ss -K reset nothing: " << ss.output;
  std::string output;
  ASSERT_EQ(wait_for_exit(*broker, output, 150s), 0) << output;
  expect_same_png(dir / "ours.png", blender_reference(scene, dir / "ref").at(0));
  EXPECT_TRUE(agent.process().running());
}

}  // namespace
}  // namespace bnr::testing
