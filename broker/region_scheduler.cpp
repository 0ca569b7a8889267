#include "region_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace bnr::broker {
namespace {
constexpr double kProbeFraction = 4.0;  // blind first regions are this much smaller than factoring's
constexpr double kPixelFactoringChunks = 2.0;  // textbook factoring: each batch takes half of what is left
constexpr double kOff = 1.25;          // an observed speed this far from its regime's is "off"
constexpr double kAgree = 1.3;         // neighbours within this ratio: no cost edge between them
constexpr double kUnobservedChunks = 2.0;  // an agent known only by its hint gets regions this much smaller
// A regime's speed is taken from comparisons once they weigh this much (two agreeing ones);
// before, one comparison across a cost edge could be all there is, so the prior stands.
constexpr double kTrusted = 1.5;
// An unconfirmed slowdown is believed up to this factor: more looks like a cost edge (a machine
// that halves its speed is plausible, one that drops to a twelfth far less).
constexpr double kLeastCaution = 0.5;
}  // namespace

RegionScheduler::RegionScheduler(int width, int height, SchedulerConfig config)
    : width_(width), height_(height), config_(config), cost_(static_cast<std::size_t>(std::max(width, 0)), -1.0),
      estimate_(cost_), total_pixels_(static_cast<std::int64_t>(width) * height) {
  if (config_.region_width > 0) config_.policy = SizingPolicy::kFixedWidth;
  if (width_ > 0) free_[0] = width_;
  barrier_.assign(cost_.size(), 0);
  uncertain_.assign(cost_.size(), 0);
  refresh_estimate();
  if (config_.policy != SizingPolicy::kPredictedSeconds || config_.probes <= 0 || width_ <= 0) return;
  // Probe centres in an order that spreads the first ones far apart (0, 1/2, 1/4, 3/4, ...).
  const int n = std::min(config_.probes, width_);
  const int probe_width = std::max({1, config_.min_width, static_cast<int>(width_ * config_.probe_share / n)});
  probe_width_ = probe_width;
  std::vector<int> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  auto reversed_bits = [](int v) {
    unsigned r = 0;
    for (int b = 0; b < 16; ++b) r |= ((static_cast<unsigned>(v) >> b) & 1U) << (15 - b);
    return r;
  };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return reversed_bits(a) < reversed_bits(b); });
  int last_end = -1;
  for (int i : order) {
    const int centre = static_cast<int>((i + 0.5) * width_ / n);
    const int x0 = std::clamp(centre - probe_width / 2, 0, width_ - std::min(probe_width, width_));
    const int x1 = std::min(x0 + probe_width, width_);
    if (x0 <= last_end && n == 1) continue;
    probes_.emplace_back(x0, x1);
    last_end = x1;
  }
  // Overlapping probes (tiny frames) are dropped: probes must be disjoint.
  std::sort(probes_.begin(), probes_.end());
  std::deque<std::pair<int, int>> disjoint;
  for (const auto& p : probes_)
    if (disjoint.empty() || p.first >= disjoint.back().second) disjoint.push_back(p);
  std::deque<std::pair<int, int>> spread;
  for (int i : order)
    for (const auto& p : disjoint)
      if (p.first <= static_cast<int>((i + 0.5) * width_ / n) && static_cast<int>((i + 0.5) * width_ / n) < p.second &&
          std::find(spread.begin(), spread.end(), p) == spread.end())
        spread.push_back(p);
  probes_ = std::move(spread);
}

void RegionScheduler::add_agent(AgentId agent, double speed_hint) {
  if (agents_.count(agent) != 0) return;
  Agent a;
  if (speed_hint > 0) {
    a.speed = speed_hint;
  } else if (!agents_.empty()) {
    std::vector<double> speeds;
    for (const auto& [id, other] : agents_) speeds.push_back(other.speed);
    std::nth_element(speeds.begin(), speeds.begin() + static_cast<long>(speeds.size() / 2), speeds.end());
    a.speed = speeds[speeds.size() / 2];
  }
  agents_[agent] = a;
  agents_[agent].regime = new_regime(agent, std::log(std::max(a.speed, 1e-9)));
}

std::size_t RegionScheduler::remove_agent(AgentId agent) {
  const auto it = agents_.find(agent);
  if (it == agents_.end()) return 0;
  const std::deque<RegionId> queue = it->second.queue;
  agents_.erase(it);
  std::size_t requeued = 0;
  for (RegionId copy : queue) {
    const RegionId logical = copies_.at(copy).logical;
    drop_copy(copy);
    const Region& r = regions_.at(logical);
    if (!r.done && r.copies.empty()) {
      requeued_.push_back(logical);
      ++requeued;
    }
  }
  return requeued;
}

