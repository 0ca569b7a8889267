#include "cost_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

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

TEST(CostMap, BlindColumnsAreThoseNoBandMeasuredAndNoAgreeingPairEncloses) {
  // Two bands of 100 columns. Band 0 measured [0, 20) and [60, 80) at about the same cost,
  // so the gap between them is settled there (not blind); band 1 measured its first 10.
  CostMap map(200, 0, 100);
  map.set_measured(0, 20, 1.0);
  map.set_measured(60, 80, 1.1);
  map.set_measured(100, 110, 1.0);
  map.refresh();
  EXPECT_EQ(map.blind_until(0, 100, 0.0), 80);     // measured, settled, measured; then blind
  EXPECT_EQ(map.blind_until(0, 100, 5.5), 85);     // 5 blind columns at 1.1 fit 5.5
  EXPECT_EQ(map.blind_until(0, 100, 1e9), 100);
  // Band 1: [110, 120) known from band 0's [10, 20), [120, 160) predicted from neighbours
  // with nothing measured in any band there, [160, 180) known from band 0's [60, 80).
  EXPECT_EQ(map.blind_until(100, 200, 0.0), 120);
  EXPECT_EQ(map.blind_until(160, 200, 0.0), 180);
  EXPECT_EQ(map.blind_until(100, 150, 1e9), 150);  // never past x1

  // Two probes of 10 columns that agree, 200 apart: settled for sizing, but blind, since a hot
  // band may lie between them.
  CostMap far(300, 0);
  far.set_measured(0, 10, 1.0);
  far.set_measured(210, 220, 1.0);
  far.refresh();
  EXPECT_EQ(far.settled_until(0), 220);
  EXPECT_EQ(far.blind_until(0, 300, 0.0), 10);
}

