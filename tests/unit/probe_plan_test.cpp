#include "probe_plan.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(ProbePlan, ProbesAreDisjointAndTheFirstOnesFarApart) {
  const auto probes = plan_probes(1600, 16, 10);
  ASSERT_EQ(probes.size(), 16U);
  EXPECT_EQ(probes[0], (std::pair<int, int>{45, 55}));
  EXPECT_EQ(probes[1], (std::pair<int, int>{845, 855}));
  for (std::size_t i = 0; i < probes.size(); ++i)
    for (std::size_t j = i + 1; j < probes.size(); ++j)
      EXPECT_TRUE(probes[i].second <= probes[j].first || probes[j].second <= probes[i].first);
}

TEST(ProbePlan, MarginsMakeProbesFewerButNeverFewerThanTwo) {
  EXPECT_EQ(probe_count(16384, 0, 16), 16);
  EXPECT_EQ(probe_count(16384, 4, 16), 8);  // 0.4% of 16384 columns affords 8 probes' margins
  EXPECT_EQ(probe_count(4096, 4, 16), 2);
  EXPECT_EQ(probe_count(640, 4, 16), 2);
  EXPECT_EQ(probe_count(640, 4, 0), 0);
}

TEST(ProbePlan, ProbesOnATinyFrameDoNotOverlap) {
  const auto probes = plan_probes(20, 16, 5);
  for (std::size_t i = 1; i < probes.size(); ++i) EXPECT_NE(probes[i - 1], probes[i]);
  EXPECT_LE(probes.size(), 4U);
}

}  // namespace
}  // namespace bnr::broker
