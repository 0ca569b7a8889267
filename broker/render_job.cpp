#include "render_job.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <unistd.h>

#include <zmq.hpp>

#include "chunk_reader.h"
#include "curve_auth.h"
#include "exr_file.h"
#include "frame_buffer.h"
#include "job_fingerprint.h"
#include "png_file.h"
#include "region_spool.h"
#include "split_check.h"
#include "transport.h"
#include "view_layout.h"

namespace bnr::broker {
namespace {

constexpr int kMaxFailuresPerRegion = 3;

std::string random_job_id() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

struct Link {
  enum class State { kOpening, kReady, kGone };
  std::string endpoint;
  zmq::socket_t socket;
  State state = State::kOpening;
  Clock::time_point last_heard;
  Clock::time_point last_sent;
  std::map<RegionId, protocol::Rect> rendering;  // rendered rectangle (margin included)
  std::string agent_id;                          // stable id the agent reported
  AgentReport report;
  int busy_refusals = 0;                         // "busy" answers to OpenJob so far
  std::optional<Clock::time_point> reopen_at;    // when to send OpenJob again after one
  std::optional<Clock::time_point> retry_at;     // when to ask the scheduler again for an idle agent
  std::string key;                               // the agent's CURVE public key; empty: unknown
  zmq::socket_t handshakes;                      // the socket's monitor: how handshakes went
  bool verified = false;                         // a CURVE handshake succeeded
  int failed_handshakes = 0;                     // in a row
};

// Handshakes an agent ended without a reason, in a row, before the broker gives up on it:
// the sign of a wrong agent key (the agent cannot read the broker's hello and hangs up).
// One may be a restarting agent; libzmq retries every 100 ms.
constexpr int kMaxFailedHandshakes = 3;

// A busy agent may be serving a broker that was just killed: agents hand over after a few
// silent heartbeats, so ask again a few times before giving up on it.
constexpr int kBusyRetries = 6;
constexpr auto kBusyRetryDelay = std::chrono::seconds(1);

class Job {
 public:
  Job(const JobOptions& options, const SceneManifest& manifest, zmq::context_t& context)
      : options_(options), manifest_(manifest), chunks_(manifest), context_(context), job_id_(random_job_id()),
        started_(Clock::now()), blender_version_(options.blender_version) {
    for (const std::string& endpoint : options.agents) add_link(endpoint, started_);
  }

  void add_link(const std::string& endpoint, Clock::time_point now) {
    Link link;
    link.endpoint = endpoint;
    link.socket = zmq::socket_t(context_, zmq::socket_type::dealer);
    link.socket.set(zmq::sockopt::linger, 1000);  // lets CloseJob out on the way down
    link.socket.set(zmq::sockopt::maxmsgsize, protocol::kMaxFrameBytes);
    if (options_.curve.public_key.empty()) throw std::runtime_error("this broker has no CURVE key pair");
    link.key = options_.agent_key ? options_.agent_key(endpoint) : std::string();
    // Without the agent's key a throw-away one makes sure no handshake can succeed, so nothing
    // is ever sent; the connection only shows whether something listens there.
    protocol::set_curve_client(link.socket, options_.curve,
                               link.key.empty() ? protocol::make_key_pair().public_key : link.key);
    link.handshakes = protocol::monitor_handshakes(link.socket, context_, "bnr-link-" + std::to_string(links_.size()));
    link.socket.connect("tcp://" + endpoint);
    link.last_heard = link.last_sent = now;
    link.report.name = endpoint;
    links_.push_back(std::move(link));
  }

  // Agents started after the job began (a laptop opened mid-render) join it like the others.
  void welcome_new_agents(Clock::time_point now) {
    if (!options_.discover_more || now - last_discovery_ < std::chrono::milliseconds(500)) return;
    last_discovery_ = now;
    for (const std::string& endpoint : options_.discover_more()) {
      if (std::any_of(links_.begin(), links_.end(), [&](const Link& l) { return l.endpoint == endpoint; })) continue;
      log(endpoint + " appeared on the LAN; it joins the job");
      add_link(endpoint, now);
      send(links_.size() - 1, open_);
    }
  }

