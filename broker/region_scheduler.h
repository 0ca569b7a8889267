// Which region an agent renders next. Pure: no sockets, no clock reads; time comes in as an
// argument, so tests and the simulator drive it with a fake clock.
//
// Regions are full-height column ranges carved from the columns still free when an agent
// asks. Policy kPredictedSeconds first hands out small probe regions spread evenly over the
// frame, so the cost of every part of it is roughly known early; then it sizes each region so
// that it should take about `remaining predicted time / chunks_per_agent` on the agent that
// takes it: wide early, short at the end, so all agents finish together. Columns not yet
// measured are predicted from the costlier of their nearest measured neighbours. Sizing is in predicted
// seconds, not pixels, because render cost clusters in space (a hot band of glass costs 20x a
// column of sky). Predictions come from two things learned online from finished regions:
//   - a cost map: work per column, in "reference seconds" (seconds on a speed-1 agent);
//   - each agent's speed, corrected by how its render times compare with the predictions
//     relative to the other agents (an agent that slows down mid-job gets less).
// When nothing is left to hand out, an idle agent gets a duplicate of the in-flight region
// expected to finish last, if it would finish it sooner; the first result wins.
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
using Seconds = std::chrono::duration<double>;

enum class SizingPolicy {
  kPredictedSeconds,  // ours: weighted factoring in predicted seconds
  kFactoringPixels,   // guided self-scheduling in columns: remaining / (k * agents)
  kFixedWidth,        // equal regions of region_width columns, in order
};

struct SchedulerConfig {
  SizingPolicy policy = SizingPolicy::kPredictedSeconds;
  int region_width = 0;             // kFixedWidth: columns per region (0 = kPredictedSeconds)
  int min_width = 1;                // no region narrower (except the frame's last columns)
  int max_width = 1 << 16;
  double chunks_per_agent = 4.0;    // k of factoring: each region is 1/k of an agent's time left
  Seconds min_region{0.5};          // keeps per-region overhead small against render time
  bool duplicate_tail = true;
  int probes = 16;                  // kPredictedSeconds without a cost prior: spread probes
  double probe_share = 0.08;        // of the frame's columns, all probes together
};

struct Assignment {
  RegionId id = 0;              // this copy's id; a duplicate gets its own
  protocol::Rect rect;          // the pixels this region contributes (no margin)
  bool duplicate = false;
  Seconds predicted{0};         // expected render time on the agent that got it
};

class RegionScheduler {
 public:
  RegionScheduler(int width, int height, SchedulerConfig config);

  // `speed_hint`: the agent's speed from a saved profile (reference seconds of work per
  // second), 0 when unknown (then it starts at the median of the known agents, or 1).
  void add_agent(AgentId agent, double speed_hint = 0.0);
  // The agent is gone: its in-flight regions go back to the queue (unless another copy is
  // still running). Returns how many went back.
  std::size_t remove_agent(AgentId agent);

  // Work per column (any length; resampled), e.g. from a previous render of the same scene.
  void set_cost_prior(const std::vector<double>& cost_per_column);

  // Columns [x0, x1) are already rendered (a resumed job's spool): they are never handed out
  // and count as done, but not in regions_done(). False, and no change, when the range is
  // invalid or any of its columns was handed out or marked before.
  bool mark_done(int x0, int x1);

  // The next region for `agent`, or nullopt when there is nothing useful for it to do.
  [[nodiscard]] std::optional<Assignment> next_region(AgentId agent, Clock::time_point now);

  struct Completion {
    bool accepted = false;                               // first result for its pixels
    std::vector<std::pair<AgentId, RegionId>> cancel;    // other copies, now useless
  };
  // Results of copies that were cancelled, or of agents that were removed, are not accepted.
  // A copy finished; `render_time` is the time spent inside the renderer. Accepted exactly
  // once per region; results of unknown or cancelled copies are not accepted.
  Completion complete(RegionId region, AgentId agent, Clock::time_point now, Seconds render_time);
  struct Failure {
    int times = 0;   // failures of this region so far
    int agents = 0;  // on how many different agents
  };
  // The render failed: unless another copy is running, the region goes back to the queue, for
  // an agent that has not failed it when there is one.
  Failure fail(RegionId region, AgentId agent);

