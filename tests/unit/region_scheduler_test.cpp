#include "region_scheduler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace bnr::broker {
namespace {

const Clock::time_point kT0{};
Clock::time_point at(double seconds) {
  return kT0 + std::chrono::duration_cast<Clock::duration>(Seconds(seconds));
}

// Every column covered by exactly one accepted region.
void expect_exact_cover(const std::vector<protocol::Rect>& accepted, int width, int height) {
  std::vector<int> hits(static_cast<std::size_t>(width), 0);
  for (const auto& r : accepted) {
    EXPECT_EQ(r.y0, 0);
    EXPECT_EQ(r.y1, height);
    for (int x = r.x0; x < r.x1; ++x) ++hits[static_cast<std::size_t>(x)];
  }
  for (int x = 0; x < width; ++x) ASSERT_EQ(hits[static_cast<std::size_t>(x)], 1) << "column " << x;
}

// A tiny event loop: agents with true speeds render regions whose true cost is `cost(x)` per
// column, one at a time, on a fake clock. Returns each agent's finish time.
struct SimRun {
  std::vector<double> finish;
  std::vector<protocol::Rect> accepted;
  std::vector<std::vector<int>> widths;  // per agent, in order
  int duplicates = 0;
};
SimRun simulate(RegionScheduler& s, const std::vector<double>& speeds, const std::function<double(int)>& cost,
             const std::function<double(std::size_t, double)>& slowdown = nullptr) {
  struct Busy {
    RegionId id = 0;
    double end = 0;
    double render = 0;
    bool active = false;
  };
  SimRun run;
  run.finish.assign(speeds.size(), 0);
  run.widths.resize(speeds.size());
  std::vector<Busy> busy(speeds.size());
  for (std::size_t a = 0; a < speeds.size(); ++a) s.add_agent(a);
  double now = 0;
  for (int guard = 0; guard < 100000 && !s.finished(); ++guard) {
    for (std::size_t a = 0; a < speeds.size(); ++a) {
      if (busy[a].active) continue;
      const auto next = s.next_region(a, at(now));
      if (!next) continue;
      double work = 0;
      for (int x = next->rect.x0; x < next->rect.x1; ++x) work += cost(x);
      const double speed = speeds[a] * (slowdown ? slowdown(a, now) : 1.0);
      busy[a] = {next->id, now + work / speed, work / speed, true};
      run.widths[a].push_back(next->rect.width());
      run.duplicates += next->duplicate;
    }
    // Advance to the earliest finishing render.
    std::size_t first = speeds.size();
    for (std::size_t a = 0; a < speeds.size(); ++a)
      if (busy[a].active && (first == speeds.size() || busy[a].end < busy[first].end)) first = a;
    if (first == speeds.size()) break;
    now = busy[first].end;
    busy[first].active = false;
    const protocol::Rect rect = s.rect_of(busy[first].id);
    const auto done = s.complete(busy[first].id, first, at(now), Seconds(busy[first].render));
    if (done.accepted) {
      run.accepted.push_back(rect);
      run.finish[first] = now;
    }
    for (const auto& [agent, copy] : done.cancel) {
      EXPECT_EQ(busy[agent].id, copy);
      busy[agent].active = false;  // the other copy stops: its result would be useless
    }
  }
  return run;
}

TEST(RegionScheduler, FixedWidthRegionsCoverTheFrameOnce) {
  RegionScheduler s(101, 7, {.region_width = 10});
  s.add_agent(0);
  std::vector<protocol::Rect> accepted;
  while (auto a = s.next_region(0, kT0)) {
    EXPECT_LE(a->rect.width(), 10);
    EXPECT_TRUE(s.complete(a->id, 0, kT0, Seconds(1)).accepted);
    accepted.push_back(a->rect);
  }
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(accepted.size(), 11U);
  expect_exact_cover(accepted, 101, 7);
}

TEST(RegionScheduler, FactoringInPixelsShrinksTowardsTheEnd) {
  RegionScheduler s(4096, 10, {.policy = SizingPolicy::kFactoringPixels, .min_width = 16});
  const SimRun run = simulate(s, {1, 1}, [](int) { return 1.0; });
  ASSERT_TRUE(s.finished());
  EXPECT_GT(run.widths[0].front(), run.widths[0].back());
  EXPECT_EQ(run.widths[0].front(), 1024);
  expect_exact_cover(run.accepted, 4096, 10);
}

TEST(RegionScheduler, FasterAgentsGetWiderRegionsOnceCostIsKnown) {
  RegionScheduler s(10000, 1, {.min_region = Seconds(0)});
  s.set_cost_prior(std::vector<double>(100, 1.0));
  s.add_agent(0, 1.0);
  s.add_agent(1, 4.0);
  const auto slow = s.next_region(0, kT0);
  const auto fast = s.next_region(1, kT0);
  ASSERT_TRUE(slow && fast);
  EXPECT_NEAR(static_cast<double>(fast->rect.width()) / slow->rect.width(), 4.0, 0.3);
  EXPECT_NEAR(fast->predicted.count(), slow->predicted.count(), 0.01 * slow->predicted.count());
}

TEST(RegionScheduler, LearnsRelativeSpeedsWithoutAnyProfile) {
  RegionScheduler s(20000, 1, {.min_region = Seconds(0)});
  const SimRun run = simulate(s, {1.0, 3.0}, [](int) { return 0.001; });
  ASSERT_TRUE(s.finished());
  EXPECT_NEAR(s.speed(1) / s.speed(0), 3.0, 0.6);
  const double makespan = std::max(run.finish[0], run.finish[1]);
  const double ideal = 20000 * 0.001 / 4.0;
  EXPECT_LT(makespan / ideal, 1.05);
}

TEST(RegionScheduler, HotBandGetsNarrowRegionsAndAgentsFinishTogether) {
  // 20x cost over 12% of the frame: sizing in seconds keeps regions there short.
  const auto cost = [](int x) { return x >= 5000 && x < 6200 ? 0.02 : 0.001; };
  RegionScheduler s(10000, 1, {.min_region = Seconds(0)});
  const SimRun run = simulate(s, {1.0, 1.0, 2.0, 4.0}, cost);
  ASSERT_TRUE(s.finished());
  expect_exact_cover(run.accepted, 10000, 1);
  double total = 0;
  for (int x = 0; x < 10000; ++x) total += cost(x);
  const double ideal = total / 8.0;
  const double makespan = *std::max_element(run.finish.begin(), run.finish.end());
  EXPECT_LT(makespan / ideal, 1.10) << "makespan " << makespan << " ideal " << ideal;
}

TEST(RegionScheduler, AnAgentThatSlowsDownIsGivenLess) {
  RegionScheduler s(40000, 1, {.min_region = Seconds(0)});
  const auto slowdown = [](std::size_t agent, double now) { return agent == 1 && now > 2.0 ? 0.25 : 1.0; };
  const SimRun run = simulate(s, {1.0, 1.0}, [](int) { return 0.0002; }, slowdown);
  ASSERT_TRUE(s.finished());
  EXPECT_LT(s.speed(1), 0.6 * s.speed(0));
}

TEST(RegionScheduler, IdleAgentDuplicatesTheRegionExpectedToFinishLastAndTheFirstResultWins) {
  RegionScheduler s(100, 1, {.region_width = 50});
  s.add_agent(0, 1.0);
  s.add_agent(1, 0.25);  // four times slower: its region is expected to end last, at t=4
  const auto a = s.next_region(0, at(0));
  const auto b = s.next_region(1, at(0));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(s.complete(a->id, 0, at(1), Seconds(1)).accepted);
  // Agent 0 is idle at t=1 and would finish agent 1's region at t=2: it gets a copy.
  const auto dup = s.next_region(0, at(1));
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->rect, b->rect);
  EXPECT_FALSE(s.next_region(0, at(1))) << "agent 0 is busy with the duplicate";
  const auto done = s.complete(dup->id, 0, at(2), Seconds(1));
  EXPECT_TRUE(done.accepted);
  ASSERT_EQ(done.cancel.size(), 1U);
  EXPECT_EQ(done.cancel[0], (std::pair<AgentId, RegionId>{1, b->id}));
  EXPECT_FALSE(s.complete(b->id, 1, at(3), Seconds(3)).accepted) << "the slower copy is not used";
  EXPECT_TRUE(s.finished());
}

