#include "region_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "frame_buffer.h"
#include "probe_plan.h"

namespace bnr::broker {
namespace {

// The margin is rendered twice (by both neighbours): keep it a small share of any region.
constexpr int kMinWidthPerMarginColumn = 8;
// Where every free column's estimate waits on a probe, regions go no wider than a probe; with
// margins, no narrower than this many times the margin either, or they would be mostly margin.
constexpr int kUncertainWidthPerMarginColumn = 40;

SchedulerConfig effective(SchedulerConfig c) {
  if (c.region_width > 0) c.sizing = SizingKind::kFixedWidth;
  c.margin = std::max(c.margin, 0);
  if (c.sizing != SizingKind::kFixedWidth) c.min_width = std::max(c.min_width, kMinWidthPerMarginColumn * c.margin);
  return c;
}

std::unique_ptr<SizingPolicy> make_sizing(const SchedulerConfig& c) {
  switch (c.sizing) {
    case SizingKind::kFixedWidth: return std::make_unique<FixedWidthSizing>(c.region_width);
    case SizingKind::kFactoringPixels: return std::make_unique<FactoringPixelsSizing>();
    case SizingKind::kPredictedSeconds: break;
  }
  return std::make_unique<PredictedSecondsSizing>(c.chunks_per_agent, c.min_region, c.tail_error);
}

int planned_probes(int width, const SchedulerConfig& c) {
  // A band learns its own cost only from its own regions (another band's measurement of a
  // column misses a hot spot that spans only some rows), so more bands need more probes: with
  // 16 over 6 bands, a spot 12% of the frame wide and 30% high was found too late often enough
  // to cost 1.42x the ideal in the simulator (1.20x with 48).
  if (c.sizing != SizingKind::kPredictedSeconds || width <= 0) return 0;
  return probe_count(width, c.margin, c.probes * std::max(c.bands / 2, 1));
}

int probe_width_for(int width, const SchedulerConfig& c) {
  const int n = planned_probes(width, c);
  if (n <= 0) return 1;
  return std::max({1, c.min_width, static_cast<int>(width * c.probe_share / n)});
}

}  // namespace

RegionScheduler::RegionScheduler(int width, int height, SchedulerConfig config)
    : config_(effective(config)), sizing_(make_sizing(config_)), book_(BandLayout(width, height, config_.bands)),
      // A probe fits in one band.
      probe_width_(std::min(probe_width_for(book_.layout().columns(), config_), std::max(width, 1))),
      uncertain_width_(std::max(probe_width_, kUncertainWidthPerMarginColumn * config_.margin)),
      cost_(book_.layout().columns(), config_.margin, width), speeds_(probe_width_, width) {
  const int columns = book_.layout().columns();
  if (const int n = planned_probes(columns, config_); n > 0) probes_ = plan_probes(columns, n, probe_width_, width);
}

void RegionScheduler::add_agent(AgentId agent, double speed_hint) {
  if (book_.has_agent(agent)) return;
  speeds_.add_agent(agent, speed_hint);
  book_.add_agent(agent);
}

std::size_t RegionScheduler::remove_agent(AgentId agent) {
  if (!book_.has_agent(agent)) return 0;
  speeds_.remove_agent(agent);
  const std::vector<RegionId> orphaned = book_.remove_agent(agent);
  for (RegionId logical : orphaned) book_.requeued().push_back(logical);
  return orphaned.size();
}

void RegionScheduler::set_cost_prior(const std::vector<double>& cost_per_column) {
  if (!cost_per_column.empty()) probes_.clear();  // the prior already says where the cost is
  cost_.set_prior(book_.layout().spread(cost_per_column));
}

double RegionScheduler::fraction_done() const {
  return book_.total_pixels() == 0
             ? 1.0
             : static_cast<double>(book_.done_pixels()) / static_cast<double>(book_.total_pixels());
}

double RegionScheduler::overdraw() const {
  return kept_pixels_ == 0 ? 1.0 : static_cast<double>(rendered_pixels_) / static_cast<double>(kept_pixels_);
}

double RegionScheduler::free_work() const {
  // Each free interval is rendered as one region at least: its margins are work too.
  double work = 0;
  for (const auto& [x0, x1] : book_.free())
    work += cost_.likely_work(cost_.rendered_x0(x0), cost_.rendered_x1(x1));
  for (RegionId logical : book_.requeued()) {
    const ColumnBook::Region& r = book_.region(logical);
    if (!r.done && r.copies.empty()) work += std::max(cost_.region_work(r.c0, r.c1), 0.0);
  }
  return work;
}

Seconds RegionScheduler::predicted_remaining() const {
  double work = free_work();
  for (RegionId logical : book_.in_flight()) {
    const ColumnBook::Region& r = book_.region(logical);
    work += std::max(cost_.region_work(r.c0, r.c1), 0.0);
  }
  return Seconds(work / speeds_.total_speed());
}

Seconds RegionScheduler::predicted_seconds(AgentId agent, const ColumnBook::Region& region, Seconds fallback) const {
  const double work = cost_.region_work(region.c0, region.c1);
  return work >= 0 ? Seconds(work / speeds_.predicting(agent)) : fallback;
}

Clock::time_point RegionScheduler::queue_end(AgentId agent, Clock::time_point now) const {
  const ColumnBook::Queue& q = book_.queue(agent);
  return q.copies.empty() ? std::max(now, q.busy_until) : std::max(now, expected_finish(q.copies.back(), now));
}

Clock::time_point RegionScheduler::fill_end(Clock::time_point now) const {
  // Water filling: the time T at which the work not yet handed out would be done if every agent
  // took it up from the end of its own queue, sum over agents of speed x (T - queue end) = work.
  // An agent committed beyond T takes no part; the others fill up to it, not to the mean.
  std::vector<std::pair<double, double>> ends;  // (seconds from now, speed)
  for (const auto& [id, q] : book_.queues())
    ends.emplace_back(Seconds(queue_end(id, now) - now).count(), speeds_.predicting(id));
  if (ends.empty()) return now;
  std::sort(ends.begin(), ends.end());
  double left = free_work();
  double t = ends.front().first;
  double rate = 0;
  for (std::size_t i = 0; i < ends.size(); ++i) {
    rate += ends[i].second;
    const double next = i + 1 < ends.size() ? ends[i + 1].first : std::numeric_limits<double>::infinity();
    if (rate > 0 && rate * (next - t) >= left) {
      t += left / rate;
      break;
    }
    left -= rate * (next - t);
    t = next;
  }
  return now + ticks(Seconds(t));
}

int RegionScheduler::next_width(AgentId agent, int x0, int x1, Clock::time_point now, Clock::time_point end) const {
  SizingRequest request;
  request.x0 = x0;
  request.x1 = x1;
  request.free_columns = book_.free_columns();
  request.agents = std::max<std::size_t>(book_.queues().size(), 1);
  request.speed = speeds_.predicting(agent);
  request.mean_speed = speeds_.mean_speed();
  request.observed = speeds_.observed(agent);
  request.cost = &cost_;
  if (sizing_->predicts() && cost_.estimate(x0) >= 0) request.time_left = end - queue_end(agent, now);
  int w = sizing_->width(request);
  // A blind region may be as narrow as a probe for a slow agent (see probe_for).
  const bool blind = sizing_->predicts() && cost_.estimate(x0) < 0;
  const int narrowest = blind ? std::min(std::max(config_.margin, 1), std::max(config_.min_width, 1))
                              : std::max(config_.min_width, 1);
  // Columns no band has measured may hide a hot band the probes missed: a slow agent sized
  // from the cheap columns beside it would end long after the frame should. Of them an agent
  // gets its time left times its speed relative to the fastest agent's (which comes back
  // soonest, whatever it finds): the fastest as much as sizing gives it, one at a quarter of
  // its speed a quarter of that. (In the simulator, 1920 px, 8 agents: hot band 1.356 -> 1.28,
  // uniform 1.098 -> 1.104.)
  int blind_end = x1;
  if (sizing_->predicts() && !blind && !cost_.has_prior() && request.time_left.count() > 0) {
    const double relative = request.speed / std::max(speeds_.fastest(), 1e-12);
    const double budget = request.time_left.count() * request.speed * relative;
    blind_end = cost_.blind_until(x0, x1, budget);
    w = std::min(w, std::max(blind_end - x0, narrowest));
  }
  w = std::clamp(w, narrowest, std::max(config_.max_width, narrowest));
  w = std::min(w, x1 - x0);
  // Never leave a sliver narrower than min_width behind for the very end.
  if (config_.sizing != SizingKind::kFixedWidth && x1 - x0 - w < config_.min_width) w = x1 - x0;
  // With margins every region costs a cut: a remainder under half this region would be one
  // more small region later, so take it now if the whole still fits the time left — unless
  // the remainder is blind columns the agent's budget left out (a hot band may hide there).
  if (config_.margin > 0 && sizing_->predicts() && w < x1 - x0 && 2 * (x1 - x0 - w) < w && blind_end >= x1) {
    const double whole = cost_.region_work(x0, x1);
    if (whole >= 0 && Seconds(whole / std::max(request.speed, 1e-12)) <= request.time_left) w = x1 - x0;
  }
  return w;
}

Assignment RegionScheduler::hand_out(AgentId agent, RegionId logical, bool duplicate, Clock::time_point now) {
  const ColumnBook::Region& region = book_.region(logical);
  const protocol::Rect rect = region.rect;
  const double work = cost_.region_work(region.c0, region.c1);
  const Seconds predicted(work > 0 ? work / speeds_.predicting(agent) : 0.0);
  const RegionId id = book_.add_copy(logical, agent, predicted, work, now);
  return {id, rect, duplicate, predicted, std::nullopt};
}

std::optional<Assignment> RegionScheduler::requeued_for(AgentId agent, Clock::time_point now) {
  // A region this agent failed waits for another agent, if there is one.
  std::deque<RegionId>& requeued = book_.requeued();
  for (auto it = requeued.begin(); it != requeued.end();) {
    const ColumnBook::Region& region = book_.region(*it);
    if (region.done) {
      it = requeued.erase(it);
      continue;
    }
    const auto failed_on = [&](AgentId a) {
      return std::find(region.failed_on.begin(), region.failed_on.end(), a) != region.failed_on.end();
    };
    const bool someone_else =
        std::any_of(book_.queues().begin(), book_.queues().end(), [&](const auto& q) { return !failed_on(q.first); });
    if (failed_on(agent) && someone_else) {
      ++it;
      continue;
    }
    const RegionId logical = *it;
    requeued.erase(it);
    return hand_out(agent, logical, false, now);
  }
  return std::nullopt;
}

bool RegionScheduler::blind_in_flight(AgentId agent) const {
  const auto& copies = book_.queue(agent).copies;
  return std::any_of(copies.begin(), copies.end(), [&](RegionId c) { return book_.copy(c)->predicted_work < 0; });
}

std::optional<Assignment> RegionScheduler::probe_for(AgentId agent, Clock::time_point now) {
  while (!probes_.empty()) {
    const auto [p0, p1] = probes_.front();
    probes_.pop_front();
    if (!book_.is_free(p0, p1)) continue;  // already carved
    // A probe should take about as long on every agent: a slow one gets a narrower one, so that
    // landing on the costliest part of the frame does not keep it busy for the whole job.
    const double share = std::min(1.0, speeds_.speed(agent) / std::max(speeds_.mean_speed(), 1e-9));
    // (Narrower than min_width even: a slow agent's probe would otherwise decide the finish.)
    const int w = std::clamp(static_cast<int>(std::lround((p1 - p0) * share)),
                             std::min(std::max(config_.margin, 1), p1 - p0), p1 - p0);
    const int x0 = p0 + (p1 - p0 - w) / 2;
    // Until it reports, a probe's columns are a barrier: estimates must not reach across it.
    cost_.set_barrier(x0, x0 + w);
    cost_.refresh();
    return hand_out(agent, book_.carve(x0, w), false, now);
  }
  return std::nullopt;
}

bool RegionScheduler::holds_back(AgentId agent, int x0, int x1, Clock::time_point now, Clock::time_point end) const {
  // An agent does not take the region if it would end later after the others finish than it
  // would leave the agent idle before: ending late delays the frame by the overshoot, while
  // staying idle costs only this agent's share of the speed, which the others make up. A slow
  // agent on a costly part, or one busy past that end already. An agent with work queued asks
  // again when its render ends; an idle one is held back only when another agent would finish
  // the region sooner (so the fastest never is, and the frame always progresses).
  const bool idle = book_.queue(agent).copies.empty() && book_.queue(agent).busy_until <= now;
  const Clock::time_point busy = queue_end(agent, now);
  const double work = std::max(cost_.region_work(x0, x1), 0.0);
  const Seconds mine(work / speeds_.predicting(agent));
  const Seconds overshoot = mine - Seconds(end - busy);
  const double share = speeds_.predicting(agent) / speeds_.total_speed();
  const bool late = overshoot > Seconds(end - busy) * std::max(share, 0.0);
  if (!idle) return busy >= end || late;
  if (!late || work <= 0) return false;
  const Clock::time_point finish = now + ticks(mine);
  return std::any_of(book_.queues().begin(), book_.queues().end(), [&](const auto& q) {
    return q.first != agent && queue_end(q.first, now) + ticks(Seconds(work / speeds_.predicting(q.first))) < finish;
  });
}

std::optional<Assignment> RegionScheduler::fresh_for(AgentId agent, Clock::time_point now) {
  if (!sizing_->predicts()) {
    // Such a policy sizes without the frame's end: no water filling for it.
    const auto [x0, x1] = *book_.free().begin();
    return hand_out(agent, book_.carve(x0, next_width(agent, x0, x1, now, now)), false, now);
  }
  const Clock::time_point end = fill_end(now);  // once for sizing and the hold-back test
  // Prefer columns whose estimate rests on measured neighbours; where every free interval
  // still waits on a probe, go no wider than a probe.
  int x0 = -1, w = 0;
  for (const auto& [a, b] : book_.free()) {
    if (cost_.uncertain(a)) continue;
    x0 = a;
    w = next_width(agent, a, b, now, end);
    break;
  }
  if (x0 < 0) {
    const int x1 = book_.free().begin()->second;
    x0 = book_.free().begin()->first;
    // With many agents the first regions cover the frame before any probe is back: keep each
    // to a small share of what is free then.
    const int agents = static_cast<int>(std::max<std::size_t>(book_.queues().size(), 1));
    const int cap = std::max(probe_width_, std::min(uncertain_width_, book_.free_columns() / (4 * agents)));
    w = std::min(next_width(agent, x0, x1, now, end), cap);
    if (x1 - x0 - w < config_.min_width) w = x1 - x0;
  }
  if (holds_back(agent, x0, x0 + w, now, end)) return std::nullopt;
  return hand_out(agent, book_.carve(x0, w), false, now);
}

std::optional<Assignment> RegionScheduler::next_region(AgentId agent, Clock::time_point now) {
  if (!book_.has_agent(agent)) return std::nullopt;
  started_ = std::min(started_, now);
  if (auto requeued = requeued_for(agent, now)) return requeued;
  // One blind region per agent at a time: a second one queued behind a probe that landed on
  // the costliest part of the frame would wait for it, however long it takes.
  if (sizing_->predicts() && blind_in_flight(agent) && (!probes_.empty() || (!measured_any_ && !cost_.has_prior())))
    return std::nullopt;
  if (auto probe = probe_for(agent, now)) return probe;
  bound_late_renders(now);
  if (book_.free().empty()) return copy_for(agent, now, true);
  if (auto moved = copy_for(agent, now, false)) return moved;
  return fresh_for(agent, now);
}

void RegionScheduler::bound_late_renders(Clock::time_point now) {
  // Late by this factor at least, a render says more about its columns than the estimate it
  // was sized from; a bound is told again once it has grown by the same factor.
  constexpr double kLate = 2.0;
  if (!sizing_->predicts() || cost_.has_prior()) return;
  std::map<RegionId, double> bounds;
  bool changed = false;
  for (const auto& [id, q] : book_.queues()) {
    if (q.copies.empty() || q.busy_until > now) continue;
    const ColumnBook::Copy& copy = *book_.copy(q.copies.front());
    const ColumnBook::Region& region = book_.region(copy.logical);
    const double elapsed = Seconds(now - std::max(q.free_since, q.busy_until)).count();
    const double work = elapsed * speeds_.predicting(id);  // at least this much, so far
    const auto old = late_bounds_.find(copy.logical);
    double bound = old == late_bounds_.end() ? 0.0 : old->second;  // as last told
    if (copy.predicted_work > 0 && work >= kLate * copy.predicted_work) {
      // Expected to end at 3/2 of its time so far (see finish_after): its columns cost as much.
      const int rendered = cost_.rendered_x1(region.c1) - cost_.rendered_x0(region.c0);
      const double per_column = 1.5 * work / rendered;
      if (per_column >= kLate * bound) {
        bound = per_column;
        changed = true;
      }
    }
    if (bound > 0) bounds[copy.logical] = std::max(bounds[copy.logical], bound);  // copies of one region: the larger
  }
  if (!changed && bounds.size() == late_bounds_.size()) return;
  late_bounds_ = std::move(bounds);
  ColumnRuns runs;
  for (const auto& [logical, per_column] : late_bounds_) {
    const ColumnBook::Region& region = book_.region(logical);
    runs.push_back({region.c0, region.c1, per_column});
  }
  cost_.set_lower_bounds(std::move(runs));
  cost_.refresh();
}

void RegionScheduler::learn(AgentId agent, const ColumnBook::Region& region, Seconds render_time,
                            double predicted_work) {
  const int r0 = cost_.rendered_x0(region.c0), r1 = cost_.rendered_x1(region.c1);
  // With a cost map given up front, what it expects of these columns (cost edges included) is
  // what compares; never 0, so that every region is in the map's units.
  const double expected = cost_.has_prior() ? std::max(cost_.prior_work(r0, r1), 1e-9 * (r1 - r0)) : 0.0;
  if (!speeds_.record(agent, region.c0, region.c1, r1 - r0, render_time.count(), predicted_work, expected)) return;
  measured_any_ = true;
  std::vector<SpeedModel::Sample> samples = speeds_.samples();
  if (cost_.has_prior() && prior_is_stale(samples)) {
    // The map given up front is of another scene, or of this one before it changed: from now
    // on the cost is learned as without one, its blind-column and late-render rules included
    // (the probes a map replaces were never sent), and speeds compare per column again.
    cost_.set_prior({});
    speeds_.compare_by_columns();
    dropped_prior_ = true;
    samples = speeds_.samples();  // at the speeds refitted without the map
  }
  // Cost is time x speed, each measurement at its regime's speed as now known.
  for (const SpeedModel::Sample& s : samples) cost_.set_measured(s.x0, s.x1, s.per_column);
  cost_.refresh();
}

bool RegionScheduler::prior_is_stale(const std::vector<SpeedModel::Sample>& samples) const {
  // Within a band (the map is per frame column, full height: bands may differ from it by the
  // rows' own cost), measured cost over the map's should be about one value. Two regions whose
  // ratios are this far apart say the map puts the costly columns elsewhere; speeds still at
  // their hints (up to 4x off between two agents) cannot make that much alone. A sample's cost
  // is per rendered column, margins included: so is what the map expects of it.
  constexpr double kStale = 8.0;
  std::map<int, std::pair<double, double>> range;  // band -> (least, largest) ratio
  for (const SpeedModel::Sample& s : samples) {
    if (s.per_column <= 0) continue;
    const int r0 = cost_.rendered_x0(s.x0), r1 = cost_.rendered_x1(s.x1);
    const double expected = cost_.prior_work(r0, r1) / std::max(r1 - r0, 1);
    if (expected <= 0) return true;  // the map expects nothing where rendering took time
    const double ratio = s.per_column / expected;
    const auto it = range.try_emplace(book_.layout().band_of(s.x0), ratio, ratio).first;
    it->second.first = std::min(it->second.first, ratio);
    it->second.second = std::max(it->second.second, ratio);
    if (it->second.second > kStale * it->second.first) return true;
  }
  return false;
}

RegionScheduler::Completion RegionScheduler::complete(RegionId copy_id, AgentId agent, Clock::time_point now,
                                                      Seconds render_time) {
  Completion result;
  const ColumnBook::Copy* found = book_.copy(copy_id);
  if (found == nullptr || found->agent != agent) return result;
  const ColumnBook::Copy copy = *found;
  book_.drop_copy(copy_id);
  book_.set_free_since(agent, now);
  if (!book_.finish(copy.logical)) return result;
  result.accepted = true;
  const ColumnBook::Region& region = book_.region(copy.logical);
  const BandLayout& layout = book_.layout();
  rendered_pixels_ += with_margin(region.rect, config_.margin, layout.width(), layout.height()).area();
  kept_pixels_ += region.rect.area();
  if (speeds_.has(agent)) learn(agent, region, render_time, copy.predicted_work);
  for (RegionId other : std::vector<RegionId>(book_.region(copy.logical).copies)) {
    const AgentId owner = book_.copy(other)->agent;
    const ColumnBook::Queue& queue = book_.queue(owner);
    if (!queue.copies.empty() && queue.copies.front() == other) {
      // Rendering: the agent renders it to the end (see ColumnBook::Queue::busy_until), at the
      // cost now measured.
      const double work = std::max(cost_.region_work(region.c0, region.c1), 0.0);
      const Seconds left(work / std::max(speeds_.predicting(owner), 1e-12));
      book_.set_busy_until(owner, std::max(now, queue.free_since + ticks(left)));
    }
    result.cancel.emplace_back(owner, other);
    book_.drop_copy(other);
  }
  return result;
}

RegionScheduler::Failure RegionScheduler::fail(RegionId copy_id, AgentId agent) {
  const ColumnBook::Copy* found = book_.copy(copy_id);
  if (found == nullptr || found->agent != agent) return {};
  const RegionId logical = found->logical;
  book_.drop_copy(copy_id);
  book_.count_failure(logical, agent);
  const ColumnBook::Region& region = book_.region(logical);
  if (!region.done && region.copies.empty()) book_.requeued().push_back(logical);
  return {region.failures, static_cast<int>(region.failed_on.size())};
}

std::size_t RegionScheduler::in_flight(AgentId agent) const {
  return book_.has_agent(agent) ? book_.queue(agent).copies.size() : 0;
}

protocol::Rect RegionScheduler::rect_of(RegionId copy_id) const {
  const ColumnBook::Copy* copy = book_.copy(copy_id);
  return copy == nullptr ? protocol::Rect{} : book_.region(copy->logical).rect;
}

bool RegionScheduler::mark_done(const protocol::Rect& core) {
  const auto ranges = book_.layout().columns_of(core);
  if (ranges.empty() || !std::all_of(ranges.begin(), ranges.end(), [&](const auto& r) {
        return book_.is_free(r.first, r.second);
      }))
    return false;
  for (const auto& [c0, c1] : ranges) book_.mark_done(c0, c1);
  return true;
}

}  // namespace bnr::broker
