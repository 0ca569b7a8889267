// RegionScheduler, the part about time in flight: when each queued or rendering copy is
// expected to end, which copy an agent should take over (a queued one moved, a running one
// duplicated at the tail), and when a refused idle agent should ask again.
#include <algorithm>

#include "region_scheduler.h"

namespace bnr::broker {

Clock::time_point RegionScheduler::finish_after(Clock::time_point t, AgentId agent, RegionId copy, bool first,
                                                Clock::time_point now) const {
  const ColumnBook::Copy& queued = *book_.copy(copy);
  // Predicted from what is known now, not when it was handed out (copies handed out blind
  // are predicted from what has been learned since).
  const auto predicted = ticks(predicted_seconds(agent, book_.region(queued.logical), queued.predicted));
  // A render that is already late will take a bit longer still, not end this instant.
  if (first) return std::max(t + predicted, t + (now - t) * 3 / 2);  // a late render is late again by half
  return std::max(t + predicted, now + predicted / 10);
}

Clock::time_point RegionScheduler::expected_finish(RegionId copy_id, Clock::time_point now) const {
  const ColumnBook::Copy& copy = *book_.copy(copy_id);
  const ColumnBook::Queue& queue = book_.queue(copy.agent);
  Clock::time_point t = queue.free_since;
  for (RegionId c : queue.copies) {
    t = finish_after(t, copy.agent, c, c == queue.copies.front(), now);
    if (c == copy_id) break;
  }
  return t;
}

std::vector<RegionScheduler::CopyFinish> RegionScheduler::copy_finishes(Clock::time_point now) const {
  std::vector<CopyFinish> out;
  for (const auto& [id, queue] : book_.queues()) {
    Clock::time_point t = queue.free_since;
    for (RegionId c : queue.copies) {
      const bool rendering = c == queue.copies.front();
      t = finish_after(t, id, c, rendering, now);
      out.push_back({book_.copy(c)->logical, id, t, rendering});
    }
  }
  std::sort(out.begin(), out.end(), [](const CopyFinish& a, const CopyFinish& b) { return a.logical < b.logical; });
  return out;
}

std::optional<RegionScheduler::Pick> RegionScheduler::best_copy(AgentId agent, Clock::time_point now,
                                                                bool tail) const {
  if (!config_.duplicate_tail) return std::nullopt;
  // A region queued behind another agent's current render and expected to end clearly after
  // everything else moves to this agent if it would finish it clearly sooner: it has not
  // started, so nothing is lost. A region already rendering can only be copied (the agent
  // cannot be stopped, and its time on it is then lost); that is worth it at the tail only,
  // when the agent asking is idle and has nothing else to do.
  Clock::time_point bar = now;
  Clock::duration margin = ticks(config_.min_region);
  // Copying a render under way throws away the time its agent has spent on it: worth it for a
  // clear gain only, at least 1% of the job so far.
  const Clock::duration running_margin = std::max(margin, (now - std::min(now, started_)) / 100);
  if (!tail) {
    const Clock::time_point end = fill_end(now);
    margin = std::max(ticks(config_.min_region), (end - now) / 10);
    bar = end + margin;
  }
  const Clock::time_point start = queue_end(agent, now);
  const bool idle = book_.queue(agent).copies.empty();
  std::optional<Pick> best;
  Clock::time_point best_finish{};
  const std::vector<CopyFinish> copies = copy_finishes(now);
  for (auto group = copies.begin(); group != copies.end();) {
    const RegionId logical = group->logical;
    bool mine_already = false;
    bool rendering = false;
    Clock::time_point finish = Clock::time_point::max();
    for (; group != copies.end() && group->logical == logical; ++group) {
      mine_already = mine_already || group->owner == agent;
      rendering = rendering || group->rendering;
      finish = std::min(finish, group->finish);
    }
    if (mine_already || finish <= bar || (rendering && !(tail && idle))) continue;
    const ColumnBook::Region& region = book_.region(logical);
    const double work = std::max(cost_.region_work(region.c0, region.c1), 0.0);
    const auto mine = start + ticks(Seconds(work / speeds_.predicting(agent)));
    if (mine + (rendering ? running_margin : margin) < finish && (!best || finish > best_finish)) {
      best = Pick{logical, rendering ? std::nullopt : std::optional<RegionId>(region.copies.front())};
      best_finish = finish;
    }
  }
  return best;
}

std::optional<Assignment> RegionScheduler::copy_for(AgentId agent, Clock::time_point now, bool tail) {
  const auto pick = best_copy(agent, now, tail);
  if (!pick) return std::nullopt;
  if (!pick->queued) return hand_out(agent, pick->logical, true, now);
  const AgentId owner = book_.copy(*pick->queued)->agent;
  book_.drop_copy(*pick->queued);
  Assignment moved = hand_out(agent, pick->logical, false, now);
  moved.revoke = std::pair<AgentId, RegionId>{owner, *pick->queued};
  return moved;
}

std::optional<Clock::time_point> RegionScheduler::next_render_end(AgentId agent, Clock::time_point now) const {
  std::optional<Clock::time_point> first;
  for (const auto& [id, q] : book_.queues()) {
    if (id == agent || q.copies.empty()) continue;
    const Clock::time_point end = std::max(expected_finish(q.copies.front(), now), now) + std::chrono::microseconds(1);
    if (!first || end < *first) first = end;
  }
  return first;
}

std::optional<Clock::time_point> RegionScheduler::retry_after(AgentId agent, Clock::time_point now) const {
  if (!book_.has_agent(agent) || !book_.queue(agent).copies.empty() || !book_.requeued().empty() || finished())
    return std::nullopt;
  // Free columns left, yet refused (held back, or waiting on probes): the picture changes when
  // the next render ends (a result, a measurement; the job loop does not ask this agent then),
  // so ask again at its expected end rather than leave the agent idle for the rest of the job.
  if (!book_.free().empty()) return sizing_->predicts() ? next_render_end(agent, now) : std::nullopt;
  if (!config_.duplicate_tail) return std::nullopt;
  // Without new events, only renders running late change the picture: once 2/3 of its
  // predicted time has passed, a render is expected to end at start + 3/2 x elapsed (see
  // expected_finish), which passes this agent's own time for the region plus the margin at
  // start + 2 x (that time + margin). Check at those moments.
  std::vector<Clock::time_point> moments;
  for (const auto& [id, other] : book_.queues()) {
    if (id == agent || other.copies.empty()) continue;
    const ColumnBook::Copy& copy = *book_.copy(other.copies.front());
    const ColumnBook::Region& region = book_.region(copy.logical);
    const double work = std::max(cost_.region_work(region.c0, region.c1), 0.0);
    const auto mine = ticks(Seconds(work / speeds_.predicting(agent)));
    const auto own = ticks(work > 0 ? Seconds(work / speeds_.predicting(id)) : copy.predicted);
    // The margin grows with the job's age (see best_copy): with u = t - start, the copy is worth
    // it once start + 3/2 u > t + mine + max(min_region, (t - started) / 100).
    const auto margin = ticks(config_.min_region);
    const Clock::time_point start = other.free_since;
    const Clock::duration age = start - std::min(start, started_);
    const Clock::time_point fixed = start + 2 * (mine + margin);
    const Clock::time_point growing = start + (100 * mine + age) / 49;
    for (const Clock::time_point t : {start + own * 2 / 3, fixed, growing})
      if (t + std::chrono::microseconds(1) > now) moments.push_back(t + std::chrono::microseconds(1));
  }
  std::sort(moments.begin(), moments.end());
  for (const Clock::time_point t : moments)
    if (best_copy(agent, t, true)) return t;
  return std::nullopt;
}

}  // namespace bnr::broker
