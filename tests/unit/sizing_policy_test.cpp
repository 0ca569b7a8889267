#include "sizing_policy.h"

#include <cmath>

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {
using Secs = std::chrono::duration<double>;

TEST(SizingPolicy, WithoutMarginsTheTargetIsTheFactoringShare) {
  EXPECT_DOUBLE_EQ(predicted_seconds_target(Secs(80), 8, Secs(0), 0.1).count(), 10.0);
}

TEST(SizingPolicy, MarginsMakeRegionsLargerUntilOverdrawAndTailRiskBalance) {
  // sqrt(800 x 2 / 0.1) = 126.5 s beats 800 / 8 = 100 s.
  EXPECT_NEAR(predicted_seconds_target(Secs(800), 8, Secs(2), 0.1).count(), std::sqrt(16000.0), 1e-9);
  // Near the end the balance asks for more than is left: the agent takes what is left.
  EXPECT_DOUBLE_EQ(predicted_seconds_target(Secs(10), 8, Secs(2), 0.1).count(), 10.0);
}

TEST(SizingPolicy, PredictedSecondsCountTheMarginsInTheBudget) {
  CostMap cost(1000, 4);
  cost.set_measured(0, 1000, 1.0);
  cost.refresh();
  const PredictedSecondsSizing sizing(8, Secs(0), 0.1);
  SizingRequest r;
  r.x0 = 100;
  r.x1 = 1000;
  r.free_columns = 900;
  r.speed = 1.0;
  r.observed = true;
  r.time_left = Secs(8000);
  r.cost = &cost;
  // Target max(1000, sqrt(8000 x 8 / 0.1) = 894) = 1000 s: more than the 900 columns left.
  EXPECT_EQ(sizing.width(r), 900);
  r.time_left = Secs(400);
  // The whole map is measured and the agent too: half the time left, 200 s, of which 8 s are
  // margins.
  EXPECT_EQ(sizing.width(r), 192);
  // An agent known only by its hint: max(400 / 16, sqrt(400 x 8 / 0.1) = 178.9) s.
  r.observed = false;
  EXPECT_EQ(sizing.width(r), 171);
}

TEST(SizingPolicy, RegionsAreBolderOnlyWhereTheCostIsSettled) {
  // Both maps predict 5 per column in the gap [100, 300); only in the first do the measured
  // neighbours agree. Between 1 and 5 a cost edge may hide.
  CostMap settled(1000, 1), edged(1000, 1);
  settled.set_measured(0, 100, 5.0);
  edged.set_measured(0, 100, 1.0);
  for (CostMap* m : {&settled, &edged}) {
    m->set_measured(300, 1000, 5.0);
    m->refresh();
  }
  EXPECT_EQ(settled.settled_until(100), 1000);
  EXPECT_EQ(edged.settled_until(100), 100);
  const PredictedSecondsSizing sizing(8, Secs(0), 1.0);
  SizingRequest r;
  r.x0 = 100;
  r.x1 = 300;
  r.free_columns = 200;
  r.speed = 1.0;
  r.observed = true;
  r.time_left = Secs(400);
  r.cost = &settled;
  const int bold = sizing.width(r);
  r.cost = &edged;
  const int cautious = sizing.width(r);
  EXPECT_EQ(bold, 38);      // half the time left, 200 s: 38 columns + 2 of margin at 5
  EXPECT_EQ(cautious, 11);  // max(400 / 8, sqrt(400 x 10 / 1)) = 63 s: 11 columns + margins
}

TEST(SizingPolicy, FixedAndFactoringInPixelsIgnoreTheCost) {
  SizingRequest r;
  r.free_columns = 1000;
  r.agents = 5;
  EXPECT_EQ(FixedWidthSizing(64).width(r), 64);
  EXPECT_EQ(FactoringPixelsSizing().width(r), 100);
  EXPECT_FALSE(FactoringPixelsSizing().predicts());
  EXPECT_TRUE(PredictedSecondsSizing(8, Secs(0), 0.1).predicts());
}

}  // namespace
}  // namespace bnr::broker
