// Liveness of a peer on a connection, zguide style: any message heard counts as a heartbeat;
// a peer silent for longer than its timeout is gone; send a heartbeat when nothing else was
// sent for an interval. One helper for both ends (the broker's links, the agent's job).
#pragma once

#include <chrono>

namespace bnr::protocol {

struct Liveness {
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_heard{};
  Clock::time_point last_sent{};

  explicit Liveness(Clock::time_point now = {}) : last_heard(now), last_sent(now) {}
  void heard(Clock::time_point now) { last_heard = now; }
  void sent(Clock::time_point now) { last_sent = now; }
  template <class Duration>
  [[nodiscard]] bool silent_for_more_than(Duration timeout, Clock::time_point now) const {
    return now - last_heard > timeout;
  }
  template <class Duration>
  [[nodiscard]] bool heartbeat_due(Duration interval, Clock::time_point now) const {
    return now - last_sent >= interval;
  }
};

}  // namespace bnr::protocol
