#include "region_scheduler.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace bnr::broker {
namespace {

const Clock::time_point kT0{};

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

TEST(RegionScheduler, FixedWidthRegionsCoverTheFrameOnce) {
  RegionScheduler s(101, 7, {.region_width = 10});
  s.add_agent(0);
  std::vector<protocol::Rect> accepted;
  while (auto a = s.next_region(0, kT0)) {
    EXPECT_LE(a->rect.width(), 10);
    EXPECT_EQ(s.complete(a->id, 0, kT0), RegionScheduler::Completion::kAccepted);
    accepted.push_back(a->rect);
  }
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(accepted.size(), 11U);
  expect_exact_cover(accepted, 101, 7);
}

TEST(RegionScheduler, AdaptiveRegionsShrinkTowardsTheEnd) {
  RegionScheduler s(4096, 10, {});
  s.add_agent(0);
  s.add_agent(1);
  std::vector<int> widths;
  while (auto a = s.next_region(widths.size() % 2, kT0)) {
    widths.push_back(a->rect.width());
    (void)s.complete(a->id, widths.size() % 2 == 1 ? 0 : 1, kT0);
  }
  ASSERT_GT(widths.size(), 8U);
  EXPECT_GT(widths.front(), widths.back());
  EXPECT_GE(widths.back(), 16);
  EXPECT_LE(widths.front(), 256);
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
  EXPECT_EQ(s.complete(a->id, 0, kT0), RegionScheduler::Completion::kUnknown);
  EXPECT_EQ(s.complete(again->id, 1, kT0), RegionScheduler::Completion::kAccepted);
}

TEST(RegionScheduler, AResultIsAcceptedOnlyOnceAndOnlyFromItsAgent) {
  RegionScheduler s(10, 1, {.region_width = 10});
  s.add_agent(0);
  s.add_agent(1);
  const auto a = s.next_region(0, kT0);
  ASSERT_TRUE(a);
  EXPECT_EQ(s.complete(a->id, 1, kT0), RegionScheduler::Completion::kUnknown);
  EXPECT_EQ(s.complete(a->id, 0, kT0), RegionScheduler::Completion::kAccepted);
  EXPECT_EQ(s.complete(a->id, 0, kT0), RegionScheduler::Completion::kUnknown);
  EXPECT_TRUE(s.finished());
}

TEST(RegionScheduler, FailuresAreCountedPerRegionAndRequeued) {
  RegionScheduler s(20, 1, {.region_width = 10});
  s.add_agent(0);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const auto a = s.next_region(0, kT0);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->rect.x0, 0);
    EXPECT_EQ(s.fail(a->id, 0), attempt);
  }
}

TEST(RegionScheduler, RandomFailuresAndDeparturesStillCompleteTheImage) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 200; ++round) {
    const int width = 1 + static_cast<int>(rng() % 900);
    RegionScheduler s(width, 3, {.region_width = static_cast<int>(rng() % 3) == 0 ? 1 + static_cast<int>(rng() % 40) : 0});
    std::vector<AgentId> agents = {0, 1, 2, 3};
    for (AgentId a : agents) s.add_agent(a);
    std::vector<protocol::Rect> accepted;
    std::vector<std::pair<RegionId, AgentId>> pending;
    AgentId next_agent = 4;
    for (int step = 0; step < 100000 && !s.finished(); ++step) {
      const AgentId agent = agents[rng() % agents.size()];
      if (auto a = s.next_region(agent, kT0)) pending.emplace_back(a->id, agent);
      if (pending.empty()) continue;
      const std::size_t pick = rng() % pending.size();
      const auto [id, who] = pending[pick];
      pending.erase(pending.begin() + static_cast<long>(pick));
      const unsigned event = rng() % 20;
      if (event == 0) {
        (void)s.fail(id, who);
      } else if (event == 1) {
        (void)s.remove_agent(who);  // gone; a fresh agent takes its place
        std::erase(agents, who);
        agents.push_back(next_agent);
        s.add_agent(next_agent++);
      } else {
        const protocol::Rect r = s.rect_of(id);
        if (s.complete(id, who, kT0) == RegionScheduler::Completion::kAccepted) accepted.push_back(r);
      }
    }
    ASSERT_TRUE(s.finished()) << "round " << round;
    expect_exact_cover(accepted, width, 3);
  }
}

}  // namespace
}  // namespace bnr::broker