  [[nodiscard]] bool finished() const { return done_pixels_ == total_pixels_; }
  [[nodiscard]] double fraction_done() const {
    return total_pixels_ == 0 ? 1.0 : static_cast<double>(done_pixels_) / static_cast<double>(total_pixels_);
  }
  [[nodiscard]] std::size_t in_flight(AgentId agent) const;
  [[nodiscard]] std::size_t regions_done() const { return regions_done_; }
  [[nodiscard]] protocol::Rect rect_of(RegionId region) const;
  [[nodiscard]] double speed(AgentId agent) const;
  // The learned cost map (work per column), e.g. to save with the scene's profile.
  [[nodiscard]] const std::vector<double>& cost_per_column() const { return cost_; }
  // Predicted remaining time of the whole frame at the agents' current speeds.
  [[nodiscard]] Seconds predicted_remaining() const;

 private:
  struct Copy {
    RegionId logical = 0;
    AgentId agent = 0;
    Seconds predicted{0};
    double predicted_work = 0;  // < 0 when nothing was known to predict from
  };
  struct Region {
    protocol::Rect rect;
    std::vector<RegionId> copies;
    int failures = 0;
    std::vector<AgentId> failed_on;  // distinct agents
    bool done = false;
  };
  struct Agent {
    double speed = 1.0;                 // reference seconds of work per second
    std::deque<double> recent;          // recent speed observations, for a median
    bool off_last = false;              // the latest observation was far from `speed`
    std::deque<RegionId> queue;         // copies in the order the agent renders them
    Clock::time_point free_since{};     // when its current render started, roughly
  };

  [[nodiscard]] double predicted_cost(int x) const { return estimate_[static_cast<std::size_t>(x)]; }
  void refresh_estimate();
  // Takes columns [x0, x0 + w) out of the free interval starting at x0.
  RegionId carve(int x0, int w);
  [[nodiscard]] double predicted_work(int x0, int x1) const;
  [[nodiscard]] double total_speed() const;
  [[nodiscard]] int next_width(const Agent& agent, int x0, int x1, Clock::time_point now) const;
  [[nodiscard]] Clock::time_point expected_finish(RegionId copy, Clock::time_point now) const;
  std::optional<Assignment> duplicate_for(AgentId agent, Clock::time_point now);
  Assignment hand_out(AgentId agent, RegionId logical, bool duplicate, Clock::time_point now);
  void learn(const Copy& copy, const protocol::Rect& rect, Seconds render_time);
  void drop_copy(RegionId copy);

  int width_;
  int height_;
  SchedulerConfig config_;
  std::map<AgentId, Agent> agents_;
  std::vector<double> cost_;        // learned work per column; < 0 = unknown
  std::vector<double> prior_;       // from a profile, empty if none
  std::vector<double> estimate_;    // predicted work per column; < 0 = nothing to go by
  std::vector<char> barrier_;       // columns of probes handed out but not yet measured
  std::vector<char> uncertain_;     // the estimate reaches across such a probe
  int probe_width_ = 1;
  struct Measurement { int x0, x1; AgentId agent; double seconds; bool confirmed; };
  std::vector<Measurement> measured_;
  std::map<int, int> free_;         // free column intervals [first, end)
  std::deque<std::pair<int, int>> probes_;  // planned probe regions [x0, x1), in hand-out order
  double prior_scale_ = 1.0;        // learned / prior units
  std::deque<RegionId> requeued_;   // logical regions waiting for an agent, served first
  std::map<RegionId, Region> regions_;
  std::map<RegionId, Copy> copies_;
  RegionId next_id_ = 1;
  std::int64_t total_pixels_;
  std::int64_t done_pixels_ = 0;
  std::size_t regions_done_ = 0;
};

}  // namespace bnr::broker
