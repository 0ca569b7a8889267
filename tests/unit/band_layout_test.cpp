#include "band_layout.h"

#include <gtest/gtest.h>

#include "cost_map.h"

namespace bnr::broker {
namespace {

TEST(BandLayout, BandsSplitTheRowsEvenlyAndTheirColumnsFollowOneAnother) {
  const BandLayout layout(10, 7, 3);
  EXPECT_EQ(layout.columns(), 30);
  EXPECT_EQ(layout.row0(0), 0);
  EXPECT_EQ(layout.row0(1), 2);
  EXPECT_EQ(layout.row0(2), 4);
  EXPECT_EQ(layout.row1(2), 7);
  EXPECT_EQ(layout.rect(0, 10), (protocol::Rect{0, 0, 10, 2}));
  EXPECT_EQ(layout.rect(13, 17), (protocol::Rect{3, 2, 7, 4}));
  EXPECT_EQ(layout.rect(25, 30), (protocol::Rect{5, 4, 10, 7}));
  EXPECT_EQ(BandLayout(10, 2, 9).bands(), 2) << "no band without a row";
  EXPECT_EQ(BandLayout(10, 5, 0).bands(), 1);
}

TEST(BandLayout, ARectangleOfWholeBandsMapsBackToItsColumnsAndAnyOtherDoesNot) {
  const BandLayout layout(10, 8, 4);
  using Ranges = std::vector<std::pair<int, int>>;
  EXPECT_EQ(layout.columns_of({3, 2, 6, 4}), (Ranges{{13, 16}}));
  EXPECT_EQ(layout.columns_of({0, 0, 10, 8}), (Ranges{{0, 10}, {10, 20}, {20, 30}, {30, 40}}))
      << "a full-height region of a run with one band";
  EXPECT_EQ(layout.columns_of({1, 0, 2, 4}), (Ranges{{1, 2}, {11, 12}})) << "a region of a run with two bands";
  EXPECT_TRUE(layout.columns_of({0, 1, 10, 4}).empty()) << "cuts through band 0";
  EXPECT_TRUE(layout.columns_of({0, 0, 11, 2}).empty()) << "outside the frame";
  EXPECT_TRUE(layout.columns_of({4, 2, 4, 4}).empty()) << "empty";
}

TEST(BandLayout, AFrameCostSpreadsOverTheBandsByTheirRowsAndFoldsBack) {
  const BandLayout layout(4, 3, 2);  // rows 0-1 and 1-3
  const std::vector<double> per_frame_column = {3, 6, 9, 12};
  const std::vector<double> spread = layout.spread(per_frame_column);
  ASSERT_EQ(spread.size(), 8U);
  EXPECT_DOUBLE_EQ(spread[1], 2.0);   // band 0 holds a third of the rows
  EXPECT_DOUBLE_EQ(spread[5], 4.0);   // band 1 two thirds
  EXPECT_EQ(layout.fold(spread), per_frame_column);
  std::vector<double> learned = spread;
  learned[6] = -1;  // column 2 of band 1 not measured
  const std::vector<double> folded = layout.fold(learned);
  EXPECT_DOUBLE_EQ(folded[1], 6.0);
  EXPECT_LT(folded[2], 0) << "a column is known only when every band measured it";
}

TEST(BandLayout, BandsAreChosenOnlyWhereMarginsWouldCutManyNarrowRegions) {
  EXPECT_EQ(choose_bands(1920, 1080, 0, 8), 1) << "no margins: cuts cost nothing";
  EXPECT_EQ(choose_bands(1920, 1080, 4, 1), 1) << "one agent: one region";
  EXPECT_EQ(choose_bands(320, 180, 4, 2), 2);
  EXPECT_EQ(choose_bands(1920, 1080, 4, 8), 6);
  const int many = choose_bands(1920, 1080, 4, 256);
  EXPECT_GT(many, choose_bands(1920, 1080, 4, 8));
  EXPECT_GE(1080 / many, 16 * 4) << "a band keeps its row margins a small share of its rows";
  EXPECT_EQ(choose_bands(100, 40, 4, 8), 1) << "too few rows for bands";
}

TEST(CostMap, AColumnNoBandMeasuredIsEstimatedInItsBandAndAMeasuredOneFromTheNearestBand) {
  CostMap map(30, 2, 10);  // three bands of ten columns
  map.set_measured(2, 4, 5.0);    // band 0, frame columns 2-3
  map.set_measured(26, 28, 1.0);  // band 2, frame columns 6-7
  map.refresh();
  EXPECT_DOUBLE_EQ(map.estimate(12), 5.0) << "band 1 column 2: from band 0, the nearer";
  EXPECT_DOUBLE_EQ(map.estimate(16), 1.0) << "band 1 column 6: from band 2";
  EXPECT_DOUBLE_EQ(map.estimate(22), 5.0) << "band 2 column 2: from band 0, the only one";
  EXPECT_DOUBLE_EQ(map.estimate(9), 1.0) << "band 0, column 9: no band measured it; its band's nearest, column 7";
  // Margins stop at a band's ends: its first and last regions render one side only.
  EXPECT_EQ(map.rendered_x0(10), 10);
  EXPECT_EQ(map.rendered_x1(20), 20);
  EXPECT_EQ(map.rendered_x0(12), 10);
  EXPECT_EQ(map.rendered_x1(19), 20);
  EXPECT_EQ(map.rendered_x0(15), 13);
  EXPECT_EQ(map.rendered_x1(15), 17);
}

}  // namespace
}  // namespace bnr::broker
