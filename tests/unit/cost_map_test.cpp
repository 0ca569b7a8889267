#include "cost_map.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(CostMap, NothingIsKnownBeforeTheFirstMeasurement) {
  const CostMap map(100, 4);
  EXPECT_LT(map.estimate(0), 0);
  EXPECT_LT(map.work(0, 10), 0);
  EXPECT_LT(map.region_work(10, 20), 0);
}

TEST(CostMap, RegionWorkCountsTheMarginsOnBothSidesClippedToTheFrame) {
  CostMap map(100, 4);
  map.set_measured(0, 100, 2.0);
  map.refresh();
  EXPECT_DOUBLE_EQ(map.work(10, 20), 20.0);
  EXPECT_DOUBLE_EQ(map.region_work(10, 20), 36.0);  // 10 + 2 x 4 columns
  EXPECT_DOUBLE_EQ(map.region_work(0, 10), 28.0);   // no margin left of the frame
  EXPECT_DOUBLE_EQ(map.region_work(95, 100), 18.0);
  EXPECT_EQ(map.rendered_x0(2), 0);
  EXPECT_EQ(map.rendered_x1(98), 100);
}

TEST(CostMap, UnmeasuredColumnsTakeTheCostlierNeighbourButTheLikelyWorkTakesTheMean) {
  CostMap map(30, 0);
  map.set_measured(0, 10, 1.0);
  map.set_measured(20, 30, 3.0);
  map.refresh();
  EXPECT_DOUBLE_EQ(map.estimate(15), 3.0);
  EXPECT_DOUBLE_EQ(map.likely_work(10, 20), 20.0);
  EXPECT_FALSE(map.uncertain(15));
}

TEST(CostMap, EstimatesThatReachAcrossAProbeStillOutAreUncertain) {
  CostMap map(30, 0);
  map.set_measured(0, 5, 1.0);
  map.set_barrier(20, 22);
  map.refresh();
  EXPECT_TRUE(map.uncertain(10));
  map.set_measured(20, 22, 1.0);
  map.refresh();
  EXPECT_FALSE(map.uncertain(10));
}

TEST(CostMap, ColumnsForABudgetLeaveRoomForTheMargins) {
  CostMap map(1000, 4);
  map.set_measured(0, 1000, 1.0);
  map.refresh();
  EXPECT_EQ(map.columns_for(100, 1000, 50.0), 42);  // 42 + 8 margin columns = 50
  EXPECT_EQ(map.columns_for(0, 1000, 50.0), 46);    // only the right margin at the frame's edge
  EXPECT_EQ(map.columns_for(100, 1000, 1.0), 1);    // at least one column
  EXPECT_EQ(map.columns_for(100, 200, 1e9), 100);   // at most the interval
}

TEST(CostMap, APriorIsScaledToTheLearnedUnits) {
  CostMap map(10, 0);
  map.set_prior({1, 1, 1, 1, 1, 2, 2, 2, 2, 2});
  map.set_measured(0, 5, 10.0);
  map.refresh();
  EXPECT_DOUBLE_EQ(map.estimate(7), 20.0);
  EXPECT_DOUBLE_EQ(map.work(0, 10), 150.0);
}

}  // namespace
}  // namespace bnr::broker
