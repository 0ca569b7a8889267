#include "liveness.h"

#include <gtest/gtest.h>

namespace bnr::protocol {
namespace {

using namespace std::chrono_literals;

TEST(Liveness, APeerIsGoneOnlyAfterItsTimeoutOfSilence) {
  const Liveness::Clock::time_point t0{};
  Liveness l(t0);
  EXPECT_FALSE(l.silent_for_more_than(10s, t0 + 10s));
  EXPECT_TRUE(l.silent_for_more_than(10s, t0 + 11s));
  l.heard(t0 + 9s);
  EXPECT_FALSE(l.silent_for_more_than(10s, t0 + 11s));
}

TEST(Liveness, AHeartbeatIsDueOnlyWhenNothingWasSentForAnInterval) {
  const Liveness::Clock::time_point t0{};
  Liveness l(t0);
  EXPECT_FALSE(l.heartbeat_due(1s, t0 + 999ms));
  EXPECT_TRUE(l.heartbeat_due(1s, t0 + 1s));
  l.sent(t0 + 1s);
  EXPECT_FALSE(l.heartbeat_due(1s, t0 + 1500ms));
}

}  // namespace
}  // namespace bnr::protocol
