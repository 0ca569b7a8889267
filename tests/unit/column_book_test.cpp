#include "column_book.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(ColumnBook, CarvingSplitsTheFreeIntervalAndMakesAFullHeightRegion) {
  ColumnBook book(BandLayout(100, 7));
  const RegionId r = book.carve(20, 10);
  EXPECT_EQ(book.region(r).rect, (protocol::Rect{20, 0, 30, 7}));
  EXPECT_EQ(book.free_columns(), 90);
  EXPECT_TRUE(book.is_free(0, 20));
  EXPECT_FALSE(book.is_free(15, 25));
  EXPECT_TRUE(book.is_free(30, 100));
}

TEST(ColumnBook, CopiesQueueInOrderAndARegionIsFinishedOnce) {
  ColumnBook book(BandLayout(100, 1));
  book.add_agent(0);
  book.add_agent(1);
  const RegionId r = book.carve(0, 10);
  const RegionId a = book.add_copy(r, 0, Seconds(1), 10, Clock::time_point{});
  const RegionId b = book.add_copy(r, 1, Seconds(1), 10, Clock::time_point{});
  EXPECT_EQ(book.in_flight().count(r), 1U);
  EXPECT_EQ(book.queue(0).copies.front(), a);
  EXPECT_TRUE(book.finish(r));
  EXPECT_FALSE(book.finish(r));
  EXPECT_EQ(book.done_pixels(), 10);
  EXPECT_EQ(book.in_flight().count(r), 0U);
  book.drop_copy(b);
  EXPECT_TRUE(book.queue(1).copies.empty());
}

TEST(ColumnBook, ACopyQueuedBehindACancelledRenderStartsWhenThatRenderEnds) {
  // The agent renders a cancelled copy to its end: what it gets next starts after it.
  ColumnBook book(BandLayout(100, 1));
  book.add_agent(0);
  const Clock::time_point now{};
  book.set_busy_until(0, now + std::chrono::seconds(30));
  book.add_copy(book.carve(0, 10), 0, Seconds(1), 10, now);
  EXPECT_EQ(book.queue(0).free_since, now + std::chrono::seconds(30));
  // Once that render is over, a new copy starts when it is handed out.
  book.drop_copy(book.queue(0).copies.front());
  book.add_copy(book.carve(10, 10), 0, Seconds(1), 10, now + std::chrono::seconds(40));
  EXPECT_EQ(book.queue(0).free_since, now + std::chrono::seconds(40));
}

TEST(ColumnBook, RemovingAnAgentOrphansOnlyRegionsWithNoOtherCopy) {
  ColumnBook book(BandLayout(100, 1));
  book.add_agent(0);
  book.add_agent(1);
  const RegionId shared = book.carve(0, 10);
  const RegionId alone = book.carve(10, 10);
  (void)book.add_copy(shared, 0, Seconds(1), 1, Clock::time_point{});
  (void)book.add_copy(shared, 1, Seconds(1), 1, Clock::time_point{});
  (void)book.add_copy(alone, 0, Seconds(1), 1, Clock::time_point{});
  EXPECT_EQ(book.remove_agent(0), std::vector<RegionId>{alone});
  EXPECT_FALSE(book.has_agent(0));
}

TEST(ColumnBook, MarkDoneTakesOnlyFreeColumns) {
  ColumnBook book(BandLayout(100, 2));
  EXPECT_TRUE(book.mark_done(40, 50));
  EXPECT_FALSE(book.mark_done(45, 55));
  EXPECT_FALSE(book.mark_done(-1, 5));
  EXPECT_EQ(book.done_pixels(), 20);
  EXPECT_EQ(book.regions_done(), 0U);
}

}  // namespace
}  // namespace bnr::broker
