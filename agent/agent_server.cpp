#include "agent_server.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include "blender_version.h"
#include "device_probe.h"
#include "disk_space.h"
#include "host_name.h"
#include "overloaded.h"
#include "region_payload.h"
#include "transport.h"
#include "work_dir.h"
#include "scene_analysis_script.h"
#include "worker_script.h"

namespace bnr::agent {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxBlenderRestarts = 3;  // per job; then the job fails on this agent
// A Blender starts in about a second, a cold one from a slow disk in several: one that says
// nothing for this long is asked again the slow way, which names what is wrong.
constexpr auto kSpareReportWait = std::chrono::seconds(10);
// Where Blender writes a region's images, under the job's work directory.
std::string region_dir_name(std::uint64_t region_id) {
  return region_id == ServedJob::kWarmUpRegion ? "warm-up" : "r" + std::to_string(region_id);
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// A file name the job's scene can safely live under, whatever the broker called it.
std::string safe_job_dir_name(const std::string& job_id) {
  std::string out = "job-";
  for (char c : job_id) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out.substr(0, 80);
}

// A job's working directory and its mirrored file tree; only once its Blender is stopped.
void remove_job_files(const fs::path& dir, const fs::path& tree) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::remove_all(tree, ec);
}

}  // namespace

fs::path default_cache_dir() {
  if (const char* d = std::getenv("BNR_CACHE_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') return fs::path(x) / "bnr" / "agent";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return fs::path(h) / ".cache" / "bnr" / "agent";
  return fs::temp_directory_path() / "bnr-agent-cache";
}

AgentServer::AgentServer(AgentConfig config)
    : config_(std::move(config)), context_(1), socket_(context_, zmq::socket_type::router) {
  if (config_.name.empty()) config_.name = tools::host_name();
  // Stable across restarts, so brokers can keep what they learned about this agent's speed.
  agent_id_ = tools::host_name() + "/" + config_.name + (config_.port != 0 ? ":" + std::to_string(config_.port) : "");

  work_dir_holder_ = std::make_unique<WorkDir>(config_.work_dir);
  work_dir_ = work_dir_holder_->path();
  script_path_ = work_dir_ / "bnr_blender_worker.py";
  write_file(script_path_, worker_script());
  write_file(work_dir_ / "scene_analysis.py", scene_analysis_script());  // the worker imports it
  identify_blender();  // work_dir_holder_ cleans up on a throw
  // A crashed agent's work directories hold its job directories and region images. (After
  // the checks: an agent that cannot run says so in one line.)
  if (config_.work_dir.empty())
    for (const fs::path& orphan : remove_orphan_work_dirs(fs::temp_directory_path()))
      log("removed " + orphan.string() + ", left by an agent that did not stop cleanly");
  if (!config_.cache_dir.empty()) {
    cache_ = std::make_unique<SceneCache>(config_.cache_dir, config_.cache_limit);
  } else {
    try {
      cache_ = std::make_unique<SceneCache>(default_cache_dir(), config_.cache_limit);
    } catch (const std::exception& e) {
      // Typically a second agent on this machine: it still works, without a lasting cache.
      log(std::string("scene cache: ") + e.what() + "; using a private one until this agent stops");
      cache_ = std::make_unique<SceneCache>(work_dir_ / "cache", config_.cache_limit);
    }
  }

  socket_.set(zmq::sockopt::maxmsgsize, protocol::kMaxFrameBytes);
  socket_.set(zmq::sockopt::linger, 1000);
  // A broker whose link dropped reconnects under the same routing id: its new connection
  // replaces the dead one (which may not have timed out yet) instead of being refused.
  socket_.set(zmq::sockopt::router_handover, 1);
  // A send to a broker that is not connected fails, rather than vanishing: results wait in
  // the job's outbox for its return.
  socket_.set(zmq::sockopt::router_mandatory, 1);
  const fs::path config_dir = config_.config_dir.empty() ? protocol::config_dir() : config_.config_dir;
  set_up_curve(config_dir);
  const std::string endpoint =
      "tcp://" + config_.bind + ":" + (config_.port == 0 ? std::string("*") : std::to_string(config_.port));
  try {
    socket_.bind(endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("cannot listen on " + endpoint + ": " + e.what());
  }
  const std::string last = socket_.get(zmq::sockopt::last_endpoint);
  port_ = std::stoi(last.substr(last.rfind(':') + 1));
  joined_farms_ = std::make_unique<protocol::JoinedFarmsFile>(config_dir / "joined_farms");
  if (config_.mdns) {
    try {
      mdns_ = std::make_unique<MdnsAdvert>(
          info(), port_, keys_.public_key,
          changed_join_proofs().value_or(""));
    } catch (const std::exception& e) {
      // Brokers can still reach this agent with --agent HOST:PORT.
      std::cerr << "bnr-agent: warning: not advertised on the LAN: " << e.what() << std::endl;
    }
  }
  log("listening on port " + std::to_string(port_) + " as '" + config_.name + "', Blender " +
      blender_version_ + " on " + device_ +
      (config_.threads > 0 ? ", " + std::to_string(config_.threads) + " threads" : "") +
      "; key " + keys_.public_key);
}

protocol::AgentInfo AgentServer::info() const {
  return {config_.name, agent_id_, config_.threads, blender_version_, device_};
}

void AgentServer::refuse(const std::string& to, const std::string& reason, protocol::Code code) {
  protocol::send_message(socket_, protocol::Refused{reason, code, info()}, {}, to);
}

// Every connection is CURVE: encrypted, and the broker proves it holds the secret key of the
// public key the ZAP handler is asked about. Both sockets live in this thread's poll loop.
void AgentServer::set_up_curve(const fs::path& config_dir) {
  keys_ = protocol::load_or_create_key_pair(config_dir / "agent.key", "bnr-agent");
  authorizer_ = std::make_unique<protocol::BrokerAuthorizer>(config_.authorized_brokers,
                                                             config_dir / "authorized_brokers", config_.trust_any);
  for (const std::string& problem : authorizer_->take_problems())
    std::cerr << "bnr-agent: warning: " << problem << std::endl;
  // The handler must be bound before the first broker connects: without one, libzmq would
  // accept every CURVE client.
  zap_ = zmq::socket_t(context_, zmq::socket_type::rep);
  zap_.set(zmq::sockopt::linger, 0);
  try {
    zap_.bind(protocol::kZapEndpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error(std::string("cannot start the broker authorization (ZAP) handler: ") + e.what());
  }
  protocol::set_curve_server(socket_, keys_);
  handshakes_ = protocol::monitor_handshakes(socket_, context_, "bnr-agent-handshakes");
  if (authorizer_->trust_any()) {
    std::cerr << "bnr-agent: warning: --trust-any: any broker that can reach this agent may use it "
                 "(connections are still encrypted)"
              << std::endl;
  } else if (authorizer_->count() == 0) {
    std::cerr << "bnr-agent: no broker is authorized yet, so every broker is refused; join one's farm with "
                 "bnr-agent --join TOKEN (bnr-broker --join-token prints TOKEN), or authorize one with "
                 "bnr-agent --authorize 'KEY' (bnr-broker --show-key prints KEY) or add KEY to "
              << authorizer_->file().string() << std::endl;
  }
}

void AgentServer::handle_zap() {
  while (const std::optional<protocol::ZapRequest> request = protocol::receive_zap_request(zap_)) {
    const protocol::BrokerAuthorizer::Verdict verdict = authorizer_->check(request->client_key);
    protocol::send_zap_reply(zap_, *request, verdict.allowed, verdict.allowed ? "OK" : "broker key not authorized");
    for (const std::string& problem : authorizer_->take_problems()) log("warning: " + problem);
    if (verdict.allowed) {
      log("broker at " + request->address + " authenticated: key " + protocol::short_key(request->client_key) +
          " (" + verdict.source + ")");
    } else {
      ++refused_;
      log("refused a broker at " + request->address + " (" + std::to_string(refused_) +
          " so far): its key is not authorized; to serve it run bnr-agent --authorize " +
          protocol::shell_quoted(request->client_key) + " or add the key to " + authorizer_->file().string());
    }
  }
}

void AgentServer::handle_handshake_events() {
  while (const std::optional<protocol::SocketEvent> event = protocol::receive_event(handshakes_)) {
    std::string why;
    if (event->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
      why = event->value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC       ? "it does not have this agent's key"
            : event->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? "it does not use CURVE"
                                                                         : "protocol error " + std::to_string(event->value);
    else if (event->event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
      why = "the client hung up (not a CURVE client, or it does not have this agent's key)";
    if (why.empty()) continue;  // refusals were logged by handle_zap; successes are not news
    ++failed_handshakes_;
    log("a connection failed its CURVE handshake (" + std::to_string(failed_handshakes_) + " so far): " + why);
  }
}

AgentServer::~AgentServer() {
  if (job_) end_job(nullptr, /*keep_warm=*/false);  // stops Blender before its files go
  if (warm_) discard_warm(nullptr);
}

std::optional<std::string> AgentServer::changed_join_proofs() {
  const std::optional<protocol::JoinedFarms> farms = joined_farms_->changed();
  if (!farms) return std::nullopt;
  for (const std::string& problem : farms->problems) log("warning: joined_farms " + problem);
  return protocol::join_proofs(farms->farms, keys_.public_key);
}

void AgentServer::log(const std::string& line) const {
  if (!config_.quiet) std::cerr << "bnr-agent: " << line << std::endl;
}

void AgentServer::send(const protocol::Message& message, std::string_view bulk) {
  if (!job_) return;
  job_->session.sent(Clock::now());
  if (std::holds_alternative<protocol::Heartbeat>(message)) {
    (void)send_now(message, bulk);
    return;
  }
  if (job_->outbox.empty() && send_now(message, bulk)) return;
  for (const Outbox::Item& lost : job_->outbox.push({message, std::string(bulk)}))
    log(std::string("dropped an unsent ") + protocol::kind_name(lost.message) + ": too much waits for the broker");
  log(std::string("could not send ") + protocol::kind_name(message) + " to the broker; " +
      std::to_string(job_->outbox.size()) + " message(s) wait until it is heard again");
}

bool AgentServer::send_now(const protocol::Message& message, std::string_view bulk) {
  return protocol::send_message(socket_, message, bulk, job_->broker);
}

void AgentServer::flush_outbox() {
  if (job_->outbox.empty()) return;
  const std::size_t sent = job_->outbox.flush([&](const Outbox::Item& i) { return send_now(i.message, i.bulk); });
  if (sent > 0)
    log("sent " + std::to_string(sent) + " message(s) that waited for the broker; " +
        std::to_string(job_->outbox.size()) + " still wait");
}

void AgentServer::run(const volatile std::sig_atomic_t& stop) {
  while (stop == 0) {
    std::vector<zmq::pollitem_t> items = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0},
                                          {static_cast<void*>(zap_), 0, ZMQ_POLLIN, 0},
                                          {static_cast<void*>(handshakes_), 0, ZMQ_POLLIN, 0}};
    const std::size_t mdns_item = items.size();
    if (mdns_) items.push_back({nullptr, mdns_->fd(), ZMQ_POLLIN, 0});
    BlenderProcess* blender = job_ && job_->blender ? job_->blender.get() : warm_ ? warm_->blender.get() : nullptr;
    if (blender != nullptr) {
      items.push_back({nullptr, blender->reply_fd(), ZMQ_POLLIN, 0});
      items.push_back({nullptr, blender->log_fd(), ZMQ_POLLIN, 0});
    }
    try {
      zmq::poll(items, std::chrono::milliseconds(200));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    const auto now = Clock::now();
    handle_zap();
    handle_handshake_events();
    if (mdns_ && (items[mdns_item].revents & ZMQ_POLLIN) != 0) {
      if (auto event = mdns_->process()) log(*event);
      if (mdns_->failed()) mdns_.reset();
    }
    // A bnr-agent --join while this agent runs: its advert vouches for the new farm at once.
    if (const auto proofs = mdns_ ? changed_join_proofs() : std::nullopt; proofs && mdns_->set_join_proofs(*proofs))
      log("mDNS: the advert now carries the farms in joined_farms");
    handle_network(now);
    if (job_ && job_->blender) handle_worker(now);
    if (warm_) handle_warm(now);
    if (job_) perform(job_->session.on_tick(now));
    // Waiting on would hang the job while heartbeats go on.
    if (job_ && job_->fetch && job_->fetch->stalled(now))
      fail_job(protocol::Code::kTransferBroken, "the broker stopped sending scene files");
  }
  if (job_) end_job("the agent is stopping", /*keep_warm=*/false);
  if (warm_) discard_warm("the agent is stopping");
}

void AgentServer::handle_network(Clock::time_point now) {
  while (auto received = protocol::receive_message(socket_, /*router=*/true)) {
    if (!received->decoded.packet) {
      ++malformed_;
      log("dropped a message (" + std::to_string(malformed_) + " so far): " + received->decoded.error);
      // Tell an honest peer with another version why; garbage gets the same one-line answer.
      refuse(received->routing_id, received->decoded.error, protocol::Code::kBadMessage);
      continue;
    }
    handle_message(received->routing_id, received->user_id, received->decoded.packet->message,
                   received->decoded.packet->bulk, now);
  }
}

void AgentServer::handle_message(const std::string& from, const std::string& key, const protocol::Message& message,
                                 std::string_view bulk, Clock::time_point now) {
  // True when the message is about the open job and from its broker (which is then heard).
  const auto from_our_broker = [&](const std::string& job_id, bool refuse_others) {
    const bool ours = job_ && from_held_broker({job_->broker, job_->broker_key, job_->open.fingerprint,
                                                job_->session.last_heard()},
                                               job_->open.job_id, from, key, job_id);
    if (!ours) {
      if (refuse_others) refuse(from, "no open job from this broker", protocol::Code::kNoJob);
      return false;
    }
    if (job_->broker != from) {
      log("job " + job_->open.job_id + ": its broker is back over a new connection");
      job_->broker = from;
    }
    job_->session.heard(now);
    flush_outbox();
    return job_id == job_->open.job_id;
  };
  std::visit(
      protocol::Overloaded{
          [&](const protocol::OpenJob& open) { open_job(from, key, open, now); },
          [&](const protocol::FileChunk& chunk) {
            if (from_our_broker(chunk.job_id, true)) receive_chunk(chunk, bulk);
          },
          [&](const protocol::RenderRegion& region) {
            if (from_our_broker(region.job_id, true)) perform(job_->session.on_region(region, now));
          },
          [&](const protocol::CancelRegion& cancel) {
            if (from_our_broker(cancel.job_id, true)) job_->session.on_cancel(cancel.region_id);
          },
          [&](const protocol::CloseJob& close) {
            if (from_our_broker(close.job_id, false))
              end_job(close.discard ? "the broker cancelled the job" : "the broker closed the job", !close.discard);
          },
          [&](const protocol::Heartbeat& beat) { (void)from_our_broker(beat.job_id, false); },
          // What agents send: a broker never should; it still counts as hearing from ours.
          [&](const auto& m)
            requires protocol::OneOf<std::decay_t<decltype(m)>, protocol::JobReady, protocol::JobFailed,
                                     protocol::RegionDone, protocol::RegionFailed, protocol::FetchChunk>
          { (void)from_our_broker(m.job_id, true); },
          [&](const protocol::Refused&) { (void)from_our_broker({}, true); },
      },
      message);
}

void AgentServer::open_job(const std::string& from, const std::string& key, const protocol::OpenJob& open,
                           Clock::time_point now) {
  std::optional<HeldJob> held;
  if (job_) held = HeldJob{job_->broker, job_->broker_key, job_->open.fingerprint, job_->session.last_heard()};
  // A live broker is heard every heartbeat; one silent for several was killed or cut off,
  // and its restarted self (resuming from its spool) should not wait for broker_timeout.
  const OpenAction action = decide_open(held, {from, key, open.fingerprint}, now, 3 * config_.heartbeat_interval);
  switch (action) {
    case OpenAction::kRefuseBusy:
      refuse(from, "busy with another broker's job", protocol::Code::kBusy);
      return;
    case OpenAction::kTakeOver: end_job("a restarted run of its broker took it over"); break;
    case OpenAction::kReplaceSilent: end_job("its broker went silent and another one opened a job"); break;
    case OpenAction::kNextJob: end_job("the broker opened a new job"); break;
    case OpenAction::kOpen: break;
  }
  // One Blender at a time: a warm one for another scene opens this job's scene instead (unless
  // it still renders a region of an earlier broker run; then it makes way for a fresh one).
  if (warm_ && !same_blender_job(warm_->open, open)) {
    if (!warm_->abandoned && !warm_->blender->ended() && !spare_) {
      log("job " + open.job_id + " will open its scene in the warm Blender of job " + warm_->open.job_id +
          " (another scene or setting)");
      spare_ = std::move(warm_->blender);
      discard_warm(nullptr);
    } else {
      discard_warm("a job of another scene or setting opened");
    }
  }
  job_.emplace(ServedJob(open.job_id,
                          {kMaxBlenderRestarts, config_.heartbeat_interval, config_.broker_timeout,
                           config_.stall_timeout},
                          now));
  job_->broker = from;
  job_->broker_key = key;
  job_->transfer.took_over = action == OpenAction::kTakeOver;
  job_->open = open;
  job_->fetch_started = now;
  job_->dir = work_dir_ / safe_job_dir_name(open.job_id);
  job_->tree = cache_->dir() / "jobs" / safe_job_dir_name(open.job_id);
  // Everything the broker sent is checked before a byte is fetched or a file is made.
  std::set<std::string> hashes;
  std::deque<protocol::SceneFile> missing;
  std::uint64_t total = 0;
  for (const protocol::SceneFile& f : open.files) {
    if (!safe_tree_path(f.path)) {
      fail_job(protocol::Code::kBadFiles, "refusing a scene file path that could leave the cache directory: " + f.path.substr(0, 200));
      return;
    }
    if (!hashes.insert(f.hash).second) continue;
    if (f.size > cache_->limit_bytes() || total + f.size > cache_->limit_bytes()) {
      fail_job(protocol::Code::kCacheLimit, "the scene's files exceed this agent's cache limit of " + format_mib(cache_->limit_bytes()) +
               " (bnr-agent --cache-size)");
      return;
    }
    total += f.size;
    if (cache_->has(f.hash) || warm_) ++job_->transfer.files_cached;
    else missing.push_back(f);
  }
  log("job " + open.job_id + ": " + open.scene_name + ", " + std::to_string(open.files.size()) + " files (" +
      format_mib(total) + "), " + std::to_string(missing.size()) + " to fetch");
  job_->fetch.emplace(open.job_id, std::move(missing), FetchLimits{config_.fetch_window, config_.chunk_bytes});
  cache_->drop_partials_except(hashes);  // transfers of other scenes' files are not resumed
  if (!make_room(hashes)) return;
  if (adopt_warm_blender(now)) return;
  request_chunks();
}

// Eviction by the cache limit happens once the files are in; a disk that is short before that
// gets unused cached files evicted now, and the job fails with what is missing if that is not
// enough (better than a write error half-way through a transfer).
bool AgentServer::make_room(const std::set<std::string>& keep) {
  const std::uint64_t need = job_->fetch->bytes_to_fetch();
  std::optional<std::uint64_t> free = free_disk_bytes(cache_->dir());
  if (need == 0 || !free || *free >= need) return true;  // unknown: a failed write will say why
  std::uint64_t freed = 0;
  try {
    freed = cache_->free_up(keep, need - *free);
  } catch (const std::exception& e) {
    fail_job(protocol::Code::kDiskFull, e.what());
    return false;
  }
  if (freed > 0) {
    log("job " + job_->open.job_id + ": evicted " + format_mib(freed) + " of cached files to make room");
    free = free_disk_bytes(cache_->dir());
  }
  if (const std::optional<std::string> why = disk_full_reason(need, free.value_or(0), cache_->dir())) {
    fail_job(protocol::Code::kDiskFull, *why);
    return false;
  }
  return true;
}

void AgentServer::request_chunks() {
  FetchStep step;
  try {
    step = job_->fetch->next(*cache_, Clock::now());
  } catch (const std::exception& e) {
    fail_job(protocol::Code::kDiskFull, e.what());
    return;
  }
  for (const std::string& line : step.log) log("job " + job_->open.job_id + ": " + line);
  if (job_->fetch->done()) {
    start_blender();
    return;
  }
  for (const protocol::FetchChunk& request : step.requests) send(request);
}

void AgentServer::receive_chunk(const protocol::FileChunk& chunk, std::string_view bytes) {
  if (!job_->fetch) return;  // the files are in: a stale or unsolicited answer
  try {
    switch (job_->fetch->receive(*cache_, chunk, bytes, Clock::now())) {
      case SceneFetch::Answer::kNotAsked: return;
      case SceneFetch::Answer::kWrong:
        fail_job(protocol::Code::kTransferBroken, "the broker sent file bytes that were not asked for");
        return;
      case SceneFetch::Answer::kTaken: break;
    }
  } catch (const std::exception& e) {
    fail_job(protocol::Code::kDiskFull, e.what());
    return;
  }
  request_chunks();
}

void AgentServer::start_blender() {
  protocol::SceneTransfer& t = job_->transfer;
  t.fetch_seconds = std::chrono::duration<double>(Clock::now() - job_->fetch_started).count();
  t.files_fetched = job_->fetch->files_fetched();
  t.bytes_fetched = job_->fetch->bytes_fetched();
  job_->fetch.reset();
  lifetime_.files_cached += t.files_cached;
  lifetime_.files_fetched += t.files_fetched;
  lifetime_.bytes_fetched += t.bytes_fetched;
  log("job " + job_->open.job_id + ": " + std::to_string(t.files_cached) + " files cached, " +
      std::to_string(t.files_fetched) + " fetched (" + format_mib(t.bytes_fetched) + "); since start " +
      std::to_string(lifetime_.files_fetched) + " fetched (" + format_mib(lifetime_.bytes_fetched) + ")");
  try {
    std::set<std::string> keep;
    for (const protocol::SceneFile& f : job_->open.files) {
      keep.insert(f.hash);
      cache_->touch(f.hash);
    }
    cache_->evict(keep);
    fs::remove_all(job_->tree);
    cache_->materialize(job_->open.files, job_->tree);
    fs::remove_all(job_->dir);
    fs::create_directories(job_->dir);
    BlenderConfig& bc = job_->blender_config;
    bc = process_config();
    bc.scene = job_->tree / job_->open.files[job_->open.main_file].path;
    bc.tree_root = job_->tree;
    bc.no_denoise = job_->open.no_denoise;
    if (job_->open.set_frame) bc.frame = job_->open.frame;
  } catch (const std::exception& e) {
    fail_job(protocol::Code::kBlenderFailed, e.what());
    return;
  }
  start_blender_process();
}

BlenderConfig AgentServer::process_config() const {
  BlenderConfig c;
  c.blender = config_.blender;
  c.threads = config_.threads;
  c.device = config_.device;
  c.script = script_path_;
  return c;
}

// Asked of Blender before the agent listens: its version and the device brokers see in the
// advert and JobReady. The spare answers both as it starts, so the agent listens after one
// Blender start, not three, with a Blender ready for the first job. Without its answer
// (no spare kept, or it died or said nothing usable), `--version` and the probe say why.
void AgentServer::identify_blender() {
  start_spare(/*quiet=*/true);  // if it cannot start, the checks below say what is wrong
  if (spare_)
    if (const auto report = spare_->await_spare_report(kSpareReportWait))
      if (const auto identity = identity_from_spare(config_.device, *report)) {
        blender_version_ = identity->version;
        device_ = identity->device;
        return;
      }
  blender_version_ = tools::check_blender(config_.blender).str();
  device_ = probe_device(config_.blender, config_.device, script_path_);
  if (spare_ && spare_->ended()) spare_.reset();
  start_spare();
}

void AgentServer::start_spare(bool quiet) {
  if (spare_ || config_.keep_warm.count() <= 0) return;
  try {
    spare_ = std::make_unique<BlenderProcess>(process_config());
  } catch (const std::exception& e) {
    spare_.reset();
    if (!quiet) log(std::string("could not start a spare Blender (jobs will start their own): ") + e.what());
  }
}

void AgentServer::start_blender_process() {
  job_->blender.reset();
  // Every Blender of this agent starts from process_config() (the agent's settings do not
  // change while it runs), so a spare that is alive can serve any job.
  std::unique_ptr<BlenderProcess> spare = std::move(spare_);
  if (spare && !spare->ended()) {
    job_->blender = std::move(spare);
    job_->blender->open(job_->blender_config);
    log("job " + job_->open.job_id + ": opening the scene in an already started Blender (pid " +
        std::to_string(job_->blender->pid()) + ")");
    job_->session.blender_started(Clock::now());
    return;
  }
  spare.reset();
  try {
    job_->blender = std::make_unique<BlenderProcess>(job_->blender_config);
  } catch (const std::exception& e) {
    fail_job(protocol::Code::kBlenderFailed, e.what());
    return;
  }
  job_->session.blender_started(Clock::now());
}

void AgentServer::handle_worker(Clock::time_point now) {
  job_->blender->read_log();
  for (const WorkerLine& line : job_->blender->read_replies()) {
    perform(job_->session.on_worker(line, now));
    if (!job_ || !job_->blender) return;
  }
  if (job_->blender->ended()) {
    job_->blender->read_log();
    perform(job_->session.on_blender_exit("Blender exited: " + job_->blender->blender_reason()));
    return;
  }
  // /proc is read once a second at most.
  if (now - job_->progress_read >= std::chrono::seconds(1)) {
    job_->progress_read = now;
    perform(job_->session.on_progress(
        now, {process_tree_cpu(job_->blender->pid()), job_->blender->take_output()}));
  }
}

void AgentServer::perform(const Actions& actions) {
  for (const Action& a : actions) {
    if (!job_) return;  // an earlier action ended the job: the rest were for it
    std::visit(protocol::Overloaded{
                   [&](const action::Send& m) { send(m.message); },
                   [&](const action::Render& r) { render(r); },
                   [&](const action::Deliver& d) { deliver(d); },
                   [&](const action::Discard& d) {
                     std::error_code ec;
                     fs::remove_all(job_->dir / region_dir_name(d.region_id), ec);
                   },
                   [&](const action::SendReady& r) {
                     send(protocol::JobReady{job_->open.job_id, info(), r.scene, job_->transfer});
                   },
                   [&](const action::RestartBlender& r) {
                     if (r.hung && job_->blender) job_->blender->kill();
                     start_blender_process();
                   },
                   [&](const action::FailJob& f) {
                     if (f.hung && job_->blender) job_->blender->kill();
                     fail_job(f.code, f.reason);
                   },
                   [&](const action::EndJob& e) { end_job(e.why.c_str()); },
                   [&](const action::Log& l) { log(l.line); },
               },
               a);
  }
}

void AgentServer::render(const action::Render& r) {
  const fs::path dir = job_->dir / region_dir_name(r.region.region_id);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  const protocol::SceneInfo& scene = job_->session.scene();
  job_->blender->send(render_command(r.region.region_id, r.region.rect, scene.width, scene.height, dir.string(),
                                     job_->open.want_exr && !r.warm_up,
                                     r.warm_up ? protocol::PassMode::kNone : r.region.passes));
}

void AgentServer::deliver(const action::Deliver& d) {
  const protocol::RenderRegion& region = d.region;
  const fs::path region_dir = job_->dir / region_dir_name(region.region_id);
  try {
    const std::uint32_t views = job_->session.scene().view_count();
    RegionPayload payload =
        read_region_payload(d.done, region.rect, views, job_->open.want_exr, region.passes != protocol::PassMode::kNone);
    protocol::RegionDone done{job_->open.job_id, region.region_id, region.rect, views, job_->open.want_exr, d.seconds};
    done.passes = std::move(payload.passes);
    send(std::move(done), payload.bulk);
  } catch (const std::exception& e) {
    log("region " + std::to_string(region.region_id) + " failed: " + e.what());
    send(protocol::RegionFailed{job_->open.job_id, region.region_id, e.what(), protocol::Code::kBlenderFailed});
  }
  std::error_code ec;
  fs::remove_all(region_dir, ec);
}

void AgentServer::fail_job(protocol::Code code, const std::string& reason) {
  log("job " + job_->open.job_id + " failed: " + reason);
  send(protocol::JobFailed{job_->open.job_id, reason, code});
  end_job(nullptr, /*keep_warm=*/false);
}

void AgentServer::end_job(const char* why, bool keep_warm) {
  if (why != nullptr)
    log("job " + job_->open.job_id + " ended (" + why + ") after " + std::to_string(job_->session.regions_done()) +
        " regions");
  // A Blender that is loaded and answering is worth keeping; one still loading, fetching or
  // restarting after a crash is not (a reload costs what waiting for it would).
  Job& j = *job_;
  if (keep_warm && config_.keep_warm.count() > 0 && j.blender && j.session.keepable() && !j.blender->ended()) {
    if (warm_) discard_warm("another Blender is kept warm");
    warm_.emplace();
    warm_->open = j.open;
    warm_->blender_config = j.blender_config;
    warm_->blender = std::move(j.blender);
    warm_->scene = j.session.scene();
    warm_->dir = j.dir;
    warm_->tree = j.tree;
    warm_->abandoned = j.session.busy_region();
    warm_->parked_at = Clock::now();
    log("keeping job " + j.open.job_id + "'s Blender warm for " + std::to_string(config_.keep_warm.count()) +
        " s (--keep-warm)" +
        (warm_->abandoned ? "; region " + std::to_string(warm_->abandoned->region_id) + " still renders" : ""));
    job_.reset();
    return;
  }
  const fs::path dir = job_->dir;
  const fs::path tree = job_->tree;
  job_.reset();  // stops Blender and drops a half-received file
  remove_job_files(dir, tree);
}

// The warm Blender serves the job just opened (the caller checked same_blender_job): the
// scene is loaded, so the job is ready at once with the SceneInfo of the earlier "ready".
bool AgentServer::adopt_warm_blender(Clock::time_point now) {
  if (!warm_ || !job_) return false;
  WarmBlender warm = std::move(*warm_);
  warm_.reset();
  Job& j = *job_;
  j.blender_config = warm.blender_config;
  j.blender = std::move(warm.blender);
  // The Blender loaded its scene from this tree (named after its first job's id): keep it.
  j.dir = warm.dir;
  j.tree = warm.tree;
  j.transfer.warm_blender = true;
  j.transfer.fetch_seconds = 0;
  log("job " + j.open.job_id + ": reusing the warm Blender of job " + warm.open.job_id + " (scene loaded" +
      (j.transfer.took_over ? ", taken over from an earlier run of the same broker" : "") + ")");
  perform(j.session.adopt_loaded(warm.scene, warm.abandoned, now));
  return true;
}

// The warm Blender says nothing unless it finishes an abandoned region or dies.
void AgentServer::handle_warm(Clock::time_point now) {
  warm_->blender->read_log();
  for (const WorkerLine& line : warm_->blender->read_replies()) {
    if (!warm_->abandoned || (line.kind != "done" && line.kind != "failed")) continue;
    log("dropped region " + std::to_string(warm_->abandoned->region_id) + " of an earlier broker run (" + line.kind +
        ")");
    std::error_code ec;
    fs::remove_all(warm_->dir / region_dir_name(warm_->abandoned->region_id), ec);
    warm_->abandoned.reset();
  }
  if (warm_->blender->ended()) {
    discard_warm("its Blender exited");
  } else if (warm_expired(warm_->parked_at, config_.keep_warm, now)) {
    discard_warm("--keep-warm time is up");
    start_spare();  // without the scene's memory, still started
  }
}

void AgentServer::discard_warm(const char* why) {
  if (why != nullptr) log("stopping the warm Blender of job " + warm_->open.job_id + " (" + why + ")");
  const fs::path dir = warm_->dir;
  const fs::path tree = warm_->tree;
  warm_.reset();  // stops Blender before its files go
  remove_job_files(dir, tree);
}

}  // namespace bnr::agent
