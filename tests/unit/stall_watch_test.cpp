#include "stall_watch.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace bnr::agent {
namespace {

using std::chrono::seconds;
using Clock = StallWatch::Clock;
const Clock::time_point t0{};

TEST(StallWatch, NoCpuAndNoOutputForTheTimeoutIsAStall) {
  StallWatch watch(seconds(120));
  watch.start(t0, seconds(5));
  EXPECT_FALSE(watch.stalled(t0 + seconds(60), seconds(5), false));
  EXPECT_FALSE(watch.stalled(t0 + seconds(119), seconds(5), false));
  EXPECT_TRUE(watch.stalled(t0 + seconds(120), seconds(5), false));
}

TEST(StallWatch, CpuTimeGainedIsProgress) {
  StallWatch watch(seconds(120));
  watch.start(t0, seconds(5));
  EXPECT_FALSE(watch.stalled(t0 + seconds(100), seconds(6), false));
  EXPECT_FALSE(watch.stalled(t0 + seconds(219), seconds(6), false));
  EXPECT_TRUE(watch.stalled(t0 + seconds(220), seconds(6), false));
}

TEST(StallWatch, OutputIsProgressEvenWithoutCpu) {
  StallWatch watch(seconds(10));
  watch.start(t0, seconds(0));
  EXPECT_FALSE(watch.stalled(t0 + seconds(9), seconds(0), true));
  EXPECT_FALSE(watch.stalled(t0 + seconds(18), seconds(0), false));
  EXPECT_TRUE(watch.stalled(t0 + seconds(19), seconds(0), false));
}

TEST(StallWatch, AnUnreadableCpuTimeIsNoProgress) {
  StallWatch watch(seconds(10));
  watch.start(t0, seconds(1));
  EXPECT_TRUE(watch.stalled(t0 + seconds(10), std::nullopt, false));
}

TEST(StallWatch, AnIdleBlenderIsNeverStalledAndStartingAgainResetsTheTimeout) {
  StallWatch watch(seconds(10));
  EXPECT_FALSE(watch.stalled(t0 + seconds(100), seconds(0), false)) << "never started";
  watch.start(t0, seconds(1));
  watch.stop();
  EXPECT_FALSE(watch.watching());
  EXPECT_FALSE(watch.stalled(t0 + seconds(100), seconds(1), false));
  watch.start(t0 + seconds(100), seconds(1));
  EXPECT_FALSE(watch.stalled(t0 + seconds(109), seconds(1), false));
  EXPECT_TRUE(watch.stalled(t0 + seconds(110), seconds(1), false));
}

TEST(StallWatch, ZeroTimeoutTurnsTheWatchOff) {
  StallWatch watch(Clock::duration::zero());
  watch.start(t0, seconds(0));
  EXPECT_FALSE(watch.stalled(t0 + seconds(100000), seconds(0), false));
}

TEST(ProcStat, ReadsParentAndCpuTicksWhateverTheCommandName) {
  const auto s = parse_proc_stat("4242 (blen der) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 5 0");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ppid, 17);
  EXPECT_EQ(s->ticks, 281U);
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("12 (sh) S 1 2"));
  EXPECT_FALSE(parse_proc_stat("12 (sh) S one 2 3 4 5 6 7 8 9 10 11 12"));
}

TEST(ProcStat, ThisProcessHasACpuTimeAndAGonePidHasNone) {
  EXPECT_TRUE(process_tree_cpu(getpid()));
  EXPECT_FALSE(process_tree_cpu(0x3fffffff));
}

}  // namespace
}  // namespace bnr::agent
