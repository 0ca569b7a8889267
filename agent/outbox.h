// Messages for the broker that could not be sent (its connection was down, or its queue full):
// kept in order and sent again once the broker is heard from, so a result finished during a
// link drop is not lost. Bounded in count and bytes; what falls out is returned for the
// caller to report. Pure: the sending is a function passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "messages.h"

namespace bnr::agent {

class Outbox {
 public:
  struct Item {
    protocol::Message message;
    std::string bulk;
  };
  Outbox(std::size_t max_items, std::uint64_t max_bytes) : max_items_(max_items), max_bytes_(max_bytes) {}

  // Queues `item` behind the others. Returns the oldest items dropped to stay within the
  // bounds (never `item` itself, even when it alone is larger than max_bytes).
  [[nodiscard]] std::vector<Item> push(Item item);
  // Sends the items in order with `send` (false: could not) and stops at the first failure,
  // keeping that one and those after it. Returns how many were sent.
  std::size_t flush(const std::function<bool(const Item&)>& send);

  [[nodiscard]] bool empty() const { return items_.empty(); }
  [[nodiscard]] std::size_t size() const { return items_.size(); }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }

 private:
  std::size_t max_items_;
  std::uint64_t max_bytes_;
  std::deque<Item> items_;
  std::uint64_t bytes_ = 0;
};

}  // namespace bnr::agent
