#include "agent_check.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(AgentCheck, TheTableHasARowPerAgentAndALinePerProblem) {
  CheckRow fine{"studio-1", "10.0.0.2:7300", "3.4.1", "CPU", "joined", true, true, 1.6, ""};
  CheckRow dead{"10.0.0.3:7300", "10.0.0.3:7300"};
  dead.trust = "--agent";
  dead.problem = "nothing answers there";
  const std::string t = check_table({fine, dead});
  EXPECT_NE(t.find("studio-1"), std::string::npos);
  EXPECT_NE(t.find("2 ms"), std::string::npos) << t;
  EXPECT_NE(t.find("problem: 10.0.0.3:7300 at 10.0.0.3:7300: nothing answers there"), std::string::npos) << t;
  EXPECT_EQ(t.find("problem: studio-1"), std::string::npos) << t;
  EXPECT_NE(check_table({}).find("no agents"), std::string::npos);
}

}  // namespace
}  // namespace bnr::broker