void RegionScheduler::set_cost_prior(const std::vector<double>& cost_per_column) {
  prior_.clear();
  if (cost_per_column.empty() || width_ <= 0) return;
  probes_.clear();  // the prior already says where the cost is
  prior_.resize(static_cast<std::size_t>(width_));
  const double n = static_cast<double>(cost_per_column.size());
  for (int x = 0; x < width_; ++x) {
    const auto i = static_cast<std::size_t>(std::min(n - 1, std::floor((x + 0.5) * n / width_)));
    prior_[static_cast<std::size_t>(x)] = std::max(cost_per_column[i], 0.0);
  }
  refresh_estimate();
}

void RegionScheduler::refresh_estimate() {
  const std::size_t n = cost_.size();
  prefix_.resize(n + 1);
  unknown_.resize(n + 1);
  likely_prefix_.resize(n + 1);
  prefix_[0] = 0;
  unknown_[0] = 0;
  likely_prefix_[0] = 0;
  // Columns [a, b) all predicted at `value` (`likely`: without the caution); prefix sums give
  // any range's work in O(1).
  const auto fill = [&](std::size_t a, std::size_t b, double value, double likely, bool uncertain) {
    std::fill(estimate_.begin() + static_cast<long>(a), estimate_.begin() + static_cast<long>(b), value);
    std::fill(uncertain_.begin() + static_cast<long>(a), uncertain_.begin() + static_cast<long>(b), uncertain);
    const double base = prefix_[a], per = std::max(value, 0.0);
    const double likely_base = likely_prefix_[a], likely_per = std::max(likely, 0.0);
    const int unknown = unknown_[a];
    for (std::size_t x = a; x < b; ++x) {
      prefix_[x + 1] = base + per * static_cast<double>(x + 1 - a);
      likely_prefix_[x + 1] = likely_base + likely_per * static_cast<double>(x + 1 - a);
      unknown_[x + 1] = unknown + (value < 0 ? static_cast<int>(x + 1 - a) : 0);
    }
  };
  if (!prior_.empty()) {
    for (std::size_t x = 0; x < n; ++x) {
      const double c = cost_[x] >= 0 ? cost_[x] : prior_[x] * prior_scale_;
      fill(x, x + 1, c, c, false);
    }
    return;
  }
  // Cost clusters in space: an unmeasured column costs about what its nearest measured
  // neighbours cost; the costlier side is assumed so a region never runs blind into a hot band.
  // (For the frame's end, which sums all of them, that would be biased: there the mean of the
  // two sides is used.) Estimates that reach across a probe still out (barrier) are uncertain.
  // Measured columns come in runs of one cost (a region each), so this goes run by run.
  std::size_t gap = 0;
  double before = -1.0;
  const auto fill_gap = [&](std::size_t end, double after) {
    if (gap >= end) return;
    const bool crosses = std::find(barrier_.begin() + static_cast<long>(gap), barrier_.begin() + static_cast<long>(end),
                                   char{1}) != barrier_.begin() + static_cast<long>(end);
    const double likely = before >= 0 && after >= 0 ? (before + after) / 2 : std::max(before, after);
    fill(gap, end, std::max(before, after), likely, crosses);
  };
  for (const auto& [x0, index] : measured_at_) {
    const Measurement& m = measured_[index];
    const double c = cost_[static_cast<std::size_t>(m.x0)];
    fill_gap(static_cast<std::size_t>(m.x0), c);
    fill(static_cast<std::size_t>(m.x0), static_cast<std::size_t>(m.x1), c, c, false);
    gap = static_cast<std::size_t>(m.x1);
    before = c;
  }
  fill_gap(n, -1.0);
}

double RegionScheduler::predicted_work(int x0, int x1) const {
  const auto a = static_cast<std::size_t>(x0), b = static_cast<std::size_t>(x1);
  if (unknown_[b] != unknown_[a]) return -1.0;
  return prefix_[b] - prefix_[a];
}

double RegionScheduler::total_speed() const {
  double s = 0;
  for (const auto& [id, a] : agents_) s += a.speed;
  return s > 0 ? s : 1.0;
}

Seconds RegionScheduler::predicted_remaining() const {
  double work = 0;
  for (const auto& [x0, x1] : free_)
    work += likely_prefix_[static_cast<std::size_t>(x1)] - likely_prefix_[static_cast<std::size_t>(x0)];
  for (const auto& [id, r] : regions_)
    if (!r.done) work += std::max(predicted_work(r.rect.x0, r.rect.x1), 0.0);
  return Seconds(work / total_speed());
}