TEST(RegionScheduler, LostAgentsRegionsGoBackToTheQueue) {
  RegionScheduler s(100, 4, {.region_width = 25});
  s.add_agent(0);
  s.add_agent(1);
  const auto a = s.next_region(0, kT0);
  const auto b = s.next_region(1, kT0);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(s.remove_agent(0), 1U);
  // The lost region is handed out first, under a new id; a late result under the old id is ignored.
  const auto again = s.next_region(1, kT0);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->rect, a->rect);
  EXPECT_NE(again->id, a->id);
  EXPECT_FALSE(s.complete(a->id, 0, kT0, Seconds(1)).accepted);
  EXPECT_TRUE(s.complete(again->id, 1, kT0, Seconds(1)).accepted);
}

TEST(RegionScheduler, AResultIsAcceptedOnlyOnceAndOnlyFromItsAgent) {
  RegionScheduler s(10, 1, {.region_width = 10});
  s.add_agent(0);
  s.add_agent(1);
  const auto a = s.next_region(0, kT0);
  ASSERT_TRUE(a);
  EXPECT_FALSE(s.complete(a->id, 1, kT0, Seconds(1)).accepted);
  EXPECT_TRUE(s.complete(a->id, 0, kT0, Seconds(1)).accepted);
  EXPECT_FALSE(s.complete(a->id, 0, kT0, Seconds(1)).accepted);
  EXPECT_TRUE(s.finished());
}

