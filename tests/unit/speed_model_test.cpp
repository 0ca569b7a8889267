#include "speed_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(SpeedModel, AnAgentWithoutAHintStartsAtTheMedianOfTheOthers) {
  SpeedModel m(4);
  m.add_agent(0, 1.0);
  m.add_agent(1, 3.0);
  m.add_agent(2, 2.0);
  m.add_agent(3, 0.0);
  EXPECT_DOUBLE_EQ(m.speed(3), 2.0);
  EXPECT_FALSE(m.observed(3));
}

TEST(SpeedModel, NeighbouringRegionsRevealRelativeSpeedsCountingRenderedColumns) {
  // Agent 1 is three times as fast; every region renders 10 columns plus 8 of margin, and the
  // regions alternate, so each has neighbours by the other agent.
  SpeedModel m(4);
  m.add_agent(0, 1.0);
  m.add_agent(1, 1.0);
  for (int i = 0; i < 8; ++i) {
    const AgentId a = static_cast<AgentId>(i % 2);
    m.record(a, 10 * i, 10 * i + 10, 18, a == 0 ? 18.0 : 6.0, -1);
  }
  EXPECT_TRUE(m.observed(0));
  EXPECT_TRUE(m.observed(1));
  EXPECT_NEAR(m.speed(1) / m.speed(0), 3.0, 0.03);  // the hints pull lightly
  for (const SpeedModel::Sample& s : m.samples()) EXPECT_NEAR(s.per_column, m.speed(0) * 18.0 / 18, 0.01);
}

TEST(SpeedModel, WithAProfileNeighboursCompareByTheWorkItExpectsOfThem) {
  // Agent 1 is twice as fast; the regions alternate between the agents, and agent 1's happen
  // to be the costly ones, four times the work per column (stripes a profile of the frame
  // knows). Per column agent 1 looks half as fast; per unit of the profile's work, it is twice.
  SpeedModel profiled(4);
  SpeedModel by_columns(4);
  for (SpeedModel* m : {&profiled, &by_columns}) {
    m->add_agent(0, 1.0);
    m->add_agent(1, 1.0);
  }
  for (int i = 0; i < 8; ++i) {
    const AgentId a = static_cast<AgentId>(i % 2);
    const double work = 10.0 * (a == 1 ? 4.0 : 1.0);
    const double seconds = work / (a == 0 ? 1.0 : 2.0);
    profiled.record(a, 10 * i, 10 * i + 10, 10, seconds, -1, work);
    by_columns.record(a, 10 * i, 10 * i + 10, 10, seconds, -1);
  }
  EXPECT_TRUE(profiled.observed(1));
  EXPECT_NEAR(profiled.speed(1) / profiled.speed(0), 2.0, 0.05);
  EXPECT_NEAR(by_columns.speed(1) / by_columns.speed(0), 0.5, 0.05);
  // Samples stay per column: the cost map learns 1 and 4 from them.
  for (const SpeedModel::Sample& s : profiled.samples())
    EXPECT_NEAR(s.per_column / profiled.speed(0), (s.x0 / 10) % 2 == 1 ? 4.0 : 1.0, 0.1);
}

TEST(SpeedModel, TheLastRegionOfABandIsNoNeighbourOfTheNextBandsFirst) {
  // Bands of 100 columns. Virtual columns 90-100 (band 0's right edge) and 100-110 (band 1's
  // left edge, the frame's other side) touch, but their pixels are far apart: a difference in
  // time there says nothing of the agents. The same at the edge of bands 1 and 2.
  SpeedModel banded(4, 100);
  SpeedModel flat(4);
  for (SpeedModel* m : {&banded, &flat}) {
    m->add_agent(0, 1.0);
    m->add_agent(1, 1.0);
    m->record(0, 90, 100, 10, 10.0, -1);
    m->record(1, 100, 110, 10, 5.0, -1);
    m->record(0, 190, 200, 10, 10.0, -1);
    m->record(1, 200, 210, 10, 5.0, -1);
  }
  EXPECT_FALSE(banded.observed(1));
  EXPECT_DOUBLE_EQ(banded.speed(1), 1.0);
  // Taken as one band, the two touching pairs agree: agent 1 looks twice as fast.
  EXPECT_TRUE(flat.observed(1));
  EXPECT_NEAR(flat.speed(1) / flat.speed(0), 2.0, 0.05);
}

TEST(SpeedModel, HundredsOfAgentsAreFittedAndEveryRatioComesOut) {
  // 300 agents of speeds 0.5 to 2, all hinted 1; four rounds of regions side by side, the
  // agents in a shuffled order each round, so each is compared with several others.
  SpeedModel m(1);
  constexpr int kAgents = 300;
  const auto true_speed = [](int a) { return 0.5 * std::pow(4.0, a / (kAgents - 1.0)); };
  for (int a = 0; a < kAgents; ++a) m.add_agent(static_cast<AgentId>(a), 1.0);
  std::mt19937 rng(7);
  std::vector<int> order(kAgents);
  std::iota(order.begin(), order.end(), 0);
  int x0 = 0;
  for (int round = 0; round < 4; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    for (int a : order) {
      m.record(static_cast<AgentId>(a), x0, x0 + 10, 10, 10.0 / true_speed(a), -1);
      x0 += 10;
    }
  }
  for (int a = 1; a < kAgents; a += 37) {
    EXPECT_TRUE(m.observed(static_cast<AgentId>(a)));
    EXPECT_NEAR(m.speed(static_cast<AgentId>(a)) / m.speed(0), true_speed(a) / true_speed(0),
                0.1 * true_speed(a) / true_speed(0));
  }
}

TEST(SpeedModel, ARegionTenTimesSlowerThanBothNeighboursIsACostEdgeNotTheMachine) {
  // Two equal agents, alternating regions, then agent 1 renders one between two of agent 0's
  // that takes ten times as long per column: a hot band inside it, most likely. A machine
  // that drops to a tenth of its speed is far less likely than that; believed at once, the
  // agent would be given a tenth of the work for the rest of the job.
  SpeedModel m(4);
  m.add_agent(0, 1.0);
  m.add_agent(1, 1.0);
  for (int i = 0; i < 8; ++i) m.record(static_cast<AgentId>(i % 2), 10 * i, 10 * i + 10, 10, 10.0, -1);
  ASSERT_TRUE(m.observed(1));
  m.record(0, 80, 90, 10, 10.0, -1);
  m.record(0, 100, 110, 10, 10.0, -1);
  m.record(1, 90, 100, 10, 100.0, 10.0);
  EXPECT_GT(m.speed(1), 0.9 * m.speed(0));        // no new regime at a tenth
  EXPECT_NEAR(m.predicting(1), 0.5 * m.speed(0), 0.01);  // cautious, down to half
  // A halving both neighbours agree on is the machine: believed at once.
  m.record(0, 110, 120, 10, 10.0, -1);
  m.record(0, 130, 140, 10, 10.0, -1);
  m.record(1, 120, 130, 10, 20.0, 10.0);
  EXPECT_NEAR(m.speed(1), 0.5 * m.speed(0), 0.05);
}

TEST(SpeedModel, TimesThatAreNotPositiveTeachNothing) {
  SpeedModel m(4);
  m.add_agent(0, 1.0);
  EXPECT_FALSE(m.record(0, 0, 10, 10, 0.0, -1));
  EXPECT_FALSE(m.record(7, 0, 10, 10, 1.0, -1));
  EXPECT_TRUE(m.samples().empty());
}

}  // namespace
}  // namespace bnr::broker
