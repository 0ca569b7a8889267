// The book of a frame's columns (a BandLayout's virtual columns): which are still free, which regions were carved from them,
// which copies of each region are queued on which agent, which are done. Pure bookkeeping: it
// decides nothing (RegionScheduler does), it only keeps the invariants:
//   - free intervals and regions never overlap, and together cover the frame;
//   - a copy belongs to one region and sits in exactly one agent's queue, in render order;
//   - a region is done at most once; its pixels count once.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "band_layout.h"
#include "messages.h"

namespace bnr::broker {

using AgentId = std::size_t;
using RegionId = std::uint64_t;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

class ColumnBook {
 public:
  struct Region {
    protocol::Rect rect;              // its pixels
    int c0 = 0, c1 = 0;               // its columns [c0, c1) in the book (the layout's)
    std::vector<RegionId> copies;     // queued or rendering, on different agents
    int failures = 0;
    std::vector<AgentId> failed_on;   // distinct agents
    bool done = false;
  };
  struct Copy {
    RegionId logical = 0;
    AgentId agent = 0;
    Seconds predicted{0};
    double predicted_work = 0;  // < 0 when nothing was known to predict from
  };
  struct Queue {
    std::deque<RegionId> copies;    // in the order the agent renders them
    Clock::time_point free_since{}; // when its current render started, roughly
    // A render the agent cannot stop, of a copy cancelled because another won, ends about
    // then: what is queued next starts after it.
    Clock::time_point busy_until{};
  };

  explicit ColumnBook(const BandLayout& layout);

  [[nodiscard]] const BandLayout& layout() const { return layout_; }

  // Free column intervals [first, end), never across a band's end.
  [[nodiscard]] const std::map<int, int>& free() const { return free_; }
  [[nodiscard]] int free_columns() const;
  // Columns [x0, x1) are all free.
  [[nodiscard]] bool is_free(int x0, int x1) const;
  // Takes columns [x0, x0 + w) out of the free interval that holds them: a new region.
  RegionId carve(int x0, int w);

  void add_agent(AgentId agent);
  // Removes the agent and its copies; returns the regions that were left with no copy.
  std::vector<RegionId> remove_agent(AgentId agent);
  [[nodiscard]] bool has_agent(AgentId agent) const { return queues_.count(agent) != 0; }
  [[nodiscard]] const std::map<AgentId, Queue>& queues() const { return queues_; }
  [[nodiscard]] const Queue& queue(AgentId agent) const { return queues_.at(agent); }
  void set_free_since(AgentId agent, Clock::time_point t);
  void set_busy_until(AgentId agent, Clock::time_point t);

  // A new copy of `logical` at the end of the agent's queue.
  RegionId add_copy(RegionId logical, AgentId agent, Seconds predicted, double predicted_work, Clock::time_point now);
  void drop_copy(RegionId copy);
  [[nodiscard]] const Copy* copy(RegionId copy) const;
  [[nodiscard]] const Region& region(RegionId logical) const { return regions_.at(logical); }
  // Regions with at least one copy out, not done.
  [[nodiscard]] const std::set<RegionId>& in_flight() const { return in_flight_; }

  // Marks the region done; false when it already was.
  bool finish(RegionId logical);
  void count_failure(RegionId logical, AgentId agent);
  // Columns [x0, x1), all free, are done without being rendered (a resumed job's spool).
  bool mark_done(int x0, int x1);

  // Regions waiting for an agent (their agent left, or their render failed), served first.
  std::deque<RegionId>& requeued() { return requeued_; }
  [[nodiscard]] const std::deque<RegionId>& requeued() const { return requeued_; }

  [[nodiscard]] std::int64_t total_pixels() const { return total_pixels_; }
  [[nodiscard]] std::int64_t done_pixels() const { return done_pixels_; }
  [[nodiscard]] std::size_t regions_done() const { return regions_done_; }

 private:
  void update_in_flight(RegionId logical);

  BandLayout layout_;
  std::map<int, int> free_;
  std::unordered_map<RegionId, Region> regions_;
  std::unordered_map<RegionId, Copy> copies_;
  std::set<RegionId> in_flight_;
  std::map<AgentId, Queue> queues_;
  std::deque<RegionId> requeued_;
  RegionId next_id_ = 1;
  std::int64_t total_pixels_;
  std::int64_t done_pixels_ = 0;
  std::size_t regions_done_ = 0;
};

}  // namespace bnr::broker