  ~Job() {
    for (AgentId a = 0; a < links_.size(); ++a)
      if (links_[a].state != Link::State::kGone) send(a, protocol::CloseJob{job_id_, cancelled_});
  }

  JobSummary run(const volatile std::sig_atomic_t& stop) {
    try {
      return run_loop(stop);
    } catch (const std::runtime_error& e) {
      if (!spool_) throw;
      if (spooled_ + resumed_ == 0) {
        spool_->remove();  // nothing to resume: leave no directory behind
        throw;
      }
      throw std::runtime_error(std::string(e.what()) + "; " + std::to_string(spooled_ + resumed_) +
                               " finished regions are kept in " + spool_->dir().string() +
                               ": the same command resumes from them");
    }
  }

 private:
  JobSummary run_loop(const volatile std::sig_atomic_t& stop) {
    open_ = protocol::OpenJob{job_id_, options_.scene.filename().string(), !options_.exr.empty(),
                              options_.no_denoise, options_.frame.has_value(), options_.frame.value_or(1)};
    open_.files = manifest_.wire_files();
    open_.fingerprint = job_fingerprint(open_, options_.png, options_.exr, std::filesystem::current_path());
    for (AgentId a = 0; a < links_.size(); ++a) send(a, open_);

    Clock::time_point last_progress = started_;
    while (!scheduler_ || !scheduler_->finished()) {
      if (stop != 0) {
        cancelled_ = true;  // agents stop their Blenders rather than keep them warm
        throw std::runtime_error("interrupted; the job was cancelled on every agent");
      }
      poll_once();
      const auto now = Clock::now();
      for (AgentId a = 0; a < links_.size(); ++a) receive_from(a, now);
      check_handshakes(now);
      if (options_.on_idle) options_.on_idle();
      welcome_new_agents(now);
      check_liveness(now);
      if (scheduler_) retry_idle_agents(now);
      if (alive() == 0) throw std::runtime_error(no_agents_reason());
      if (scheduler_ && !options_.quiet && now - last_progress >= progress_interval()) {
        print_progress(now);
        last_progress = now;
      }
    }
    if (!options_.quiet) {
      print_progress(Clock::now());
      if (isatty(STDERR_FILENO)) std::cerr << "\n";
    }
    return finish();
  }

  // How each agent connection's CURVE handshake went. ZeroMQ drops a refused connection
  // without a word on the socket; its monitor is the only place that says why.
  void check_handshakes(Clock::time_point now) {
    for (AgentId a = 0; a < links_.size(); ++a) {
      Link& link = links_[a];
      while (link.state != Link::State::kGone) {
        const std::optional<protocol::SocketEvent> event = protocol::receive_event(link.handshakes);
        if (!event) break;
        const std::string why = handshake_problem(link, *event);
        if (why.empty()) continue;
        drop(a, why, now);
        // libzmq would go on reconnecting (zmq_disconnect does not stop a retry under way);
        // the socket of a gone link is not used again, and nothing on it can be delivered.
        link.socket.set(zmq::sockopt::linger, 0);
        link.socket.close();
      }
    }
  }

