#include "outbox.h"

namespace bnr::agent {

std::vector<Outbox::Item> Outbox::push(Item item) {
  bytes_ += item.bulk.size();
  items_.push_back(std::move(item));
  std::vector<Item> dropped;
  while (items_.size() > 1 && (items_.size() > max_items_ || bytes_ > max_bytes_)) {
    bytes_ -= items_.front().bulk.size();
    dropped.push_back(std::move(items_.front()));
    items_.pop_front();
  }
  return dropped;
}

std::size_t Outbox::flush(const std::function<bool(const Item&)>& send) {
  std::size_t sent = 0;
  while (!items_.empty() && send(items_.front())) {
    bytes_ -= items_.front().bulk.size();
    items_.pop_front();
    ++sent;
  }
  return sent;
}

}  // namespace bnr::agent
