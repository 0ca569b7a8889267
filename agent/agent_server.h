// bnr-agent's event loop: one ROUTER socket for brokers, one Blender process per job, one
// thread. Brokers send OpenJob (with the .blend), then RenderRegion requests that queue here;
// the agent renders them one after another in the same Blender and returns the pixels.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "blender_process.h"
#include "curve_auth.h"
#include "farm_files.h"
#include "mdns_advert.h"
#include "outbox.h"
#include "messages.h"
#include "scene_cache.h"
#include "scene_fetch.h"
#include "served_job.h"
#include "warm_job.h"
#include "work_dir.h"

namespace bnr::agent {

struct AgentConfig {
  int port = 7300;               // 0: any free port, printed as "port N" on stdout
  std::string bind = "*";        // interface address to listen on
  int threads = 0;               // Blender render threads, 0 = all cores
  std::string name;              // defaults to the host name
  std::string blender = "blender";
  // Cycles' device (bnr-agent --device): CPU, CUDA, OPTIX, HIP, ONEAPI or METAL. The agent
  // asks Blender at start-up and refuses to start when it is not there.
  std::string device = "CPU";
  bool mdns = true;
  bool quiet = false;
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds broker_timeout{30000};  // a silent broker's job is dropped
  // A busy Blender (loading, or rendering a region) that gains no CPU time and prints nothing
  // for this long is hung: it is killed, and restarted unless it was still loading. Zero: off.
  std::chrono::seconds stall_timeout{120};
  // How long a finished job's Blender stays loaded for a next job of the same scene (files,
  // frame, settings); zero stops it with its job. Its files stay under the cache until then.
  // Above zero the agent also keeps one Blender started while it has none (a spare, no scene
  // loaded), and a job of another scene opens its scene in the warm Blender: either way a job
  // does not wait for Blender to start.
  std::chrono::seconds keep_warm{300};
  std::filesystem::path work_dir;  // empty: a fresh directory under the system temp dir
  // Scene files by content hash, kept between jobs. Empty: default_cache_dir(), or a private
  // one under work_dir when another agent on this machine holds that.
  std::filesystem::path cache_dir;
  std::uint64_t cache_limit = std::uint64_t{20} << 30;
  int fetch_window = 8;  // FetchChunk requests in flight: the flow control of a transfer
  std::uint64_t chunk_bytes = 1 << 20;
  // CURVE: the brokers served are those whose public keys (Z85) are given here or listed in
  // config_dir/authorized_brokers, or any broker with trust_any. The agent's own key pair is
  // config_dir/agent.key, made on first start. Empty config_dir: protocol::config_dir().
  std::vector<std::string> authorized_brokers;
  bool trust_any = false;
  std::filesystem::path config_dir;
};

// $BNR_CACHE_DIR, else $XDG_CACHE_HOME/bnr/agent, else ~/.cache/bnr/agent.
[[nodiscard]] std::filesystem::path default_cache_dir();

class AgentServer {
 public:
  // Checks Blender and binds the socket. Throws std::runtime_error with a one-line reason.
  explicit AgentServer(AgentConfig config);
  ~AgentServer();
  AgentServer(const AgentServer&) = delete;
  AgentServer& operator=(const AgentServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  // This agent's CURVE public key (Z85): what brokers need to connect to it.
  [[nodiscard]] const std::string& public_key() const { return keys_.public_key; }
  // Serves until `stop` becomes non-zero (set from a signal handler).
  void run(const volatile std::sig_atomic_t& stop);

 private:
  struct Job {
    explicit Job(ServedJob s) : session(std::move(s)) {}
    std::string broker;      // ZeroMQ routing id of the broker that opened it
    std::string broker_key;  // its CURVE public key, from the ZAP handler
    protocol::OpenJob open;
    std::filesystem::path dir;
    BlenderConfig blender_config;
    std::unique_ptr<BlenderProcess> blender;
    // The decisions once the files are in: regions, worker replies, restarts, liveness, stalls.
    ServedJob session;
    std::filesystem::path tree;  // the job's files, mirrored under the cache directory
    std::optional<SceneFetch> fetch;  // the files the cache lacks, until they are in
    protocol::SceneTransfer transfer;
    std::chrono::steady_clock::time_point fetch_started;
    std::chrono::steady_clock::time_point progress_read;  // Blender's CPU time, for the stall watch
    // What could not be sent while the broker's link was down: sent when it is heard again.
    Outbox outbox{64, std::uint64_t{1} << 30};
  };

  // A finished job's Blender with its scene loaded, kept for a next job of the same scene.
  // Only while no job is open: a new job either takes it over or stops it.
  struct WarmBlender {
    protocol::OpenJob open;  // the job it was loaded for
    BlenderConfig blender_config;
    std::unique_ptr<BlenderProcess> blender;
    protocol::SceneInfo scene;
    std::filesystem::path dir;   // the job's work directory, named after its first job id
    std::filesystem::path tree;  // the files Blender loaded: kept while it lives
    std::optional<protocol::RenderRegion> abandoned;
    std::chrono::steady_clock::time_point parked_at;
  };

  void handle_network(std::chrono::steady_clock::time_point now);
  // `key`: the sender's CURVE public key (the ZAP user id of its connection).
  void handle_message(const std::string& from, const std::string& key, const protocol::Message& message,
                      std::string_view bulk, std::chrono::steady_clock::time_point now);
  void open_job(const std::string& from, const std::string& key, const protocol::OpenJob& open,
                std::chrono::steady_clock::time_point now);
  // False (and the job failed) when the disk cannot hold the files still to fetch.
  [[nodiscard]] bool make_room(const std::set<std::string>& keep);
  void request_chunks();
  void receive_chunk(const protocol::FileChunk& chunk, std::string_view bytes);
  void start_blender();
  void start_blender_process();
  // A Blender with no scene yet, started while none runs (keep_warm above zero).
  void identify_blender();
  void start_spare(bool quiet = false);
  // What every Blender of this agent is started with, whatever its job.
  [[nodiscard]] BlenderConfig process_config() const;
  void handle_worker(std::chrono::steady_clock::time_point now);
  // Carries out what the job's session decided, in order; stops when one ends the job.
  void perform(const Actions& actions);
  void render(const action::Render& render);
  void deliver(const action::Deliver& done);
  void fail_job(protocol::Code code, const std::string& reason);
  // Ends the open job; its Blender stays warm (unless `keep_warm` is false or it is not
  // ready), otherwise its files go.
  void end_job(const char* why, bool keep_warm = true);
  [[nodiscard]] bool adopt_warm_blender(std::chrono::steady_clock::time_point now);
  void handle_warm(std::chrono::steady_clock::time_point now);
  void discard_warm(const char* why);
  // To the job's broker; what cannot be sent now waits in the job's outbox (heartbeats
  // excepted: the next one will do).
  void send(const protocol::Message& message, std::string_view bulk = {});
  [[nodiscard]] bool send_now(const protocol::Message& message, std::string_view bulk);
  void flush_outbox();
  // Refused, with this agent's info (what bnr-broker --check shows of it).
  void refuse(const std::string& to, const std::string& reason, protocol::Code code);
  void log(const std::string& line) const;
  void set_up_curve(const std::filesystem::path& config_dir);
  // The advert's join proofs for the farms in joined_farms, when the file changed since the
  // last call (the first call reads it).
  std::optional<std::string> changed_join_proofs();
  void handle_zap();
  void handle_handshake_events();

  AgentConfig config_;
  std::string blender_version_;
  std::string device_;  // as Blender reports it, e.g. "CPU", "OPTIX: NVIDIA RTX A4000"
  // What brokers learn about this agent (advert, JobReady).
  [[nodiscard]] protocol::AgentInfo info() const;
  std::string agent_id_;
  std::unique_ptr<WorkDir> work_dir_holder_;
  std::filesystem::path work_dir_;
  std::filesystem::path script_path_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  int port_ = 0;
  protocol::CurveKeyPair keys_;
  std::unique_ptr<protocol::BrokerAuthorizer> authorizer_;
  zmq::socket_t zap_;         // the ZAP handler: libzmq asks it about every broker's key
  zmq::socket_t handshakes_;  // socket_'s monitor: failed handshakes never reach socket_
  long long refused_ = 0;
  long long failed_handshakes_ = 0;
  std::unique_ptr<protocol::JoinedFarmsFile> joined_farms_;
  std::unique_ptr<MdnsAdvert> mdns_;  // null: not advertised (--no-mdns, or no avahi-daemon)
  std::unique_ptr<SceneCache> cache_;
  std::optional<Job> job_;
  std::optional<WarmBlender> warm_;
  // A started Blender waiting for a job's scene: the next job opens its scene in it. Declared
  // after work_dir_holder_: it stops before the worker script it runs is removed.
  std::unique_ptr<BlenderProcess> spare_;
  long long malformed_ = 0;
  protocol::SceneTransfer lifetime_;  // all jobs since start: what "nothing re-sent" is checked by
};

}  // namespace bnr::agent
