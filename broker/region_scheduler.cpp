#include "region_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace bnr::broker {
namespace {
constexpr double kProbeFraction = 4.0;  // blind first regions are this much smaller than factoring's
constexpr double kPixelFactoringChunks = 2.0;  // textbook factoring: each batch takes half of what is left
}  // namespace

RegionScheduler::RegionScheduler(int width, int height, SchedulerConfig config)
    : width_(width), height_(height), config_(config), cost_(static_cast<std::size_t>(std::max(width, 0)), -1.0),
      estimate_(cost_), total_pixels_(static_cast<std::int64_t>(width) * height) {
  if (config_.region_width > 0) config_.policy = SizingPolicy::kFixedWidth;
  if (width_ > 0) free_[0] = width_;
  barrier_.assign(cost_.size(), 0);
  uncertain_.assign(cost_.size(), 0);
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
  if (!prior_.empty()) {
    for (std::size_t x = 0; x < n; ++x) estimate_[x] = cost_[x] >= 0 ? cost_[x] : prior_[x] * prior_scale_;
    return;
  }
  // Cost clusters in space: an unmeasured column costs about what its nearest measured
  // neighbours cost; the costlier side is assumed so a region never runs blind into a hot band.
  std::vector<double> from_left(n, -1.0);
  std::vector<char> left_crossed(n, 0);
  double last = -1.0;
  bool crossed = false;
  for (std::size_t x = 0; x < n; ++x) {
    if (cost_[x] >= 0) crossed = false;
    else if (barrier_[x]) crossed = true;
    from_left[x] = last = cost_[x] >= 0 ? cost_[x] : last;
    left_crossed[x] = crossed;
  }
  last = -1.0;
  crossed = false;
  for (std::size_t i = n; i-- > 0;) {
    if (cost_[i] >= 0) crossed = false;
    else if (barrier_[i]) crossed = true;
    last = cost_[i] >= 0 ? cost_[i] : last;
    estimate_[i] = std::max(from_left[i], last);
    uncertain_[i] = crossed || left_crossed[i];
  }
}

double RegionScheduler::predicted_work(int x0, int x1) const {
  double sum = 0;
  for (int x = x0; x < x1; ++x) {
    const double c = predicted_cost(x);
    if (c < 0) return -1.0;
    sum += c;
  }
  return sum;
}

double RegionScheduler::total_speed() const {
  double s = 0;
  for (const auto& [id, a] : agents_) s += a.speed;
  return s > 0 ? s : 1.0;
}

Seconds RegionScheduler::predicted_remaining() const {
  double work = 0;
  for (const auto& [x0, x1] : free_)
    for (int x = x0; x < x1; ++x) work += std::max(predicted_cost(x), 0.0);
  for (const auto& [id, r] : regions_)
    if (!r.done) work += std::max(predicted_work(r.rect.x0, r.rect.x1), 0.0);
  return Seconds(work / total_speed());
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
    // already has queued (with prefetch, sizing from `now` would commit it twice).
    const Clock::time_point end = now + std::chrono::duration_cast<Clock::duration>(predicted_remaining());
    const Clock::time_point queue_end = agent.queue.empty() ? now : expected_finish(agent.queue.back(), now);
    const Seconds target = std::max(Seconds(end - queue_end) / config_.chunks_per_agent, config_.min_region);
    const double budget = target.count() * agent.speed;
    double work = 0;
    for (int x = x0; x < x1 && work < budget; ++x, ++w) work += predicted_cost(x);
  }
  w = std::clamp(w, std::max(config_.min_width, 1), std::max(config_.max_width, 1));
  w = std::min(w, x1 - x0);
  // Never leave a sliver narrower than min_width behind for the very end.
  if (config_.policy != SizingPolicy::kFixedWidth && x1 - x0 - w < config_.min_width) w = x1 - x0;
  return w;
}

Assignment RegionScheduler::hand_out(AgentId agent_id, RegionId logical, bool duplicate,
                                                      Clock::time_point now) {
  Agent& agent = agents_.at(agent_id);
  Region& region = regions_.at(logical);
  Copy copy;
  copy.logical = logical;
  copy.agent = agent_id;
  copy.predicted_work = predicted_work(region.rect.x0, region.rect.x1);
  copy.predicted = Seconds(copy.predicted_work > 0 ? copy.predicted_work / agent.speed : 0.0);
  const RegionId id = next_id_++;
  copies_[id] = copy;
  region.copies.push_back(id);
  if (agent.queue.empty()) agent.free_since = now;
  agent.queue.push_back(id);
  return {id, region.rect, duplicate, copy.predicted};
}

