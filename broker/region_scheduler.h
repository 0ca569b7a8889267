// Which region an agent renders next. Pure: no sockets, no clock reads; time comes in as an
// argument. Regions are full-height column ranges of the frame, carved from the columns still
// free when an agent asks, so their widths can follow how much work is left.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "messages.h"

namespace bnr::broker {

using AgentId = std::size_t;
using RegionId = std::uint64_t;
using Clock = std::chrono::steady_clock;

struct SchedulerConfig {
  int region_width = 0;   // > 0: every region this wide (the last may be narrower)
  int min_width = 16;     // adaptive widths never go below this (except the frame's last columns)
  int max_width = 256;
  // Adaptive width = remaining columns / (agents * chunks_per_agent): wide early, narrow at the
  // end, so the last regions finish close together (guided self-scheduling).
  double chunks_per_agent = 2.0;
};

struct Assignment {
  RegionId id = 0;
  protocol::Rect rect;  // the pixels this region contributes (no margin)
};

class RegionScheduler {
 public:
  RegionScheduler(int width, int height, SchedulerConfig config);

  void add_agent(AgentId agent);
  // The agent is gone: its in-flight regions go back to the queue. Returns how many.
  std::size_t remove_agent(AgentId agent);

  // The next region for `agent`, or nullopt when nothing is left to hand out.
  [[nodiscard]] std::optional<Assignment> next_region(AgentId agent, Clock::time_point now);

  enum class Completion { kAccepted, kUnknown };
  // kAccepted exactly once per region; a result for a region this agent does not hold
  // (already re-queued, unknown id) is kUnknown and must be discarded.
  Completion complete(RegionId region, AgentId agent, Clock::time_point now);
  // The render failed: the region goes back to the queue. Returns its failure count so far.
  int fail(RegionId region, AgentId agent);

  [[nodiscard]] bool finished() const { return done_pixels_ == total_pixels_; }
  [[nodiscard]] double fraction_done() const {
    return total_pixels_ == 0 ? 1.0 : static_cast<double>(done_pixels_) / static_cast<double>(total_pixels_);
  }
  [[nodiscard]] std::size_t in_flight(AgentId agent) const;
  [[nodiscard]] std::size_t regions_done() const { return regions_done_; }
  [[nodiscard]] protocol::Rect rect_of(RegionId region) const;

 private:
  struct InFlight {
    protocol::Rect rect;
    AgentId agent = 0;
    Clock::time_point started;
  };
  [[nodiscard]] int next_width() const;

  int width_;
  int height_;
  SchedulerConfig config_;
  std::vector<AgentId> agents_;
  int next_free_column_ = 0;                   // columns [next_free_column_, width_) are untouched
  std::deque<protocol::Rect> requeued_;        // failed or orphaned regions, served first
  std::map<RegionId, InFlight> in_flight_;
  std::map<std::int32_t, int> failures_;       // by the region's first column
  RegionId next_id_ = 1;
  std::int64_t total_pixels_;
  std::int64_t done_pixels_ = 0;
  std::size_t regions_done_ = 0;
};

}  // namespace bnr::broker