double RegionScheduler::free_work() const {
  double work = 0;
  for (const auto& [x0, x1] : free_)
    work += likely_prefix_[static_cast<std::size_t>(x1)] - likely_prefix_[static_cast<std::size_t>(x0)];
  for (RegionId logical : requeued_) {
    const Region& r = regions_.at(logical);
    if (!r.done && r.copies.empty()) work += std::max(predicted_work(r.rect.x0, r.rect.x1), 0.0);
  }
  return work;
}

Clock::time_point RegionScheduler::queue_end(const Agent& agent, Clock::time_point now) const {
  return agent.queue.empty() ? now : std::max(now, expected_finish(agent.queue.back(), now));
}

Clock::time_point RegionScheduler::fill_end(Clock::time_point now) const {
  // Water filling: the time T at which the work not yet handed out would be done if every agent
  // took it up from the end of its own queue, sum over agents of speed x (T - queue end) = work.
  // An agent committed beyond T takes no part; the others fill up to it, not to the mean.
  std::vector<std::pair<double, double>> ends;  // (seconds from now, speed)
  for (const auto& [id, a] : agents_) ends.emplace_back(Seconds(queue_end(a, now) - now).count(), a.predicting());
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
  return now + std::chrono::duration_cast<Clock::duration>(Seconds(t));
}

int RegionScheduler::next_width(const Agent& agent, int x0, int x1, Clock::time_point now) const {
  int remaining = 0;
  for (const auto& [a, b] : free_) remaining += b - a;
  const double agents = static_cast<double>(std::max<std::size_t>(agents_.size(), 1));
  int w = 0;
  const bool cost_known = predicted_cost(x0) >= 0;
  if (config_.policy == SizingPolicy::kFixedWidth) {
    w = std::max(config_.region_width, 1);
  } else if (config_.policy == SizingPolicy::kFactoringPixels) {
    w = static_cast<int>(std::ceil(remaining / (agents * kPixelFactoringChunks)));
  } else if (!cost_known) {
    // Nothing measured yet: a small probe per agent measures its speed and the scene's cost
    // soon, instead of a blind quarter of the frame deciding the finish time.
    w = static_cast<int>(std::ceil(remaining / (agents * config_.chunks_per_agent * kProbeFraction)));
  } else {
    // Weighted factoring in predicted seconds: every agent gets the same time, so a batch of
    // regions covers 1/k of the remaining work and the last regions are short.
    // A 1/k share of the time this agent has left before the frame should end, after what it
    // already has queued (with prefetch, sizing from `now` would commit it twice). An agent
    // whose speed is still only a hint (off by half, maybe) gets less until it is measured.
    const double chunks = config_.chunks_per_agent * (agent.observed ? 1.0 : kUnobservedChunks);
    const Seconds target = std::max(Seconds(fill_end(now) - queue_end(agent, now)) / chunks, config_.min_region);
    // The number of columns whose predicted work is nearest the budget, at least one: where a
    // column takes seconds (a slow agent on a costly part), rounding up would overshoot.
    const double budget = target.count() * agent.predicting();
    if (budget > 0) {
      const auto first = prefix_.begin() + x0;
      w = static_cast<int>(std::lower_bound(first + 1, prefix_.begin() + x1 + 1, *first + budget) - first);
      w = std::min(w, x1 - x0);
      const double over = first[w] - *first - budget;
      const double under = budget - (first[w - 1] - *first);
      if (w > 1 && over > 0 && under < over) --w;
    }
  }
  w = std::clamp(w, std::max(config_.min_width, 1), std::max(config_.max_width, 1));
  w = std::min(w, x1 - x0);
  // Never leave a sliver narrower than min_width behind for the very end.
  if (config_.policy != SizingPolicy::kFixedWidth && x1 - x0 - w < config_.min_width) w = x1 - x0;
  return w;
}

Assignment RegionScheduler::hand_out(AgentId agent_id, RegionId logical, bool duplicate, Clock::time_point now) {
  Agent& agent = agents_.at(agent_id);
  Region& region = regions_.at(logical);
  Copy copy;
  copy.logical = logical;
  copy.agent = agent_id;
  copy.predicted_work = predicted_work(region.rect.x0, region.rect.x1);
  copy.predicted = Seconds(copy.predicted_work > 0 ? copy.predicted_work / agent.predicting() : 0.0);
  const RegionId id = next_id_++;
  copies_[id] = copy;
  region.copies.push_back(id);
  if (agent.queue.empty()) agent.free_since = now;
  agent.queue.push_back(id);
  return {id, region.rect, duplicate, copy.predicted, std::nullopt};
}