TEST(RegionScheduler, FailuresAreCountedPerRegionAndRequeued) {
  RegionScheduler s(20, 1, {.region_width = 10});
  s.add_agent(0);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const auto a = s.next_region(0, kT0);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->rect.x0, 0);
    const auto failure = s.fail(a->id, 0);
    EXPECT_EQ(failure.times, attempt);
    EXPECT_EQ(failure.agents, 1);
  }
}

TEST(RegionScheduler, AFailedRegionGoesToAnotherAgentWhenThereIsOne) {
  RegionScheduler s(30, 1, {.region_width = 10});
  s.add_agent(0);
  s.add_agent(1);
  const auto a = s.next_region(0, kT0);
  ASSERT_TRUE(a);
  EXPECT_EQ(s.fail(a->id, 0).agents, 1);
  const auto next_for_0 = s.next_region(0, kT0);
  ASSERT_TRUE(next_for_0);
  EXPECT_NE(next_for_0->rect, a->rect) << "agent 0 failed it: it waits for agent 1";
  const auto for_1 = s.next_region(1, kT0);
  ASSERT_TRUE(for_1);
  EXPECT_EQ(for_1->rect, a->rect);
  const auto failure = s.fail(for_1->id, 1);
  EXPECT_EQ(failure.times, 2);
  EXPECT_EQ(failure.agents, 2);
}

TEST(RegionScheduler, RandomSpeedsCostsFailuresAndDeparturesAlwaysCompleteTheImage) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 300; ++round) {
    const int width = 1 + static_cast<int>(rng() % 900);
    SchedulerConfig config;
    config.min_region = Seconds(0);
    if (rng() % 3 == 0) config.region_width = 1 + static_cast<int>(rng() % 40);
    if (rng() % 3 == 0) config.policy = SizingPolicy::kFactoringPixels;
    RegionScheduler s(width, 3, config);
    std::vector<double> cost(static_cast<std::size_t>(width));
    for (double& c : cost) c = 0.001 + (rng() % 100) * 0.001;
    std::vector<AgentId> agents = {0, 1, 2, 3};
    for (AgentId a : agents) s.add_agent(a, (rng() % 2) ? 0.0 : 0.25 + (rng() % 16) * 0.25);
    std::vector<protocol::Rect> accepted;
    std::vector<std::pair<RegionId, AgentId>> pending;
    AgentId next_agent = 4;
    double now = 0;
    for (int step = 0; step < 100000 && !s.finished(); ++step) {
      now += 0.01;
      const AgentId agent = agents[rng() % agents.size()];
      if (auto a = s.next_region(agent, at(now))) pending.emplace_back(a->id, agent);
      if (pending.empty()) continue;
      const std::size_t pick = rng() % pending.size();
      const auto [id, who] = pending[pick];
      pending.erase(pending.begin() + static_cast<long>(pick));
      const unsigned event = rng() % 20;
      if (event == 0) {
        (void)s.fail(id, who);  // (a region failed by every agent is still handed out)
      } else if (event == 1) {
        (void)s.remove_agent(who);  // gone; a fresh agent takes its place
        std::erase(agents, who);
        agents.push_back(next_agent);
        s.add_agent(next_agent++);
      } else {
        const protocol::Rect r = s.rect_of(id);
        double work = 0;
        for (int x = r.x0; x < r.x1; ++x) work += cost[static_cast<std::size_t>(x)];
        if (s.complete(id, who, at(now), Seconds(work)).accepted) accepted.push_back(r);
      }
    }
    ASSERT_TRUE(s.finished()) << "round " << round;
    expect_exact_cover(accepted, width, 3);
  }
}

}  // namespace
}  // namespace bnr::broker
