// bnr-broker --check: a round trip to every agent, with what is wrong where.
#include <gtest/gtest.h>

#include "harness.h"

namespace bnr::testing {
namespace {

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

}  // namespace
}  // namespace bnr::testing