std::optional<Assignment> RegionScheduler::next_region(AgentId agent, Clock::time_point now) {
  if (agents_.count(agent) == 0) return std::nullopt;
  started_ = std::min(started_, now);
  // Re-queued regions first; one this agent failed waits for another agent, if there is one.
  for (auto it = requeued_.begin(); it != requeued_.end();) {
    const Region& region = regions_.at(*it);
    if (region.done) {
      it = requeued_.erase(it);
      continue;
    }
    const bool failed_here =
        std::find(region.failed_on.begin(), region.failed_on.end(), agent) != region.failed_on.end();
    const bool someone_else = std::any_of(agents_.begin(), agents_.end(), [&](const auto& a) {
      return std::find(region.failed_on.begin(), region.failed_on.end(), a.first) == region.failed_on.end();
    });
    if (failed_here && someone_else) {
      ++it;
      continue;
    }
    const RegionId logical = *it;
    requeued_.erase(it);
    return hand_out(agent, logical, false, now);
  }
  // One blind region per agent at a time: a second one queued behind a probe that landed on
  // the costliest part of the frame would wait for it, however long it takes.
  const bool blind_in_flight = std::any_of(agents_.at(agent).queue.begin(), agents_.at(agent).queue.end(),
                                           [&](RegionId c) { return copies_.at(c).predicted_work < 0; });
  if (config_.policy == SizingPolicy::kPredictedSeconds && blind_in_flight &&
      (!probes_.empty() || (measured_.empty() && prior_.empty())))
    return std::nullopt;
  while (!probes_.empty()) {
    const auto [p0, p1] = probes_.front();
    probes_.pop_front();
    const auto it = free_.upper_bound(p0);
    if (it == free_.begin()) continue;
    const auto interval = std::prev(it);
    if (interval->first > p0 || interval->second < p1) continue;  // already carved
    // A probe should take about as long on every agent: a slow one gets a narrower one, so that
    // landing on the costliest part of the frame does not keep it busy for the whole job.
    double mean_speed = 0;
    for (const auto& [id, a] : agents_) mean_speed += a.speed / static_cast<double>(agents_.size());
    const double share = std::min(1.0, agents_.at(agent).speed / std::max(mean_speed, 1e-9));
    const int w = std::clamp(static_cast<int>(std::lround((p1 - p0) * share)),
                             std::min(std::max(config_.min_width, 1), p1 - p0), p1 - p0);
    const int x0 = p0 + (p1 - p0 - w) / 2;
    const int x1 = x0 + w;
    // Until it reports, a probe's columns are a barrier: estimates must not reach across it.
    for (int x = x0; x < x1; ++x) barrier_[static_cast<std::size_t>(x)] = cost_[static_cast<std::size_t>(x)] < 0;
    refresh_estimate();
    return hand_out(agent, carve(x0, w), false, now);
  }
  if (!free_.empty()) {
    if (auto moved = copy_for(agent, now, false)) return moved;
    if (config_.policy == SizingPolicy::kPredictedSeconds) {
      // An agent with work queued gets no more if the least it could take would end later
      // after the others finish than it would leave it idle before (it asks again when its
      // render ends): a slow agent on a costly part, or one busy past that end already.
      const Agent& a = agents_.at(agent);
      if (!a.queue.empty()) {
        const Clock::time_point end = fill_end(now);
        const Clock::time_point busy = queue_end(a, now);
        const int x0 = free_.begin()->first;
        const double least = std::max(predicted_work(x0, x0 + 1), 0.0) / a.predicting();
        if (busy >= end || Seconds(least) > 2 * Seconds(end - busy)) return std::nullopt;
      }
      // Prefer columns whose estimate rests on measured neighbours; where every free interval
      // still waits on a probe, go no wider than a probe.
      for (const auto& [a, b] : free_) {
        if (uncertain_[static_cast<std::size_t>(a)]) continue;
        return hand_out(agent, carve(a, next_width(agents_.at(agent), a, b, now)), false, now);
      }
      const auto [x0, x1] = *free_.begin();
      int w = std::min(next_width(agents_.at(agent), x0, x1, now), probe_width_);
      if (x1 - x0 - w < config_.min_width) w = x1 - x0;
      return hand_out(agent, carve(x0, w), false, now);
    }
    const auto [x0, x1] = *free_.begin();
    return hand_out(agent, carve(x0, next_width(agents_.at(agent), x0, x1, now)), false, now);
  }
  return copy_for(agent, now, true);
}

