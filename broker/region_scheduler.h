// Which region an agent renders next. Pure: no sockets, no clock reads; time comes in as an
// argument, so tests and the simulator drive it with a fake clock.
//
// Regions are full-height column ranges carved from the columns still free when an agent
// asks. Policy kPredictedSeconds first hands out small probe regions spread evenly over the
// frame, one at a time per agent and narrower for slower agents, so the cost of every part of
// it is roughly known early; then it sizes each region so that it should take about 1/k of the
// time the agent has left before the frame should end: wide early, short at the end, so all
// agents finish together. That end is found by water filling: the time at which the agents,
// each starting from the end of its own queue, would together finish the work not yet handed
// out (an agent busy beyond it takes no part). Columns not yet measured are predicted from the
// costlier of their nearest measured neighbours (for the frame's end, from their mean, which is
// not biased). Sizing is in predicted seconds, not pixels,
// because render cost clusters in space (a hot band of glass costs 20x a column of sky).
// Predictions come from two things learned online from finished regions:
//   - a cost map: work per column, in "reference seconds" (seconds on a speed-1 agent), each
//     region's time x its agent's speed;
//   - each agent's speed. Regions side by side cost about the same per column, so when two
//     agents rendered them, their times compare the two speeds. A robust least-squares fit of
//     all such comparisons, leaning lightly on the hints, gives every speed at once; an agent
//     keeps its hint until two comparisons agree (one may straddle a cost edge). An agent whose
//     newest region disagrees with its speed is believed at once if it got slower (predictions
//     use the lower speed, down to half), and starts a new speed regime when the next region
//     agrees or both neighbours of one say so.
// An agent with work queued gets no more when even one column would end it well after the
// others. A region queued behind another agent's render and expected to end clearly after the
// rest moves to an agent that would finish it sooner (Assignment::revoke). When nothing is left
// to hand out, an idle agent gets a copy of the in-flight region expected to finish last, if it
// would finish it sooner, by 1% of the job's time so far for a region already rendering (whose
// agent's time on it is then lost); the first result wins. retry_after says when an idle agent
// that was refused should ask again.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <utility>
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
  double chunks_per_agent = 8.0;    // k of factoring: each region is 1/k of an agent's time left
  Seconds min_region{0.5};          // keeps per-region overhead small against render time
  bool duplicate_tail = true;
  int probes = 16;                  // kPredictedSeconds without a cost prior: spread probes
  double probe_share = 0.02;        // of the frame's columns, all probes together
};

struct Assignment {
  RegionId id = 0;              // this copy's id; a duplicate gets its own
  protocol::Rect rect;          // the pixels this region contributes (no margin)
  bool duplicate = false;
  Seconds predicted{0};         // expected render time on the agent that got it
  // A copy queued (not yet started, as far as the scheduler knows) on another agent that this
  // assignment replaces: tell that agent to drop it. Its result, should it come anyway, is not
  // accepted.
  std::optional<std::pair<AgentId, RegionId>> revoke;
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

