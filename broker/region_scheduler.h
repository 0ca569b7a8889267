// Which region an agent renders next. Pure: no sockets, no clock reads; time comes in as an
// argument, so tests and the simulator drive it with a fake clock.
//
// Regions are column ranges carved from the columns still free when an agent asks, each
// rendered with `margin` overlap columns on both sides: full-height columns, or with `bands`
// the columns of horizontal bands (BandLayout), each band's columns one after the other, so
// a region is a rectangle rendered with `margin` rows above and below too. The pieces:
//   - ColumnBook: free columns, regions, the copies queued on each agent;
//   - CostMap: work per column, learned from finished regions, margins counted as work;
//   - SpeedModel: each agent's speed, fitted from neighbouring regions;
//   - SizingPolicy: how wide a region is (predicted seconds, factoring in pixels, fixed).
// This class decides with them. With a predicting policy it first hands out small probe
// regions spread evenly over the frame, one at a time per agent and narrower for slower
// agents, then sizes each region in predicted seconds against the time the agent has left
// before the frame should end. That end is found by water filling: the time at which the
// agents, each starting from the end of its own queue, would together finish the work not yet
// handed out (an agent busy beyond it takes no part).
// With margins, regions are fewer and larger where the cost is settled (see SizingPolicy).
// Columns no band has measured yet (a hot band may hide there) go out in small amounts, to
// the fastest agents most, so no slow agent runs blind into a costly part for long.
// A render running at twice its prediction or more bounds its columns' cost from below (3/2 of
// what it has taken so far, as its expected end): the columns beside it, and the same columns
// in other bands, are then sized from that, not from the cheap cost it was sized from (a hot
// spot it ran into).
// An agent does not take a region whose overshoot past the frame's predicted end would cost
// more than leaving it idle (its share of the speed); an idle agent is refused so only when
// another would finish that region sooner, and asks again when the next render ends. A region
// queued behind another agent's render and expected to end clearly
// after the rest moves to an agent that would finish it sooner (Assignment::revoke). When
// nothing is left to hand out, an idle agent gets a copy of the in-flight region expected to
// finish last, if it would finish it sooner, by 1% of the job's time so far for a region
// already rendering (whose agent's time on it is then lost); the first result wins. A losing
// copy that was rendering keeps its agent busy to its end (Blender cannot stop cheaply): the
// agent's next region is predicted to start after it.
// retry_after says when an idle agent that was refused should ask again.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "column_book.h"
#include "cost_map.h"
#include "messages.h"
#include "sizing_policy.h"
#include "speed_model.h"

namespace bnr::broker {

struct SchedulerConfig {
  SizingKind sizing = SizingKind::kPredictedSeconds;
  int region_width = 0;             // kFixedWidth: columns per region (> 0 selects kFixedWidth)
  int margin = 0;                   // overlap columns rendered on each side of every region
  int bands = 1;                    // horizontal bands (BandLayout); 0 = 1 here, JobSession chooses
  int min_width = 1;                // no region narrower (except the frame's last columns)
  int max_width = 1 << 16;
  double chunks_per_agent = 8.0;    // k of factoring: each region is 1/k of an agent's time left
  Seconds min_region{0.5};          // keeps per-region overhead small against render time
  // How far off its prediction the last region of an agent may end, as a share of its time:
  // what region sizing weighs against margin overdraw.
  double tail_error = 0.1;
  bool duplicate_tail = true;
  int probes = 16;                  // predicting policy without a cost prior: spread probes
                                    // (x bands / 2 with bands, as far as margins afford them)
  double probe_share = 0.02;        // of the frame's columns, all probes together
};

struct Assignment {
  RegionId id = 0;              // this copy's id; a duplicate gets its own
  protocol::Rect rect;          // the pixels this region contributes (no margin)
  bool duplicate = false;
  Seconds predicted{0};         // expected render time on the agent that got it, margins included
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

  // Work per frame column, full height (any length; resampled), e.g. from a previous render of
  // the same scene.
  void set_cost_prior(const std::vector<double>& cost_per_column);

  // The pixels of `core` are already rendered (a resumed job's spool): they are never handed
  // out and count as done, but not in regions_done(). False, and no change, when `core` is not
  // made of whole bands' rows, or any of its pixels was handed out or marked before.
  bool mark_done(const protocol::Rect& core);

  // The next region for `agent`, or nullopt when there is nothing useful for it to do. When
  // the assignment has `revoke`, the region was taken from the queue of the agent named there:
  // the caller cancels that copy on that agent and may then offer that agent work again.
  [[nodiscard]] std::optional<Assignment> next_region(AgentId agent, Clock::time_point now);
  // After next_region refused an idle agent: when asking again may give it work, if nothing
  // else happens before (no result, no failure, no agent lost). With columns still free (a
  // predicting policy held it back), the expected end of the next render elsewhere, when
  // what is measured changes; with none, when a region running late becomes worth copying.
  // nullopt when only such an event can change the answer.
  [[nodiscard]] std::optional<Clock::time_point> retry_after(AgentId agent, Clock::time_point now) const;