RegionId RegionScheduler::carve(int x0, int w) {
  auto it = std::prev(free_.upper_bound(x0));
  const int start = it->first;
  const int end = it->second;
  free_.erase(it);
  if (start < x0) free_[start] = x0;
  if (x0 + w < end) free_[x0 + w] = end;
  const RegionId logical = next_id_++;
  regions_[logical] = Region{{x0, 0, x0 + w, height_}, {}, 0, {}, false};
  return logical;
}

Clock::time_point RegionScheduler::expected_finish(RegionId copy_id, Clock::time_point now) const {
  const Copy& copy = copies_.at(copy_id);
  const Agent& agent = agents_.at(copy.agent);
  Clock::time_point t = agent.free_since;
  for (RegionId c : agent.queue) {
    const Copy& queued = copies_.at(c);
    const protocol::Rect& rect = regions_.at(queued.logical).rect;
    // Copies handed out blind are predicted from what has been learned since.
    // Predicted from what is known now, not when it was handed out.
    const double work_now = predicted_work(rect.x0, rect.x1);
    const Seconds seconds = work_now >= 0 ? Seconds(work_now / agent.predicting()) : queued.predicted;
    const auto predicted = std::chrono::duration_cast<Clock::duration>(seconds);
    // A render that is already late will take a bit longer still, not end this instant.
    if (c == agent.queue.front())
      t = std::max(t + predicted, t + (now - t) * 3 / 2);  // a late render is late again by half
    else
      t = std::max(t + predicted, now + predicted / 10);
    if (c == copy_id) break;
  }
  return t;
}

std::optional<RegionScheduler::Pick> RegionScheduler::best_copy(AgentId agent_id, Clock::time_point now,
                                                                bool tail) const {
  const Agent& agent = agents_.at(agent_id);
  if (!config_.duplicate_tail) return std::nullopt;
  // A region queued behind another agent's current render and expected to end clearly after
  // everything else moves to this agent if it would finish it clearly sooner: it has not
  // started, so nothing is lost. A region already rendering can only be copied (the agent
  // cannot be stopped, and its time on it is then lost); that is worth it at the tail only,
  // when the agent asking is idle and has nothing else to do.
  Clock::time_point bar = now;
  Clock::duration margin = std::chrono::duration_cast<Clock::duration>(config_.min_region);
  // Copying a render under way throws away the time its agent has spent on it: worth it for a
  // clear gain only, at least 1% of the job so far.
  const Clock::duration running_margin = std::max(margin, (now - std::min(now, started_)) / 100);
  if (!tail) {
    const Clock::time_point end = fill_end(now);
    margin = std::max(std::chrono::duration_cast<Clock::duration>(config_.min_region), (end - now) / 10);
    bar = end + margin;
  }
  const Clock::time_point start = queue_end(agent, now);
  std::optional<Pick> best;
  Clock::time_point best_finish{};
  for (const auto& [logical, region] : regions_) {
    if (region.done || region.copies.empty()) continue;
    bool mine_already = false;
    bool rendering = false;
    Clock::time_point finish = Clock::time_point::max();
    for (RegionId c : region.copies) {
      const AgentId owner = copies_.at(c).agent;
      mine_already = mine_already || owner == agent_id;
      rendering = rendering || agents_.at(owner).queue.front() == c;
      finish = std::min(finish, expected_finish(c, now));
    }
    if (mine_already || finish <= bar || (rendering && !(tail && agent.queue.empty()))) continue;
    const double work = std::max(predicted_work(region.rect.x0, region.rect.x1), 0.0);
    const auto mine = start + std::chrono::duration_cast<Clock::duration>(Seconds(work / agent.predicting()));
    if (mine + (rendering ? running_margin : margin) < finish && (!best || finish > best_finish)) {
      best = Pick{logical, rendering ? std::nullopt : std::optional<RegionId>(region.copies.front())};
      best_finish = finish;
    }
  }
  return best;
}

std::optional<Assignment> RegionScheduler::copy_for(AgentId agent_id, Clock::time_point now, bool tail) {
  const auto pick = best_copy(agent_id, now, tail);
  if (!pick) return std::nullopt;
  if (!pick->queued) return hand_out(agent_id, pick->logical, true, now);
  const AgentId owner = copies_.at(*pick->queued).agent;
  drop_copy(*pick->queued);
  Assignment moved = hand_out(agent_id, pick->logical, false, now);
  moved.revoke = std::pair<AgentId, RegionId>{owner, *pick->queued};
  return moved;
}