  // The next region for `agent`, or nullopt when there is nothing useful for it to do. When
  // the assignment has `revoke`, the region was taken from the queue of the agent named there:
  // the caller cancels that copy on that agent and may then offer that agent work again.
  [[nodiscard]] std::optional<Assignment> next_region(AgentId agent, Clock::time_point now);
  // After next_region refused an idle agent: when asking again may give it a copy of a region
  // running late, if nothing else happens before (no result, no failure, no agent lost).
  // nullopt when only such an event can change the answer.
  [[nodiscard]] std::optional<Clock::time_point> retry_after(AgentId agent, Clock::time_point now) const;

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
    double speed = 1.0;                 // reference seconds of work per second, this regime
    bool observed = false;              // `speed` rests on measurements, not only on a hint
    int regime = 0;                     // measurements at one speed share a regime
    double pending = 0;                 // log ratio of an unconfirmed far-off observation (0 = none)
    std::size_t pending_measurement = 0;
    double caution = 1.0;               // < 1 while an observed slowdown waits to be confirmed
    std::deque<RegionId> queue;         // copies in the order the agent renders them
    Clock::time_point free_since{};     // when its current render started, roughly
    // The speed predictions use: an unconfirmed slowdown is believed at once, a speed-up not.
    [[nodiscard]] double predicting() const { return speed * caution; }
  };
  struct Regime {
    AgentId agent = 0;
    double prior = 0;         // log speed before any measurement (the hint)
    double log_speed = 0;     // solved
    double linked = 0;        // total weight of the comparisons it takes part in
  };
  struct Measurement {
    int x0 = 0, x1 = 0;
    AgentId agent = 0;
    int regime = 0;
    double seconds = 0;
  };
  struct Comparison {
    std::size_t left = 0, right = 0;  // measurements side by side, of different regimes
    double weight = 1.0;
  };

  [[nodiscard]] double predicted_cost(int x) const { return estimate_[static_cast<std::size_t>(x)]; }
  void refresh_estimate();
  void recost();
  // Takes columns [x0, x0 + w) out of the free interval starting at x0.
  RegionId carve(int x0, int w);
  [[nodiscard]] double predicted_work(int x0, int x1) const;
  [[nodiscard]] double total_speed() const;
  [[nodiscard]] double free_work() const;
  [[nodiscard]] Clock::time_point queue_end(const Agent& agent, Clock::time_point now) const;
  [[nodiscard]] Clock::time_point fill_end(Clock::time_point now) const;
  [[nodiscard]] int next_width(const Agent& agent, int x0, int x1, Clock::time_point now) const;
  [[nodiscard]] Clock::time_point expected_finish(RegionId copy, Clock::time_point now) const;
  struct Pick {
    RegionId logical = 0;
    std::optional<RegionId> queued;  // a copy not yet started elsewhere, moved rather than copied
  };
  [[nodiscard]] std::optional<Pick> best_copy(AgentId agent, Clock::time_point now, bool tail) const;
  std::optional<Assignment> copy_for(AgentId agent, Clock::time_point now, bool tail);
  Assignment hand_out(AgentId agent, RegionId logical, bool duplicate, Clock::time_point now);
  // `predicted_work`: what the region was expected to cost when handed out (< 0: unknown).
  void learn(AgentId agent, const protocol::Rect& rect, Seconds render_time, double predicted_work);
  [[nodiscard]] std::vector<Comparison> comparisons() const;
  void solve_speeds();
  void check_regime(AgentId agent, std::size_t measurement, double predicted_work);
  int new_regime(AgentId agent, double log_speed);
  void drop_copy(RegionId copy);

  int width_;
  int height_;
  SchedulerConfig config_;
  std::map<AgentId, Agent> agents_;
  std::vector<double> cost_;        // learned work per column; < 0 = unknown
  std::vector<double> prior_;       // from a profile, empty if none
  std::vector<double> estimate_;    // predicted work per column; < 0 = nothing to go by
  std::vector<double> prefix_;      // prefix_[x] = sum of max(estimate, 0) over columns [0, x)
  std::vector<int> unknown_;        // unknown_[x] = columns in [0, x) with no estimate
  std::vector<double> likely_prefix_;  // the same with the mean of both sides, not the costlier
  std::vector<char> barrier_;       // columns of probes handed out but not yet measured
  std::vector<char> uncertain_;     // the estimate reaches across such a probe
  int probe_width_ = 1;
  std::vector<Measurement> measured_;
  std::map<int, std::size_t> measured_at_;  // first column -> index into measured_
  std::map<int, Regime> regimes_;
  std::map<int, int> free_;         // free column intervals [first, end)
  std::deque<std::pair<int, int>> probes_;  // planned probe regions [x0, x1), in hand-out order
  double prior_scale_ = 1.0;        // learned / prior units
  std::deque<RegionId> requeued_;   // logical regions waiting for an agent, served first
  std::map<RegionId, Region> regions_;
  std::map<RegionId, Copy> copies_;
  RegionId next_id_ = 1;
  Clock::time_point started_ = Clock::time_point::max();  // the first request for a region
  std::int64_t total_pixels_;
  std::int64_t done_pixels_ = 0;
  std::size_t regions_done_ = 0;
};

}  // namespace bnr::broker
