#include "region_scheduler.h"

#include <algorithm>
#include <cmath>

namespace bnr::broker {

RegionScheduler::RegionScheduler(int width, int height, SchedulerConfig config)
    : width_(width), height_(height), config_(config),
      total_pixels_(static_cast<std::int64_t>(width) * height) {}

void RegionScheduler::add_agent(AgentId agent) {
  if (std::find(agents_.begin(), agents_.end(), agent) == agents_.end()) agents_.push_back(agent);
}

std::size_t RegionScheduler::remove_agent(AgentId agent) {
  agents_.erase(std::remove(agents_.begin(), agents_.end(), agent), agents_.end());
  std::size_t requeued = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.agent == agent) {
      requeued_.push_back(it->second.rect);
      it = in_flight_.erase(it);
      ++requeued;
    } else {
      ++it;
    }
  }
  return requeued;
}

int RegionScheduler::next_width() const {
  const int remaining = width_ - next_free_column_;
  if (config_.region_width > 0) return std::min(config_.region_width, remaining);
  const double agents = std::max<std::size_t>(agents_.size(), 1);
  const int guided = static_cast<int>(std::ceil(remaining / (agents * config_.chunks_per_agent)));
  const int w = std::clamp(guided, std::max(config_.min_width, 1), std::max(config_.max_width, 1));
  // Never leave a sliver narrower than min_width behind for the very end.
  return remaining - w < config_.min_width ? remaining : w;
}

std::optional<Assignment> RegionScheduler::next_region(AgentId agent, Clock::time_point now) {
  protocol::Rect rect;
  if (!requeued_.empty()) {
    rect = requeued_.front();
    requeued_.pop_front();
  } else if (next_free_column_ < width_) {
    const int w = next_width();
    rect = {next_free_column_, 0, next_free_column_ + w, height_};
    next_free_column_ += w;
  } else {
    return std::nullopt;
  }
  const RegionId id = next_id_++;
  in_flight_[id] = {rect, agent, now};
  return Assignment{id, rect};
}

RegionScheduler::Completion RegionScheduler::complete(RegionId region, AgentId agent, Clock::time_point) {
  const auto it = in_flight_.find(region);
  if (it == in_flight_.end() || it->second.agent != agent) return Completion::kUnknown;
  done_pixels_ += it->second.rect.area();
  ++regions_done_;
  in_flight_.erase(it);
  return Completion::kAccepted;
}

int RegionScheduler::fail(RegionId region, AgentId agent) {
  const auto it = in_flight_.find(region);
  if (it == in_flight_.end() || it->second.agent != agent) return 0;
  const protocol::Rect rect = it->second.rect;
  in_flight_.erase(it);
  requeued_.push_back(rect);
  return ++failures_[rect.x0];
}

std::size_t RegionScheduler::in_flight(AgentId agent) const {
  return static_cast<std::size_t>(std::count_if(in_flight_.begin(), in_flight_.end(),
                                                [&](const auto& kv) { return kv.second.agent == agent; }));
}

protocol::Rect RegionScheduler::rect_of(RegionId region) const {
  const auto it = in_flight_.find(region);
  return it == in_flight_.end() ? protocol::Rect{} : it->second.rect;
}

}  // namespace bnr::broker