std::optional<Clock::time_point> RegionScheduler::retry_after(AgentId agent_id, Clock::time_point now) const {
  const auto it = agents_.find(agent_id);
  if (it == agents_.end() || !it->second.queue.empty() || !free_.empty() || !requeued_.empty() || finished() ||
      !config_.duplicate_tail)
    return std::nullopt;
  const Agent& agent = it->second;
  // Without new events, only renders running late change the picture: once 2/3 of its
  // predicted time has passed, a render is expected to end at start + 3/2 x elapsed (see
  // expected_finish), which passes this agent's own time for the region plus the margin at
  // start + 2 x (that time + margin). Check at those moments.
  std::vector<Clock::time_point> moments;
  for (const auto& [id, other] : agents_) {
    if (id == agent_id || other.queue.empty()) continue;
    const Copy& copy = copies_.at(other.queue.front());
    const protocol::Rect& rect = regions_.at(copy.logical).rect;
    const double work = std::max(predicted_work(rect.x0, rect.x1), 0.0);
    const auto mine = std::chrono::duration_cast<Clock::duration>(Seconds(work / agent.predicting()));
    const auto own = std::chrono::duration_cast<Clock::duration>(
        work > 0 ? Seconds(work / other.predicting()) : copy.predicted);
    // The margin grows with the job's age (see best_copy): with u = t - start, the copy is worth
    // it once start + 3/2 u > t + mine + max(min_region, (t - started) / 100).
    const auto margin = std::chrono::duration_cast<Clock::duration>(config_.min_region);
    const Clock::time_point start = other.free_since;
    const Clock::duration age = start - std::min(start, started_);
    const Clock::time_point fixed = start + 2 * (mine + margin);
    const Clock::time_point growing = start + (100 * mine + age) / 49;
    for (const Clock::time_point t : {start + own * 2 / 3, fixed, growing})
      if (t + std::chrono::microseconds(1) > now) moments.push_back(t + std::chrono::microseconds(1));
  }
  std::sort(moments.begin(), moments.end());
  for (const Clock::time_point t : moments)
    if (best_copy(agent_id, t, true)) return t;
  return std::nullopt;
}

void RegionScheduler::drop_copy(RegionId copy_id) {
  const auto it = copies_.find(copy_id);
  if (it == copies_.end()) return;
  const auto agent = agents_.find(it->second.agent);
  if (agent != agents_.end()) std::erase(agent->second.queue, copy_id);
  auto& copies = regions_.at(it->second.logical).copies;
  std::erase(copies, copy_id);
  copies_.erase(it);
}

int RegionScheduler::new_regime(AgentId agent, double log_speed) {
  const int id = regimes_.empty() ? 1 : regimes_.rbegin()->first + 1;
  regimes_[id] = Regime{agent, log_speed, log_speed, 0.0};
  return id;
}

std::vector<RegionScheduler::Comparison> RegionScheduler::comparisons() const {
  // Cost clusters in space: two regions side by side (or a probe's width apart) by different
  // agents, or by one agent at two speeds, cost about the same per column, so their times per
  // column compare the two speeds.
  std::vector<Comparison> out;
  const Measurement* prev = nullptr;
  std::size_t prev_index = 0;
  for (const auto& [x0, index] : measured_at_) {
    const Measurement& m = measured_[index];
    if (prev != nullptr && m.x0 - prev->x1 <= probe_width_ && m.regime != prev->regime)
      out.push_back({prev_index, index, 1.0});
    prev = &m;
    prev_index = index;
  }
  return out;
}

