#include "outbox.h"

#include <gtest/gtest.h>

namespace bnr::agent {
namespace {

Outbox::Item done(std::uint64_t region, std::size_t bytes) {
  return {protocol::RegionDone{"j", region}, std::string(bytes, 'p')};
}

std::uint64_t region_of(const Outbox::Item& item) { return std::get<protocol::RegionDone>(item.message).region_id; }

TEST(Outbox, UnsentResultsGoOutInOrderOnceTheBrokerIsReachable) {
  Outbox box(8, 1000);
  EXPECT_TRUE(box.push(done(1, 10)).empty());
  EXPECT_TRUE(box.push(done(2, 10)).empty());
  EXPECT_EQ(box.flush([](const Outbox::Item&) { return false; }), 0U) << "still unreachable";
  EXPECT_EQ(box.size(), 2U);
  std::vector<std::uint64_t> sent;
  EXPECT_EQ(box.flush([&](const Outbox::Item& i) {
    sent.push_back(region_of(i));
    return true;
  }),
            2U);
  EXPECT_EQ(sent, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(box.empty());
  EXPECT_EQ(box.bytes(), 0U);
}

TEST(Outbox, AFailureMidFlushKeepsThatItemAndTheRest) {
  Outbox box(8, 1000);
  for (std::uint64_t r = 1; r <= 3; ++r) (void)box.push(done(r, 1));
  int calls = 0;
  EXPECT_EQ(box.flush([&](const Outbox::Item&) { return ++calls == 1; }), 1U);
  EXPECT_EQ(box.size(), 2U);
  std::vector<std::uint64_t> left;
  (void)box.flush([&](const Outbox::Item& i) {
    left.push_back(region_of(i));
    return true;
  });
  EXPECT_EQ(left, (std::vector<std::uint64_t>{2, 3}));
}

TEST(Outbox, BeyondItsBoundsTheOldestAreDroppedAndReturned) {
  Outbox box(2, 100);
  (void)box.push(done(1, 10));
  (void)box.push(done(2, 10));
  std::vector<Outbox::Item> dropped = box.push(done(3, 10));
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_EQ(region_of(dropped[0]), 1U);
  dropped = box.push(done(4, 95));  // over the byte bound: 2 and 3 make room
  ASSERT_EQ(dropped.size(), 2U);
  EXPECT_EQ(box.size(), 1U);
  EXPECT_EQ(box.bytes(), 95U);
  dropped = box.push(done(5, 500));  // larger than the bound alone: kept, the older one goes
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_EQ(box.size(), 1U);
  EXPECT_EQ(box.bytes(), 500U);
}

}  // namespace
}  // namespace bnr::agent