std::optional<Assignment> RegionScheduler::next_region(AgentId agent, Clock::time_point now) {
  if (agents_.count(agent) == 0) return std::nullopt;
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
  while (!probes_.empty()) {
    const auto [x0, x1] = probes_.front();
    probes_.pop_front();
    const auto it = free_.upper_bound(x0);
    if (it == free_.begin()) continue;
    const auto interval = std::prev(it);
    if (interval->first > x0 || interval->second < x1) continue;  // already carved
    // Until it reports, a probe's columns are a barrier: estimates must not reach across it.
    for (int x = x0; x < x1; ++x) barrier_[static_cast<std::size_t>(x)] = cost_[static_cast<std::size_t>(x)] < 0;
    refresh_estimate();
    return hand_out(agent, carve(x0, x1 - x0), false, now);
  }
  if (!free_.empty()) {
    if (config_.policy == SizingPolicy::kPredictedSeconds) {
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
  return duplicate_for(agent, now);
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
    const Seconds seconds = work_now >= 0 ? Seconds(work_now / agent.speed) : queued.predicted;
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

std::optional<Assignment> RegionScheduler::duplicate_for(AgentId agent_id, Clock::time_point now) {
  const Agent& agent = agents_.at(agent_id);
  if (!config_.duplicate_tail || !agent.queue.empty()) return std::nullopt;
  std::optional<RegionId> best;
  Clock::time_point best_finish{};
  for (const auto& [logical, region] : regions_) {
    // Up to three copies: a faster agent may still beat a slow first duplicate.
    if (region.done || region.copies.empty() || region.copies.size() > 2) continue;
    bool mine_already = false;
    Clock::time_point finish = Clock::time_point::max();
    for (RegionId c : region.copies) {
      mine_already = mine_already || copies_.at(c).agent == agent_id;
      finish = std::min(finish, expected_finish(c, now));
    }
    if (mine_already) continue;
    const double work = std::max(predicted_work(region.rect.x0, region.rect.x1), 0.0);
    const auto mine = now + std::chrono::duration_cast<Clock::duration>(Seconds(work / agent.speed));
    if (mine < finish && (!best || finish > best_finish)) {
      best = logical;
      best_finish = finish;
    }
  }
  if (!best) return std::nullopt;
  return hand_out(agent_id, *best, true, now);
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

void RegionScheduler::learn(const Copy& copy, const protocol::Rect& rect, Seconds render_time) {
  const double t = render_time.count();
  if (t <= 0 || !std::isfinite(t)) return;
  Agent& agent = agents_.at(copy.agent);
  // Speed: only from regions whose measured neighbours (within a probe width) agree on the
  // cost, so a hot region never reads as a slow agent; the median of the last five such
  // observations, seeded with the hint, so one odd render cannot swing it.
  double left = -1, right = -1;
  for (int x = rect.x0 - 1; x >= std::max(0, rect.x0 - probe_width_); --x)
    if (cost_[static_cast<std::size_t>(x)] >= 0) {
      left = cost_[static_cast<std::size_t>(x)];
      break;
    }
  for (int x = rect.x1; x < std::min(width_, rect.x1 + probe_width_); ++x)
    if (cost_[static_cast<std::size_t>(x)] >= 0) {
      right = cost_[static_cast<std::size_t>(x)];
      break;
    }
  if (left > 0 && right > 0 && std::max(left, right) <= 1.3 * std::min(left, right) && agents_.size() > 1) {
    if (agent.recent.empty()) agent.recent.push_back(agent.speed);
    const double observed = rect.width() * (left + right) / 2 / t;
    // Two observations in a row far from the current speed: the machine changed (another
    // program started, or stopped). Forget the old regime instead of waiting it out.
    const bool off = observed < 0.7 * agent.speed || observed > 1.4 * agent.speed;
    if (off && agent.off_last) agent.recent = {agent.recent.back()};
    agent.off_last = off;
    agent.recent.push_back(observed);
    if (agent.recent.size() > 5) agent.recent.pop_front();
    std::vector<double> v(agent.recent.begin(), agent.recent.end());
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    agent.speed = std::max(n % 2 == 1 ? v[n / 2] : std::sqrt(v[n / 2 - 1] * v[n / 2]), 1e-6);
  }
  // Cost is time x speed: columns measured while an agent's speed was unconfirmed are
  // re-costed as its speed settles.
  measured_.push_back({rect.x0, rect.x1, copy.agent, t, agent.recent.size() >= 3});
  for (Measurement& m : measured_) {
    if (m.confirmed && !(m.x0 == rect.x0 && m.x1 == rect.x1)) continue;
    const auto a = agents_.find(m.agent);
    if (a == agents_.end()) continue;
    const double per_column = m.seconds * a->second.speed / std::max(m.x1 - m.x0, 1);
    for (int x = m.x0; x < m.x1; ++x) {
      barrier_[static_cast<std::size_t>(x)] = 0;
      cost_[static_cast<std::size_t>(x)] = per_column;
    }
    if (a->second.recent.size() >= 3) m.confirmed = true;
  }
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
  if (agents_.count(agent_id) != 0) {
    // A region handed out blind is compared with what neighbours have shown since.
    Copy measured = copy;
    if (measured.predicted_work < 0) measured.predicted_work = predicted_work(region.rect.x0, region.rect.x1);
    learn(measured, region.rect, render_time);
  }
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