TEST(CostMap, ALowerBoundPredictsLikeAMeasurementButLeavesItsColumnsBlindAndUnlearned) {
  // Two bands of 100 columns; band 0 measured [0, 20) at 1, and [40, 60) is a region still
  // rendering that has already taken 5 per column.
  CostMap map(200, 0, 100);
  map.set_measured(0, 20, 1.0);
  map.set_lower_bounds({{40, 60, 5.0}});
  map.refresh();
  EXPECT_DOUBLE_EQ(map.estimate(30), 5.0);   // beside it in its band: the costlier side
  EXPECT_DOUBLE_EQ(map.estimate(150), 5.0);  // the same columns in the next band
  EXPECT_DOUBLE_EQ(map.estimate(170), 5.0);  // nothing else measured there: from neighbours
  EXPECT_DOUBLE_EQ(map.estimate(110), 1.0);
  // Known only from the bound: blind, so a region there still holds only so much.
  EXPECT_EQ(map.blind_until(140, 200, 0.0), 140);
  EXPECT_EQ(map.blind_until(140, 200, 50.0), 150);
  EXPECT_EQ(map.settled_until(40), 40);
  EXPECT_LT(map.learned()[50], 0);
  // Measured at last: the measurement wins, and a new set of bounds replaces the old one.
  map.set_measured(40, 60, 20.0);
  map.set_lower_bounds({});
  map.refresh();
  EXPECT_DOUBLE_EQ(map.estimate(150), 20.0);
  EXPECT_EQ(map.blind_until(140, 200, 0.0), 160);
  EXPECT_DOUBLE_EQ(map.learned()[50], 20.0);
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

// The cost map's rules column by column, as plainly as they can be written: the run-based map
// must predict exactly this.
struct ReferenceMap {
  int width, band_width;
  std::vector<double> cost;  // < 0 = not measured
  std::vector<char> barrier;

  [[nodiscard]] double known(int x) const {
    if (cost[x] >= 0) return cost[x];
    const int bands = width / band_width, b = x / band_width, col = x % band_width;
    for (int d = 1; d < bands; ++d) {
      const double up = b - d >= 0 ? cost[(b - d) * band_width + col] : -1.0;
      const double down = b + d < bands ? cost[(b + d) * band_width + col] : -1.0;
      if (up >= 0 || down >= 0) return std::max(up, down);
    }
    return -1.0;
  }
  // (estimate, likely, uncertain)
  [[nodiscard]] std::tuple<double, double, bool> predict(int x) const {
    if (known(x) >= 0) return {known(x), known(x), false};
    const int begin = x - x % band_width, end = begin + band_width;
    int l = x, r = x;
    while (l > begin && known(l - 1) < 0) --l;
    while (r < end && known(r) < 0) ++r;
    const double before = l > begin ? known(l - 1) : -1.0, after = r < end ? known(r) : -1.0;
    bool crosses = false;
    for (int c = l; c < r; ++c) crosses = crosses || (barrier[c] != 0 && cost[c] < 0);
    const double likely = before >= 0 && after >= 0 ? (before + after) / 2 : std::max(before, after);
    return {std::max(before, after), likely, crosses};
  }
  [[nodiscard]] bool settled(int x) const {
    if (cost[x] >= 0) return true;
    const int begin = x - x % band_width, end = begin + band_width;
    int l = x, r = x;
    while (l > begin && cost[l - 1] < 0) --l;
    while (r < end && cost[r] < 0) ++r;
    const double before = l > begin ? cost[l - 1] : -1.0, after = r < end ? cost[r] : -1.0;
    return before > 0 && after > 0 && std::max(before, after) <= 1.3 * std::min(before, after);
  }
  [[nodiscard]] int settled_until(int x) const {
    while (x < width && settled(x)) ++x;
    return x;
  }
};

TEST(CostMap, PredictsWhatTheColumnByColumnRulesPredict) {
  std::mt19937 rng(7);
  const double values[] = {1.0, 1.2, 3.0, 8.0};
  for (int trial = 0; trial < 300; ++trial) {
    const int bands = 1 + trial % 4, band_width = 20 + trial % 13, width = bands * band_width;
    CostMap map(width, 2, band_width);
    ReferenceMap ref{width, band_width, std::vector<double>(width, -1.0), std::vector<char>(width, 0)};
    const int steps = 1 + static_cast<int>(rng() % 8);
    for (int step = 0; step < steps; ++step) {
      const int x0 = static_cast<int>(rng() % width), x1 = std::min(width, x0 + 1 + static_cast<int>(rng() % 12));
      if (rng() % 3 == 0) {
        map.set_barrier(x0, x1);
        for (int x = x0; x < x1; ++x) ref.barrier[x] = ref.cost[x] < 0;
      } else {
        const double v = values[rng() % 4];
        map.set_measured(x0, x1, v);
        for (int x = x0; x < x1; ++x) {
          ref.cost[x] = v;
          ref.barrier[x] = 0;
        }
      }
      if (rng() % 2 == 0 || step + 1 == steps) map.refresh();
    }
    for (int x = 0; x < width; ++x) {
      const auto [value, likely, uncertain] = ref.predict(x);
      ASSERT_DOUBLE_EQ(map.estimate(x), value) << "trial " << trial << " column " << x;
      ASSERT_NEAR(map.likely_work(x, x + 1), std::max(likely, 0.0), 1e-9) << "trial " << trial << " column " << x;
      ASSERT_EQ(map.uncertain(x), uncertain) << "trial " << trial << " column " << x;
      ASSERT_EQ(map.settled_until(x), ref.settled_until(x)) << "trial " << trial << " column " << x;
      ASSERT_DOUBLE_EQ(map.learned()[x], ref.cost[x]);
    }
    for (int k = 0; k < 20; ++k) {
      const int x0 = static_cast<int>(rng() % width), x1 = x0 + static_cast<int>(rng() % (width - x0 + 1));
      double sum = 0;
      bool unknown = false;
      for (int x = x0; x < x1; ++x) {
        const double v = std::get<0>(ref.predict(x));
        unknown = unknown || v < 0;
        sum += std::max(v, 0.0);
      }
      if (unknown) ASSERT_LT(map.work(x0, x1), 0);
      else ASSERT_NEAR(map.work(x0, x1), sum, 1e-9) << "trial " << trial << " [" << x0 << ", " << x1 << ")";
    }
  }
}

TEST(ColumnRuns, OverlayFillsOnlyTheGapsAndLaterPaintsWin) {
  const ColumnRuns top{{2, 4, 1.0}, {6, 8, 2.0}}, bottom{{0, 10, 5.0}};
  const ColumnRuns both = overlay(top, bottom);
  ASSERT_EQ(both.size(), 5U);
  EXPECT_EQ(both[0].x1, 2);
  EXPECT_DOUBLE_EQ(both[2].value, 5.0);
  EXPECT_TRUE(covers(both, 0, 10));
  EXPECT_FALSE(covers(top, 2, 7));
  const ColumnRuns larger = larger_of({{0, 5, 3.0}}, {{3, 8, 4.0}});
  ASSERT_EQ(larger.size(), 2U);
  EXPECT_EQ(larger[0].x1, 3);
  EXPECT_DOUBLE_EQ(larger[1].value, 4.0);
  const ColumnRuns paint = painted({}, {{0, 6, 1.0}, {4, 10, 2.0}, {2, 3, 7.0}});
  ASSERT_EQ(paint.size(), 4U);
  EXPECT_DOUBLE_EQ(paint[1].value, 7.0);
  EXPECT_EQ(paint[3].x0, 4);
  EXPECT_DOUBLE_EQ(paint[3].value, 2.0);
}

}  // namespace
}  // namespace bnr::broker