  // Empty while the connection may still work out; otherwise why the agent cannot be used.
  std::string handshake_problem(Link& link, const protocol::SocketEvent& event) {
    if (link.key.empty()) {
      if (event.event != ZMQ_EVENT_CONNECTED) return {};
      return "this broker does not know the agent's public key: give it as --agent " +
             protocol::shell_quoted(link.endpoint + "@KEY") + " (bnr-agent --show-key on that machine prints KEY)";
    }
    switch (event.event) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        link.failed_handshakes = 0;
        if (!link.verified && options_.on_agent_verified) options_.on_agent_verified(link.endpoint);
        link.verified = true;
        return {};
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        if (event.value == 400)
          return "the agent refused this broker's key; on that agent run: bnr-agent --authorize " +
                 protocol::shell_quoted(options_.curve.public_key) + " (or add the key to its authorized_brokers file)";
        return "the agent refused this broker (ZAP status " + std::to_string(event.value) + ")";
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if (event.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
          return "it does not use CURVE encryption: an older bnr-agent, or not a bnr-agent";
        [[fallthrough]];
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        if (++link.failed_handshakes < kMaxFailedHandshakes) return {};
        return "it hung up during the CURVE handshake " + std::to_string(link.failed_handshakes) +
               " times: its key is probably not " + protocol::short_key(link.key) +
               " (check --agent HOST:PORT@KEY and this broker's known_agents; bnr-agent --show-key on that "
               "machine prints its key)";
      default:
        return {};
    }
  }

  static std::chrono::milliseconds progress_interval() {
    return isatty(STDERR_FILENO) ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
  }