void RegionScheduler::solve_speeds() {
  // Least squares in log speed: for regions a (left) and b (right) side by side,
  // log s_a - log s_b = log(t_b / w_b) - log(t_a / w_a); each regime also leans lightly on its
  // prior (the hint, or the speed it started at), which fixes the scale and holds regimes
  // nothing compares. A comparison across a cost edge (a hot band starts between them) or with
  // a region that straddles a change of speed disagrees with the rest: iteratively reweighted
  // (Cauchy), such outliers fade out.
  constexpr double kPriorWeight = 0.05;    // one comparison outweighs a prior twenty times
  constexpr double kResidualScale = 0.15;  // log-speed disagreement at which a comparison counts half
  std::vector<Comparison> pairs = comparisons();
  std::map<int, std::size_t> index;
  std::vector<int> ids;
  for (const auto& [id, r] : regimes_) {
    index[id] = ids.size();
    ids.push_back(id);
  }
  const std::size_t n = ids.size();
  std::vector<double> diff(pairs.size());
  std::vector<std::pair<std::size_t, std::size_t>> nodes(pairs.size());
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    const Measurement& a = measured_[pairs[p].left];
    const Measurement& b = measured_[pairs[p].right];
    diff[p] = std::log(b.seconds / (b.x1 - b.x0)) - std::log(a.seconds / (a.x1 - a.x0));
    nodes[p] = {index.at(a.regime), index.at(b.regime)};
  }
  std::vector<double> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = regimes_.at(ids[i]).prior;
  for (int iteration = 0; iteration < 6; ++iteration) {
    std::vector<double> a(n * n, 0.0), rhs(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      a[i * n + i] = kPriorWeight;
      rhs[i] = kPriorWeight * regimes_.at(ids[i]).prior;
    }
    for (std::size_t p = 0; p < pairs.size(); ++p) {
      const auto [i, j] = nodes[p];
      const double w = pairs[p].weight;
      a[i * n + i] += w;
      a[j * n + j] += w;
      a[i * n + j] -= w;
      a[j * n + i] -= w;
      rhs[i] += w * diff[p];
      rhs[j] -= w * diff[p];
    }
    // Gaussian elimination; the matrix is symmetric positive definite (the priors see to it).
    for (std::size_t c = 0; c < n; ++c) {
      for (std::size_t r = c + 1; r < n; ++r) {
        const double f = a[r * n + c] / a[c * n + c];
        if (f == 0) continue;
        for (std::size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
        rhs[r] -= f * rhs[c];
      }
    }
    for (std::size_t c = n; c-- > 0;) {
      double v = rhs[c];
      for (std::size_t k = c + 1; k < n; ++k) v -= a[c * n + k] * y[k];
      y[c] = v / a[c * n + c];
    }
    for (std::size_t p = 0; p < pairs.size(); ++p) {
      const double r = (y[nodes[p].first] - y[nodes[p].second] - diff[p]) / kResidualScale;
      pairs[p].weight = 1.0 / (1.0 + r * r);
    }
  }
  for (auto& [id, r] : regimes_) r.linked = 0;
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    regimes_.at(ids[nodes[p].first]).linked += pairs[p].weight;
    regimes_.at(ids[nodes[p].second]).linked += pairs[p].weight;
  }
  for (std::size_t i = 0; i < n; ++i) {
    Regime& r = regimes_.at(ids[i]);
    r.log_speed = r.linked >= kTrusted ? y[i] : r.prior;
  }
  for (auto& [id, agent] : agents_) {
    const Regime& r = regimes_.at(agent.regime);
    agent.speed = std::exp(r.log_speed);
    agent.observed = r.linked >= kTrusted;
  }
  // Cost is time x speed, each measurement at its regime's speed as now known.
  for (const Measurement& m : measured_) {
    const double per_column = m.seconds * std::exp(regimes_.at(m.regime).log_speed) / std::max(m.x1 - m.x0, 1);
    std::fill(cost_.begin() + m.x0, cost_.begin() + m.x1, per_column);
    std::fill(barrier_.begin() + m.x0, barrier_.begin() + m.x1, char{0});
  }
}

void RegionScheduler::check_regime(AgentId agent_id, std::size_t index, double predicted_work) {
  // What the neighbours of the newest region say about its agent's speed, against what the
  // agent's regime says. Both sides agreeing is a strong observation, one side a weak one, two
  // that disagree (a cost edge) none.
  Agent& agent = agents_.at(agent_id);
  const Measurement& m = measured_[index];
  std::vector<double> implied;
  for (const Comparison& c : comparisons()) {
    if (c.left != index && c.right != index) continue;
    const Measurement& a = measured_[c.left];
    const Measurement& b = measured_[c.right];
    const double d = std::log(b.seconds / (b.x1 - b.x0)) - std::log(a.seconds / (a.x1 - a.x0));
    implied.push_back(c.left == index ? regimes_.at(b.regime).log_speed + d : regimes_.at(a.regime).log_speed - d);
  }
  if (implied.empty() && agent.caution < 1 && predicted_work > 0 &&
      predicted_work / m.seconds >= agent.speed / kOff) {
    // Nothing to compare with, but it took about what it would have at the agent's usual
    // speed: the slowdown seen before was a cost edge, not the machine.
    agent.pending = 0;
    agent.caution = 1.0;
  }
  if (implied.empty() || !agent.observed) return;
  if (implied.size() == 2 && std::abs(implied[0] - implied[1]) > std::log(kAgree)) return;
  const double q = (implied.front() + implied.back()) / 2 - regimes_.at(m.regime).log_speed;
  const bool strong = implied.size() == 2;
  if (std::abs(q) <= std::log(kOff)) {
    agent.pending = 0;
    agent.caution = 1.0;
    return;
  }
  // Far off: the agent's speed changed (another program started, or stopped), or the cost
  // changes inside the region. Twice in a row the same way is the machine: a new regime from
  // the first of the two. A slowdown both neighbours agree on is believed at once; a single
  // one-sided one makes predictions cautious until the next region confirms or refutes it.
  const bool confirmed = agent.pending != 0 && (agent.pending < 0) == (q < 0) &&
                         std::abs(agent.pending - q) <= std::log(1.6);
  if (confirmed || (strong && q < 0)) {
    const std::size_t first = confirmed ? agent.pending_measurement : index;
    agent.regime = new_regime(agent_id, regimes_.at(m.regime).log_speed + q);
    for (std::size_t i = first; i < measured_.size(); ++i)
      if (measured_[i].agent == agent_id) measured_[i].regime = agent.regime;
    agent.pending = 0;
    agent.caution = 1.0;
    solve_speeds();
    return;
  }
  agent.pending = q;
  agent.pending_measurement = index;
  agent.caution = std::clamp(std::exp(q), kLeastCaution, 1.0);
}

