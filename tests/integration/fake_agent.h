// A hostile or broken agent for chaos tests: a real ROUTER socket on loopback with CURVE
// server keys of its own (what bnr-broker --agent HOST:PORT@KEY takes), answering the broker's
// messages with whatever a test's script says, on a thread of its own. Nothing it sends is
// checked before it leaves, so it can send what no bnr-agent would.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "codec.h"
#include "curve_keys.h"
#include "messages.h"

namespace bnr::testing {

class Agent;

class FakeAgent {
 public:
  struct Reply {
    protocol::Message message;
    std::string bulk{};  // RegionDone's pixels, of any length the test wants
  };
  // What to answer one message from the broker with (any number of messages, maybe none).
  using Script = std::function<std::vector<Reply>(const protocol::Message& from_broker)>;

  // Binds 127.0.0.1 on a free port and starts answering. While it has answered an OpenJob it
  // also sends a Heartbeat for that job every second, as a live agent does.
  explicit FakeAgent(Script script);
  // Stops the thread and closes the socket.
  ~FakeAgent();
  FakeAgent(const FakeAgent&) = delete;
  FakeAgent& operator=(const FakeAgent&) = delete;

  [[nodiscard]] std::string endpoint() const { return address() + "@" + keys_.public_key; }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& key() const { return keys_.public_key; }
  // The kinds of the well-formed messages the broker sent it so far, in order ("OpenJob", ...).
  [[nodiscard]] std::vector<std::string> received() const;

 private:
  struct Sockets;  // ZeroMQ's, in the .cpp
  void run();

  Script script_;
  protocol::CurveKeyPair keys_;
  std::unique_ptr<Sockets> sockets_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> received_;
  std::thread thread_;
};

// The JobReady a real agent sends for `scene` (a .blend without external files), got by
// opening a job on it as the test broker would and serving the files it fetches; the job is
// closed again before this returns. Fakes start from it to look like that agent.
[[nodiscard]] protocol::JobReady real_job_ready(const Agent& agent, const std::filesystem::path& scene);

// A RegionDone for `region` with the payload size its rectangle implies for `views` views.
[[nodiscard]] FakeAgent::Reply blank_region(const protocol::RenderRegion& region, std::uint32_t views);

}  // namespace bnr::testing