  void poll_once() {
    std::vector<zmq::pollitem_t> items;
    for (Link& l : links_)
      if (l.state != Link::State::kGone) items.push_back({static_cast<void*>(l.socket), 0, ZMQ_POLLIN, 0});
    for (int fd : options_.extra_poll_fds) items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
    try {
      zmq::poll(items, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }

  void send(AgentId a, const protocol::Message& message, std::string_view bulk = {}) {
    (void)protocol::send_message(links_[a].socket, message, bulk);
    links_[a].last_sent = Clock::now();
  }

  void log(const std::string& line) const {
    if (!options_.quiet) std::cerr << (isatty(STDERR_FILENO) ? "\r\033[K" : "") << "bnr-broker: " << line << "\n";
  }

  [[nodiscard]] std::size_t alive() const {
    std::size_t n = 0;
    for (const Link& l : links_) n += l.state != Link::State::kGone;
    return n;
  }

  [[nodiscard]] std::string no_agents_reason() const {
    if (links_.empty()) return "no agents to render on (start bnr-agent, or pass --agent HOST:PORT)";
    std::string why;
    for (const Link& l : links_) why += (why.empty() ? "" : "; ") + l.endpoint + ": " + l.report.note;
    return "no agent left to render on (" + why + ")";
  }

  void receive_from(AgentId a, Clock::time_point now) {
    while (links_[a].state != Link::State::kGone) {
      auto received = protocol::receive_message(links_[a].socket, /*router=*/false);
      if (!received) return;
      links_[a].last_heard = now;
      if (!received->decoded.packet) {
        log("ignored a malformed message from " + links_[a].endpoint + ": " + received->decoded.error);
        continue;
      }
      handle(a, received->decoded.packet->message, received->decoded.packet->bulk, now);
    }
  }

  void handle(AgentId a, const protocol::Message& message, std::string_view bulk, Clock::time_point now) {
    Link& link = links_[a];
    if (const auto* ready = std::get_if<protocol::JobReady>(&message)) {
      if (ready->job_id == job_id_ && link.state == Link::State::kOpening) on_ready(a, *ready, now);
    } else if (const auto* failed = std::get_if<protocol::JobFailed>(&message)) {
      if (failed->job_id != job_id_) return;
      // Blender refusing the scene: every agent would say the same.
      if (!protocol::is_agent_fault(failed->code)) throw std::runtime_error(options_.scene.string() + ": " + failed->reason);
      drop(a, "failed: " + failed->reason, now);
    } else if (const auto* done = std::get_if<protocol::RegionDone>(&message)) {
      if (done->job_id == job_id_) on_region_done(a, *done, bulk, now);
    } else if (const auto* rf = std::get_if<protocol::RegionFailed>(&message)) {
      // Only a region this agent was asked for: anything else (before JobReady, another
      // job's, a cancelled copy) names nothing of this job.
      if (rf->job_id == job_id_ && link.rendering.count(rf->region_id) != 0) on_region_failed(a, *rf, now);
    } else if (const auto* fetch = std::get_if<protocol::FetchChunk>(&message)) {
      if (fetch->job_id == job_id_ && link.state == Link::State::kOpening) send_chunk(a, *fetch, now);
    } else if (const auto* refused = std::get_if<protocol::Refused>(&message)) {
      if (link.state == Link::State::kOpening && refused->code == protocol::Code::kBusy &&
          ++link.busy_refusals <= kBusyRetries) {
        log(link.endpoint + " is busy with another broker's job; asking again in 1 s");
        link.reopen_at = now + kBusyRetryDelay;
        return;
      }
      drop(a, "refused: " + refused->reason, now);
    }
  }

  void send_chunk(AgentId a, const protocol::FetchChunk& fetch, Clock::time_point now) {
    ChunkReader::Chunk chunk = chunks_.read(fetch.hash, fetch.offset, fetch.length);
    if (!chunk.error.empty()) {
      if (!chunk.agent_fault) throw std::runtime_error(chunk.error);
      drop(a, chunk.error, now);
      return;
    }
    bytes_sent_ += chunk.bytes.size();
    send(a, protocol::FileChunk{job_id_, fetch.hash, fetch.offset}, chunk.bytes);
  }

  void on_ready(AgentId a, const protocol::JobReady& ready, Clock::time_point now) {
    Link& link = links_[a];
    link.report.name = ready.agent.name + " (" + link.endpoint + ")";
    if (blender_version_.empty()) blender_version_ = ready.agent.blender_version;
    if (ready.agent.blender_version != blender_version_ && !options_.allow_mixed_versions) {
      drop(a, "Blender " + ready.agent.blender_version + ", not " + blender_version_ +
                  " like this machine; --allow-mixed-versions uses it anyway",
           now);
      return;
    }
    if (!scene_) {
      if (const std::string why = split_problem(ready.scene); !why.empty())
        throw std::runtime_error(options_.scene.string() + ": " + why);
      scene_ = ready.scene;
      for (const std::string& w : scene_->warnings) log("warning: " + w);
      scheduler_.emplace(scene_->width, scene_->height, scheduler_config());
      scheduler_->set_cost_prior(options_.cost_prior);
      frame_.emplace(scene_->width, scene_->height, scene_->view_count(), !options_.exr.empty());
      if (options_.spool) resume_from_spool();
      log("rendering " + options_.scene.filename().string() + ": " + std::to_string(scene_->width) + "x" +
          std::to_string(scene_->height) +
          (scene_->views.size() > 1 ? ", " + std::to_string(scene_->views.size()) + " views" : "") +
          (scene_->margin > 0 ? ", " + std::to_string(scene_->margin) + " px overlap" : ""));
    } else if (ready.scene.width != scene_->width || ready.scene.height != scene_->height ||
               ready.scene.views != scene_->views) {
      drop(a, "its Blender sees a different frame (" + std::to_string(ready.scene.width) + "x" +
                  std::to_string(ready.scene.height) + ")",
           now);
      return;
    }
    scene_->margin = std::max(scene_->margin, ready.scene.margin);
    link.state = Link::State::kReady;
    link.agent_id = ready.agent.agent_id;
    link.report.ready_seconds = seconds_since_start(now);
    const protocol::SceneTransfer& t = ready.transfer;
    log(link.report.name + " ready after " + std::to_string(link.report.ready_seconds).substr(0, 4) +
        " s; scene files: " + std::to_string(t.files_cached) + " cached, " + std::to_string(t.files_fetched) +
        " fetched (" + std::to_string(t.bytes_fetched) + " bytes in " +
        std::to_string(t.fetch_seconds).substr(0, 4) + " s)" + ready_note(t));
    const auto hint = options_.speed_hints.find(link.agent_id);
    scheduler_->add_agent(a, hint == options_.speed_hints.end() ? 0.0 : hint->second);
    assign(a, now);
  }

  // What the scheduler is built with: the job's options and what the scene says.
  [[nodiscard]] SchedulerConfig scheduler_config() const {
    SchedulerConfig sc = options_.scheduler;
    sc.margin = scene_->margin;
    if (options_.equal_strips_per_agent > 0) {
      const auto strips = static_cast<int>(options_.equal_strips_per_agent * links_.size());
      sc.region_width = (scene_->width + strips - 1) / strips;
      sc.duplicate_tail = false;  // a speed test measures every agent on its own strips
    }
    return sc;
  }

  void on_region_done(AgentId a, const protocol::RegionDone& done, std::string_view bulk, Clock::time_point now) {
    Link& link = links_[a];
    const auto it = link.rendering.find(done.region_id);
    if (it == link.rendering.end() || it->second != done.rect) return;  // cancelled, or never asked
    link.rendering.erase(it);
    link.report.busy_seconds += done.render_seconds;
    link.report.finish_seconds = seconds_since_start(now);
    const protocol::Rect core = scheduler_->rect_of(done.region_id);
    if (!frame_->fits(core, done.rect, done.views, done.has_exr, bulk.size())) {
      on_region_failed(a, {job_id_, done.region_id, "the agent returned pixels that do not fit the region"}, now);
      return;
    }
    const auto completion = scheduler_->complete(done.region_id, a, now, Seconds(done.render_seconds));
    if (completion.accepted) {
      (void)frame_->merge(core, done.rect, done.views, done.has_exr, bulk);
      if (spool_) {
        spool_->append(core, done.rect, done.views, done.has_exr, bulk);
        ++spooled_;
      }
      ++link.report.regions;
      link.report.pixels += core.area();
    }
    for (const auto& [other, copy] : completion.cancel) {
      links_[other].rendering.erase(copy);
      send(other, protocol::CancelRegion{job_id_, copy});
      ++links_[other].report.wasted;
      assign(other, now);
    }
    assign(a, now);
  }

  void on_region_failed(AgentId a, const protocol::RegionFailed& failed, Clock::time_point now) {
    links_[a].rendering.erase(failed.region_id);
    const protocol::Rect core = scheduler_->rect_of(failed.region_id);
    const RegionScheduler::Failure failure = scheduler_->fail(failed.region_id, a);
    // Three failures on different agents (or on every agent there is) is the scene, not a machine.
    const int agents_needed = std::min<int>(kMaxFailuresPerRegion, static_cast<int>(std::max<std::size_t>(alive(), 1)));
    if (failure.times >= kMaxFailuresPerRegion && failure.agents >= agents_needed)
      throw std::runtime_error("columns " + std::to_string(core.x0) + "-" + std::to_string(core.x1 - 1) + " failed " +
                               std::to_string(failure.times) + " times on " + std::to_string(failure.agents) +
                               " agent" + (failure.agents == 1 ? "" : "s") + "; Blender said: " + failed.reason);
    if (failure.times > 0) log("region at columns " + std::to_string(core.x0) + "-" + std::to_string(core.x1 - 1) +
                          " failed on " + links_[a].endpoint + ": " + failed.reason);
    assign_all(now);
  }

  // Everything the pixels depend on: another scene, frame or output kind starts afresh.
  [[nodiscard]] std::string spool_key() const {
    std::string key = "bnr-job-1";
    for (const ManifestFile& f : manifest_.files) key += " " + f.hash;
    key += " exr=" + std::to_string(!options_.exr.empty()) + " no_denoise=" + std::to_string(options_.no_denoise) +
           " frame=" + (options_.frame ? std::to_string(*options_.frame) : std::string("scene")) +
           " size=" + std::to_string(scene_->width) + "x" + std::to_string(scene_->height) +
           " views=" + std::to_string(scene_->view_count());
    return key;
  }

  void resume_from_spool() {
    spool_.emplace(RegionSpool::open(spool_dir_for(options_.png), spool_key()));
    long long pixels = 0;
    spool_->replay([&](const SpooledRegion& r) {
      if (!frame_->fits(r.core, r.rendered, r.views, r.has_exr, r.payload.size()) ||
          r.core.y0 != 0 || r.core.y1 != scene_->height || !scheduler_->mark_done(r.core.x0, r.core.x1))
        return;
      (void)frame_->merge(r.core, r.rendered, r.views, r.has_exr, r.payload);
      ++resumed_;
      pixels += r.core.area();
    });
    if (resumed_ > 0)
      log("resuming: " + std::to_string(resumed_) + " regions (" +
          std::to_string(100 * pixels / (static_cast<long long>(scene_->width) * scene_->height)) +
          "% of the frame) come from an earlier run's " + spool_->dir().filename().string());
  }

  void assign(AgentId a, Clock::time_point now) {
    Link& link = links_[a];
    link.retry_at.reset();
    if (link.state != Link::State::kReady) return;
    while (link.rendering.size() < static_cast<std::size_t>(1 + options_.prefetch)) {
      const auto next = scheduler_->next_region(a, now);
      if (!next) {
        // Refused with nothing in flight: no result will come to prompt another request.
        if (link.rendering.empty()) link.retry_at = scheduler_->retry_after(a, now);
        return;
      }
      if (next->revoke) {
        // The region was queued behind a late render on another agent and moves here; it had
        // not started there, so nothing is wasted.
        const auto [other, copy] = *next->revoke;
        links_[other].rendering.erase(copy);
        send(other, protocol::CancelRegion{job_id_, copy});
      }
      const protocol::Rect rendered = with_margin(next->rect, scene_->margin, scene_->width, scene_->height);
      link.rendering[next->id] = rendered;
      send(a, protocol::RenderRegion{job_id_, next->id, rendered});
      if (!first_region_) note_first_region(now);
      if (next->revoke) assign(next->revoke->first, now);  // that agent has a free slot now
    }
  }

  void retry_idle_agents(Clock::time_point now) {
    for (AgentId a = 0; a < links_.size(); ++a)
      if (links_[a].retry_at && now >= *links_[a].retry_at) assign(a, now);
  }

  void assign_all(Clock::time_point now) {
    for (AgentId a = 0; a < links_.size(); ++a) assign(a, now);
  }

  void drop(AgentId a, const std::string& reason, Clock::time_point now) {
    Link& link = links_[a];
    if (link.state == Link::State::kGone) return;
    if (link.state == Link::State::kReady) {
      const std::size_t requeued = scheduler_->remove_agent(a);
      log("dropped " + link.endpoint + " (" + reason + ")" +
          (requeued > 0 ? "; its " + std::to_string(requeued) + " regions go to other agents" : ""));
    } else {
      log("not using " + link.endpoint + " (" + reason + ")");
    }
    send(a, protocol::CloseJob{job_id_});
    link.state = Link::State::kGone;
    link.rendering.clear();
    link.report.note = reason;
    assign_all(now);
  }

  void check_liveness(Clock::time_point now) {
    for (AgentId a = 0; a < links_.size(); ++a) {
      Link& link = links_[a];
      if (link.state == Link::State::kGone) continue;
      if (link.reopen_at && now >= *link.reopen_at) {
        link.reopen_at.reset();
        send(a, open_);
      }
      if (now - link.last_heard > options_.agent_timeout)
        drop(a, link.state == Link::State::kOpening ? "did not answer" : "went silent", now);
      else if (now - link.last_sent >= options_.heartbeat_interval)
        send(a, protocol::Heartbeat{job_id_});
    }
  }

  // How the agent got ready, when it is news: what a warm start or a takeover saved.
  [[nodiscard]] static std::string ready_note(const protocol::SceneTransfer& t) {
    if (t.took_over) return "; took the job over from an earlier run (Blender kept warm)";
    if (t.warm_blender) return "; its Blender was warm (scene already loaded)";
    return {};
  }

  void note_first_region(Clock::time_point now) {
    first_region_ = now;
    const Clock::time_point launched = options_.launched.value_or(started_);
    log("first region sent " + std::to_string(std::chrono::duration<double>(now - launched).count()).substr(0, 5) +
        " s after the broker started");
  }

  [[nodiscard]] double seconds_since_start(Clock::time_point now) const {
    return std::chrono::duration<double>(now - started_).count();
  }

  void print_progress(Clock::time_point now) const {
    // The scheduler's prediction knows the cost map; early on, plain extrapolation is safer.
    const bool predicted = scheduler_->regions_done() >= 2 * alive();
    const std::string line = progress_line(scheduler_->fraction_done(), scheduler_->regions_done(), alive(),
                                           now - started_,
                                           predicted ? scheduler_->predicted_remaining() : Seconds(-1));
    if (isatty(STDERR_FILENO)) std::cerr << "\r\033[K" << line << std::flush;
    else std::cerr << line << "\n";
  }

  JobSummary finish() {
    JobSummary s;
    s.width = scene_->width;
    s.height = scene_->height;
    s.regions = scheduler_->regions_done();
    for (const auto& out : layout_views(frame_->display(), *scene_)) {
      const auto path = with_suffix(options_.png, out.suffix);
      tools::write_png(path, out.image, scene_->depth);
      s.written.push_back(path);
    }
    if (!options_.exr.empty()) {
      for (const auto& out : layout_views(frame_->linear(), *scene_)) {
        const auto path = with_suffix(options_.exr, out.suffix);
        tools::write_exr(path, out.image);
        s.written.push_back(path);
      }
    }
    s.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    s.scene_bytes_sent = bytes_sent_;
    s.resumed_regions = resumed_;
    if (first_region_)
      s.first_region_seconds =
          std::chrono::duration<double>(*first_region_ - options_.launched.value_or(started_)).count();
    if (spool_) spool_->remove();  // the outputs are complete: nothing left to resume
    s.cost_per_column = scheduler_->cost_per_column();
    s.overdraw = scheduler_->overdraw();
    for (AgentId a = 0; a < links_.size(); ++a) {
      s.agents.push_back(links_[a].report);
      if (links_[a].state == Link::State::kReady && !links_[a].agent_id.empty())
        s.learned_speeds[links_[a].agent_id] = scheduler_->speed(a);
    }
    return s;
  }

  const JobOptions& options_;
  const SceneManifest& manifest_;
  ChunkReader chunks_;
  zmq::context_t& context_;
  Clock::time_point last_discovery_{};
  std::uint64_t bytes_sent_ = 0;
  std::string job_id_;
  Clock::time_point started_;
  std::string blender_version_;
  std::vector<Link> links_;
  std::optional<protocol::SceneInfo> scene_;
  std::optional<RegionScheduler> scheduler_;
  std::optional<FrameBuffer> frame_;
  protocol::OpenJob open_;
  std::optional<RegionSpool> spool_;
  std::size_t resumed_ = 0;
  std::size_t spooled_ = 0;
  std::optional<Clock::time_point> first_region_;
  bool cancelled_ = false;
};

}  // namespace

JobSummary render_job(const JobOptions& options, const volatile std::sig_atomic_t& stop) {
  const SceneManifest manifest =
      options.manifest.files.empty() ? build_manifest(options.scene, "blender") : options.manifest;
  zmq::context_t context(1);
  Job job(options, manifest, context);
  return job.run(stop);
}

}  // namespace bnr::broker