void RegionScheduler::learn(AgentId agent_id, const protocol::Rect& rect, Seconds render_time,
                            double predicted_work) {
  const double t = render_time.count();
  if (t <= 0 || !std::isfinite(t)) return;
  const std::size_t index = measured_.size();
  measured_.push_back({rect.x0, rect.x1, agent_id, agents_.at(agent_id).regime, t});
  measured_at_[rect.x0] = index;
  solve_speeds();
  check_regime(agent_id, index, predicted_work);
  if (!prior_.empty()) {
    // The prior may come in other units (another resolution, other agents): scale it to ours.
    double learned = 0, prior = 0;
    for (std::size_t x = 0; x < cost_.size(); ++x)
      if (cost_[x] >= 0) {
        learned += cost_[x];
        prior += prior_[x];
      }
    if (prior > 0) prior_scale_ = learned / prior;
  }
  refresh_estimate();
}

RegionScheduler::Completion RegionScheduler::complete(RegionId copy_id, AgentId agent_id, Clock::time_point now,
                                                      Seconds render_time) {
  Completion result;
  const auto it = copies_.find(copy_id);
  if (it == copies_.end() || it->second.agent != agent_id) return result;
  const Copy copy = it->second;
  Region& region = regions_.at(copy.logical);
  drop_copy(copy_id);
  if (auto a = agents_.find(agent_id); a != agents_.end()) a->second.free_since = now;
  if (region.done) return result;
  region.done = true;
  done_pixels_ += region.rect.area();
  ++regions_done_;
  result.accepted = true;
  if (agents_.count(agent_id) != 0) learn(agent_id, region.rect, render_time, copy.predicted_work);
  for (RegionId other : std::vector<RegionId>(region.copies)) {
    result.cancel.emplace_back(copies_.at(other).agent, other);
    drop_copy(other);
  }
  return result;
}

RegionScheduler::Failure RegionScheduler::fail(RegionId copy_id, AgentId agent_id) {
  const auto it = copies_.find(copy_id);
  if (it == copies_.end() || it->second.agent != agent_id) return {};
  const RegionId logical = it->second.logical;
  drop_copy(copy_id);
  Region& region = regions_.at(logical);
  ++region.failures;
  if (std::find(region.failed_on.begin(), region.failed_on.end(), agent_id) == region.failed_on.end())
    region.failed_on.push_back(agent_id);
  if (!region.done && region.copies.empty()) requeued_.push_back(logical);
  return {region.failures, static_cast<int>(region.failed_on.size())};
}

std::size_t RegionScheduler::in_flight(AgentId agent) const {
  const auto it = agents_.find(agent);
  return it == agents_.end() ? 0 : it->second.queue.size();
}

protocol::Rect RegionScheduler::rect_of(RegionId copy_id) const {
  const auto it = copies_.find(copy_id);
  return it == copies_.end() ? protocol::Rect{} : regions_.at(it->second.logical).rect;
}

double RegionScheduler::speed(AgentId agent) const {
  const auto it = agents_.find(agent);
  return it == agents_.end() ? 0.0 : it->second.speed;
}

bool RegionScheduler::mark_done(int x0, int x1) {
  if (x0 < 0 || x1 > width_ || x0 >= x1) return false;
  const auto after = free_.upper_bound(x0);
  if (after == free_.begin()) return false;
  const auto interval = std::prev(after);
  if (interval->first > x0 || interval->second < x1) return false;  // partly taken already
  Region& region = regions_.at(carve(x0, x1 - x0));
  region.done = true;
  done_pixels_ += region.rect.area();
  return true;
}

}  // namespace bnr::broker