  struct Completion {
    bool accepted = false;                               // first result for its pixels
    std::vector<std::pair<AgentId, RegionId>> cancel;    // other copies, now useless
  };
  // A copy finished; `render_time` is the time spent inside the renderer (margins included).
  // Accepted exactly once per region; results of unknown or cancelled copies, or of agents
  // that were removed, are not accepted.
  Completion complete(RegionId region, AgentId agent, Clock::time_point now, Seconds render_time);
  struct Failure {
    int times = 0;   // failures of this region so far
    int agents = 0;  // on how many different agents
  };
  // The render failed: unless another copy is running, the region goes back to the queue, for
  // an agent that has not failed it when there is one.
  Failure fail(RegionId region, AgentId agent);

  [[nodiscard]] bool finished() const { return book_.done_pixels() == book_.total_pixels(); }
  [[nodiscard]] double fraction_done() const;
  [[nodiscard]] std::size_t in_flight(AgentId agent) const;
  [[nodiscard]] std::size_t regions_done() const { return book_.regions_done(); }
  [[nodiscard]] protocol::Rect rect_of(RegionId region) const;
  [[nodiscard]] double speed(AgentId agent) const { return speeds_.speed(agent); }
  // The learned cost map (work per frame column, full height; < 0 where not measured), e.g. to
  // save with the scene's profile.
  [[nodiscard]] std::vector<double> cost_per_column() const { return book_.layout().fold(cost_.learned()); }
  [[nodiscard]] int bands() const { return book_.layout().bands(); }
  // A cost prior was set and the measurements contradicted it, so it is no longer used.
  [[nodiscard]] bool dropped_prior() const { return dropped_prior_; }
  // Predicted remaining time of the whole frame at the agents' current speeds.
  [[nodiscard]] Seconds predicted_remaining() const;
  // Pixels rendered by accepted regions, margins included, against the pixels they kept: 1.0
  // means no overdraw (no margins, or a single region).
  [[nodiscard]] double overdraw() const;

 private:
  struct Pick {
    RegionId logical = 0;
    std::optional<RegionId> queued;  // a copy not yet started elsewhere, moved rather than copied
  };

  [[nodiscard]] double free_work() const;
  [[nodiscard]] Clock::time_point queue_end(AgentId agent, Clock::time_point now) const;
  [[nodiscard]] Clock::time_point fill_end(Clock::time_point now) const;
  // `end`: the frame's predicted end (fill_end), which predicting policies size against.
  [[nodiscard]] int next_width(AgentId agent, int x0, int x1, Clock::time_point now, Clock::time_point end) const;
  [[nodiscard]] Clock::time_point expected_finish(RegionId copy, Clock::time_point now) const;
  // When a queued render ends if the one before it ends at `t`.
  [[nodiscard]] Clock::time_point finish_after(Clock::time_point t, AgentId agent, RegionId copy, bool first,
                                               Clock::time_point now) const;
  struct CopyFinish {
    RegionId logical = 0;
    AgentId owner = 0;
    Clock::time_point finish{};
    bool rendering = false;
  };
  // Every copy in flight with its expected finish, by region: one walk over the queues.
  [[nodiscard]] std::vector<CopyFinish> copy_finishes(Clock::time_point now) const;
  [[nodiscard]] Seconds predicted_seconds(AgentId agent, const ColumnBook::Region& region, Seconds fallback) const;
  [[nodiscard]] std::optional<Clock::time_point> next_render_end(AgentId agent, Clock::time_point now) const;
  [[nodiscard]] std::optional<Pick> best_copy(AgentId agent, Clock::time_point now, bool tail) const;
  static Clock::duration ticks(Seconds s) { return std::chrono::duration_cast<Clock::duration>(s); }
  std::optional<Assignment> requeued_for(AgentId agent, Clock::time_point now);
  std::optional<Assignment> probe_for(AgentId agent, Clock::time_point now);
  std::optional<Assignment> fresh_for(AgentId agent, Clock::time_point now);
  std::optional<Assignment> copy_for(AgentId agent, Clock::time_point now, bool tail);
  [[nodiscard]] bool blind_in_flight(AgentId agent) const;
  [[nodiscard]] bool holds_back(AgentId agent, int x0, int x1, Clock::time_point now, Clock::time_point end) const;
  Assignment hand_out(AgentId agent, RegionId logical, bool duplicate, Clock::time_point now);
  void learn(AgentId agent, const ColumnBook::Region& region, Seconds render_time, double predicted_work);
  // The measurements contradict the cost prior (see learn).
  [[nodiscard]] bool prior_is_stale(const std::vector<SpeedModel::Sample>& samples) const;
  // Renders running well past their prediction bound their columns' cost from below (see
  // CostMap::set_lower_bounds); refreshes the map when a bound is new or has grown enough.
  void bound_late_renders(Clock::time_point now);

  SchedulerConfig config_;
  std::unique_ptr<SizingPolicy> sizing_;
  ColumnBook book_;
  int probe_width_ = 1;      // also how far apart regions may be to compare their agents' speeds
  int uncertain_width_ = 1;  // the widest region whose estimate waits on a probe
  CostMap cost_;
  SpeedModel speeds_;
  std::deque<std::pair<int, int>> probes_;  // planned probe regions [x0, x1), in hand-out order
  bool measured_any_ = false;
  bool dropped_prior_ = false;  // the prior was contradicted by what was measured
  std::map<RegionId, double> late_bounds_;  // by region: the work per column last told the map
  long long rendered_pixels_ = 0;  // accepted regions, margins included
  long long kept_pixels_ = 0;
  Clock::time_point started_ = Clock::time_point::max();  // the first request for a region
};

}  // namespace bnr::broker
