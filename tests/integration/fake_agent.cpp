#include "fake_agent.h"

#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <zmq.hpp>

#include "content_hash.h"
#include "curve_auth.h"
#include "harness.h"
#include "transport.h"

namespace bnr::testing {

using namespace std::chrono_literals;

// Made and bound in the constructor, then used only by the fake's thread (ZeroMQ lets a socket
// move to another thread across a full memory barrier; starting the thread is one).
struct FakeAgent::Sockets {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::router};
};

FakeAgent::FakeAgent(Script script)
    : script_(std::move(script)), keys_(protocol::make_key_pair()), sockets_(std::make_unique<Sockets>()) {
  zmq::socket_t& socket = sockets_->socket;
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, protocol::kMaxFrameBytes);
  protocol::set_curve_server(socket, keys_);  // no ZAP handler: any broker that knows the key
  socket.bind("tcp://127.0.0.1:0");
  const std::string last = socket.get(zmq::sockopt::last_endpoint);
  port_ = std::stoi(last.substr(last.rfind(':') + 1));
  thread_ = std::thread([this] { run(); });
}

FakeAgent::~FakeAgent() {
  stop_ = true;
  thread_.join();
}

std::vector<std::string> FakeAgent::received() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return received_;
}

void FakeAgent::run() {
  zmq::socket_t& socket = sockets_->socket;
  std::string broker;  // routing id of the broker whose job is open
  std::string job;
  auto last_beat = std::chrono::steady_clock::now();
  while (!stop_) {
    zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 50ms);
    while (auto received = protocol::receive_message(socket, /*router=*/true)) {
      if (!received->decoded.packet) continue;
      const protocol::Message& message = received->decoded.packet->message;
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        received_.emplace_back(protocol::kind_name(message));
      }
      if (const auto* open = std::get_if<protocol::OpenJob>(&message)) {
        broker = received->routing_id;
        job = open->job_id;
      } else if (std::holds_alternative<protocol::CloseJob>(message)) {
        job.clear();
      }
      for (const Reply& reply : script_(message))
        (void)protocol::send_message(socket, reply.message, reply.bulk, received->routing_id);
    }
    const auto now = std::chrono::steady_clock::now();
    if (!job.empty() && now - last_beat >= 1s) {
      (void)protocol::send_message(socket, protocol::Heartbeat{job}, {}, broker);
      last_beat = now;
    }
  }
}

namespace {

std::string read_range(const std::filesystem::path& file, std::uint64_t offset, std::uint64_t length) {
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string bytes(length, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(length));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

}  // namespace

protocol::JobReady real_job_ready(const Agent& agent, const std::filesystem::path& scene) {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 1000);  // lets the CloseJob out
  socket.set(zmq::sockopt::maxmsgsize, protocol::kMaxFrameBytes);
  agent.connect(socket);
  const std::string absolute = std::filesystem::absolute(scene).lexically_normal().string();
  protocol::OpenJob open;
  open.job_id = "probe-" + std::to_string(getpid());
  open.scene_name = scene.filename().string();
  open.files = {{absolute.substr(1), std::filesystem::file_size(scene), tools::content_hash_of_file(scene)}};
  if (!protocol::send_message(socket, open)) throw std::runtime_error("real_job_ready: cannot send OpenJob");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 100ms);
    while (auto received = protocol::receive_message(socket, /*router=*/false)) {
      if (!received->decoded.packet) throw std::runtime_error("real_job_ready: " + received->decoded.error);
      const protocol::Message& m = received->decoded.packet->message;
      if (const auto* fetch = std::get_if<protocol::FetchChunk>(&m)) {
        (void)protocol::send_message(socket, protocol::FileChunk{open.job_id, fetch->hash, fetch->offset},
                                     read_range(scene, fetch->offset, fetch->length));
      } else if (const auto* ready = std::get_if<protocol::JobReady>(&m)) {
        (void)protocol::send_message(socket, protocol::CloseJob{open.job_id, /*discard=*/true});
        return *ready;
      } else if (const auto* failed = std::get_if<protocol::JobFailed>(&m)) {
        throw std::runtime_error("real_job_ready: the agent failed the job: " + failed->reason);
      } else if (const auto* refused = std::get_if<protocol::Refused>(&m)) {
        throw std::runtime_error("real_job_ready: the agent refused: " + refused->reason);
      }
    }
  }
  throw std::runtime_error("real_job_ready: no JobReady within 60 s");
}

FakeAgent::Reply blank_region(const protocol::RenderRegion& region, std::uint32_t views) {
  protocol::RegionDone done{region.job_id, region.region_id, region.rect, views, false, 0.01};
  return {done, std::string(protocol::region_payload_bytes(region.rect, views, false), '\0')};
}

}  // namespace bnr::testing
