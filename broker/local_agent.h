// The agent a broker starts on its own machine, so `bnr-broker scene.blend` alone renders and
// the broker's machine works too.
#pragma once

#include <deque>
#include <string>

#include "child_process.h"

namespace bnr::broker {

class LocalAgent {
 public:
  // Starts `agent_exe` on a free loopback port, serving only the broker whose public key is
  // `broker_key`, and waits until it listens. Throws std::runtime_error quoting the agent's
  // own error (e.g. Blender missing) if it does not.
  LocalAgent(const std::string& agent_exe, int threads, bool quiet, const std::string& broker_key);
  // Stops the agent (SIGTERM, then SIGKILL after a grace period).
  ~LocalAgent();
  LocalAgent(const LocalAgent&) = delete;
  LocalAgent& operator=(const LocalAgent&) = delete;

  [[nodiscard]] std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  // The agent's CURVE public key, as it printed it.
  [[nodiscard]] const std::string& key() const { return key_; }
  // The agent's log; keep draining it (poll this fd) so the agent never blocks on a full pipe.
  [[nodiscard]] int output_fd() const { return child_.stdout_fd(); }
  void drain();
  [[nodiscard]] std::string last_line() const { return tail_.empty() ? std::string() : tail_.back(); }

 private:
  tools::ChildProcess child_;
  int port_ = 0;
  std::string key_;
  std::string buffer_;
  std::deque<std::string> tail_;
};

// The bnr-agent executable next to the running bnr-broker, else "bnr-agent" from PATH.
[[nodiscard]] std::string default_agent_executable();

}  // namespace bnr::broker
