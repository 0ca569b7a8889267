#include "column_book.h"

#include <algorithm>

namespace bnr::broker {

ColumnBook::ColumnBook(const BandLayout& layout)
    : layout_(layout), total_pixels_(static_cast<std::int64_t>(layout.width()) * layout.height()) {
  if (layout_.width() > 0)
    for (int b = 0; b < layout_.bands(); ++b) free_[layout_.band_begin(b)] = layout_.band_end(b);
}

int ColumnBook::free_columns() const {
  int n = 0;
  for (const auto& [a, b] : free_) n += b - a;
  return n;
}

bool ColumnBook::is_free(int x0, int x1) const {
  const auto after = free_.upper_bound(x0);
  if (after == free_.begin()) return false;
  const auto interval = std::prev(after);
  return interval->first <= x0 && x1 <= interval->second;
}

RegionId ColumnBook::carve(int x0, int w) {
  auto it = std::prev(free_.upper_bound(x0));
  const int start = it->first;
  const int end = it->second;
  free_.erase(it);
  if (start < x0) free_[start] = x0;
  if (x0 + w < end) free_[x0 + w] = end;
  const RegionId logical = next_id_++;
  regions_[logical] = Region{layout_.rect(x0, x0 + w), x0, x0 + w, {}, 0, {}, false};
  return logical;
}

void ColumnBook::add_agent(AgentId agent) { queues_.try_emplace(agent); }

std::vector<RegionId> ColumnBook::remove_agent(AgentId agent) {
  std::vector<RegionId> orphaned;
  const auto it = queues_.find(agent);
  if (it == queues_.end()) return orphaned;
  const std::deque<RegionId> copies = it->second.copies;
  for (RegionId c : copies) {
    const RegionId logical = copies_.at(c).logical;
    drop_copy(c);
    const Region& r = regions_.at(logical);
    if (!r.done && r.copies.empty()) orphaned.push_back(logical);
  }
  queues_.erase(agent);
  return orphaned;
}

void ColumnBook::set_free_since(AgentId agent, Clock::time_point t) {
  if (auto it = queues_.find(agent); it != queues_.end()) it->second.free_since = t;
}

void ColumnBook::set_busy_until(AgentId agent, Clock::time_point t) {
  if (auto it = queues_.find(agent); it != queues_.end()) it->second.busy_until = t;
}

RegionId ColumnBook::add_copy(RegionId logical, AgentId agent, Seconds predicted, double predicted_work,
                              Clock::time_point now) {
  Queue& queue = queues_.at(agent);
  const RegionId id = next_id_++;
  copies_[id] = Copy{logical, agent, predicted, predicted_work};
  regions_.at(logical).copies.push_back(id);
  if (queue.copies.empty()) queue.free_since = std::max(now, queue.busy_until);
  queue.copies.push_back(id);
  update_in_flight(logical);
  return id;
}

void ColumnBook::drop_copy(RegionId copy_id) {
  const auto it = copies_.find(copy_id);
  if (it == copies_.end()) return;
  if (auto queue = queues_.find(it->second.agent); queue != queues_.end()) std::erase(queue->second.copies, copy_id);
  const RegionId logical = it->second.logical;
  std::erase(regions_.at(logical).copies, copy_id);
  copies_.erase(it);
  update_in_flight(logical);
}

const ColumnBook::Copy* ColumnBook::copy(RegionId copy_id) const {
  const auto it = copies_.find(copy_id);
  return it == copies_.end() ? nullptr : &it->second;
}

void ColumnBook::update_in_flight(RegionId logical) {
  const Region& r = regions_.at(logical);
  if (!r.done && !r.copies.empty()) in_flight_.insert(logical);
  else in_flight_.erase(logical);
}

bool ColumnBook::finish(RegionId logical) {
  Region& region = regions_.at(logical);
  if (region.done) return false;
  region.done = true;
  done_pixels_ += region.rect.area();
  ++regions_done_;
  update_in_flight(logical);
  return true;
}

void ColumnBook::count_failure(RegionId logical, AgentId agent) {
  Region& region = regions_.at(logical);
  ++region.failures;
  if (std::find(region.failed_on.begin(), region.failed_on.end(), agent) == region.failed_on.end())
    region.failed_on.push_back(agent);
}

bool ColumnBook::mark_done(int x0, int x1) {
  if (x0 < 0 || x1 > layout_.columns() || x0 >= x1 || !is_free(x0, x1)) return false;
  Region& region = regions_.at(carve(x0, x1 - x0));
  region.done = true;
  done_pixels_ += region.rect.area();
  return true;
}

}  // namespace bnr::broker
