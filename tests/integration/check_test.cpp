// bnr-broker --check: a round trip to every agent, with what is wrong where, and each agent's
// Blender version and device as the agent reports them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <iterator>
#include <memory>
#include <regex>
#include <sstream>
#include <vector>

#include "avahi_harness.h"
#include "harness.h"
#include "mdns_browse.h"

namespace bnr::testing {
namespace {

// The table row --check printed for the agent at `address`, split into its columns (agent,
// address, reachable, authorized, blender, device, round trip...); empty when there is none.
std::vector<std::string> check_row(const std::string& output, const std::string& address) {
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> columns{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
    if (columns.size() >= 6 && columns[1] == address) return columns;
  }
  return {};
}

TEST(Check, AServingAgentAnswersAndAStrangerOrADeadPortIsAProblem) {
  Agent serving;
  Agent stranger(AgentOptions{.authorize_test_broker = false});
  // Port 1 (tcpmux) has no listener on a test machine: a connection there is refused.
  const std::string dead = "127.0.0.1:1";
  const tools::RunResult ok = run_broker({"--check", "--no-mdns", "--agent", serving.endpoint()});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find(serving.address()), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find(" ms "), std::string::npos) << ok.output;
  EXPECT_EQ(ok.output.find("problem:"), std::string::npos) << ok.output;

  const tools::RunResult bad = run_broker({"--check", "--no-mdns", "--agent", serving.endpoint(), "--agent",
                                           stranger.endpoint(), "--agent", dead + "@" + serving.key()});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("problem: " + stranger.address() + " at " + stranger.address() +
                            ": it does not serve this broker: run bnr-agent --join TOKEN there"),
            std::string::npos)
      << bad.output;
  EXPECT_NE(bad.output.find("problem: " + dead + " at " + dead + ": nothing answers there"), std::string::npos)
      << bad.output;
  EXPECT_EQ(bad.output.find("problem: " + serving.address()), std::string::npos) << bad.output;
}

// An agent given with --agent has no advert: its answer to the probe says what it runs.
TEST(Check, AnAgentGivenWithAgentShowsTheBlenderAndDeviceItReports) {
  Agent serving;
  const tools::RunResult r = run_broker({"--check", "--no-mdns", "--agent", serving.endpoint()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<std::string> row = check_row(r.output, serving.address());
  ASSERT_GE(row.size(), 6U) << r.output;
  EXPECT_EQ(row[2], "yes") << r.output;
  EXPECT_EQ(row[3], "yes") << r.output;
  EXPECT_TRUE(std::regex_match(row[4], std::regex("[0-9]+\\.[0-9]+(\\.[0-9]+)?"))) << "Blender version: " << r.output;
  EXPECT_EQ(row[5], "CPU") << r.output;
}

// On the LAN: a joined agent is probed and shows its device; an advert the broker would not
// use is not probed, and shows the device its advert names.
TEST(Check, AgentsOnTheLanShowTheirDeviceProbedOrNot) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  const std::string tag = std::to_string(getpid());
  Agent joined(AgentOptions{.extra = {"--name", "bnr-check-joined-" + tag}, .advertise = true});
  // Its own config directory: no farm secret, so its advert proves nothing.
  TempDir stranger_config;
  Agent stranger(AgentOptions{.extra = {"--name", "bnr-check-stranger-" + tag},
                              .advertise = true,
                              .authorize_test_broker = false,
                              .config_dir = stranger_config.path(),
                              .join_test_broker = false});
  // Both adverts are up before the broker's window opens.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (std::size_t seen = 0; seen < 2 && std::chrono::steady_clock::now() < deadline;) {
    seen = 0;
    for (const auto& a : broker::browse_agents(std::chrono::milliseconds(500)))
      seen += a.txt.info.name.find("bnr-check-") == 0 && a.txt.info.name.find(tag) != std::string::npos;
  }
  const tools::RunResult r =
      tools::run_command({BNR_BROKER_EXE, "--check", "--mdns-window", "1500"}, std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 1) << "the stranger is a problem: " << r.output;
  const std::vector<std::string> probed = check_row(r.output, joined.address());
  ASSERT_GE(probed.size(), 6U) << r.output << avahi->avahi_log();
  EXPECT_EQ(probed[3], "yes") << r.output;
  EXPECT_EQ(probed[5], "CPU") << r.output;
  const std::vector<std::string> skipped = check_row(r.output, stranger.address());
  ASSERT_GE(skipped.size(), 6U) << r.output;
  EXPECT_EQ(skipped[2], "no") << "not probed: " << r.output;
  EXPECT_EQ(skipped[5], "CPU") << r.output;
  EXPECT_NE(r.output.find("problem: bnr-check-stranger-" + tag + " at " + stranger.address() + ": not used"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace bnr::testing
