#include "render_job.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include <zmq.hpp>

#include "chunk_reader.h"
#include "curve_auth.h"
#include "exr_file.h"
#include "exr_layers.h"
#include "frame_buffer.h"
#include "job_session.h"
#include "overloaded.h"
#include "job_fingerprint.h"
#include "png_file.h"
#include "pass_output.h"
#include "post_process.h"
#include "preview.h"
#include "region_spool.h"
#include "split_check.h"
#include "transport.h"
#include "view_layout.h"

namespace bnr::broker {
namespace {

using protocol::Overloaded;

std::string random_job_id() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

// Messages queued towards one agent at most: an agent that asks for scene bytes and does not
// read them fills this, and is dropped, instead of this broker's memory.
constexpr int kSendQueue = 64;

// How long a guess of the .blend alone waits for an agent's reading before this machine's
// Blender lists the scene anyway (agents fetching a large .blend take longer; the frame is
// written only once the listing is in).
constexpr auto kListingWait = std::chrono::seconds(5);

// What the merge buffers may take: half this machine's memory.
std::uint64_t max_frame_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::uint64_t{1} << 40;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) / 2;
}

std::optional<Handshake> handshake_of(const protocol::SocketEvent& e) {
  switch (e.event) {
    case ZMQ_EVENT_CONNECTED: return Handshake::kConnected;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return Handshake::kSucceeded;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return e.value == 400 ? Handshake::kRefusedKey : Handshake::kRefused;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) return Handshake::kNotCurve;
      return Handshake::kHungUp;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return Handshake::kHungUp;
    default: return std::nullopt;
  }
}

// One agent's connection. Its routing id stays the same across reconnects, so an agent whose
// TCP connection was reset sees the same broker again and carries on with the job.
struct Link {
  std::string endpoint;
  zmq::socket_t socket;
  zmq::socket_t handshakes;  // the socket's monitor: how handshakes went
  bool open = true;
};

// The socket loop around a JobSession: moves messages, reads scene files, merges pixels,
// journals them and writes the output.
class Job {
 public:
  Job(const JobOptions& options, const SceneManifest& manifest, zmq::context_t& context)
      : options_(options), manifest_(manifest), chunks_(manifest), context_(context), job_id_(random_job_id()),
        started_(Clock::now()), session_(session_config(), started_), listing_(options.listing),
        blender_version_(options.blender_version) {
    if (options_.curve.public_key.empty()) throw std::runtime_error("this broker has no CURVE key pair");
    for (const std::string& endpoint : options.agents) add_link(endpoint, started_);
  }

  ~Job() {
    try {
      apply(session_.close(cancelled_), {}, Clock::now());
    } catch (const std::exception&) {
      // Closing is a courtesy: agents also notice a silent broker.
    }
  }

  JobSummary run(const volatile std::sig_atomic_t& stop) {
    try {
      return run_loop(stop);
    } catch (const ListingChanged&) {
      throw;
    } catch (const std::runtime_error& e) {
      // Agents that failed on a scene the listing has not vouched for yet (a corrupt .blend):
      // Blender's reason from the listing is the clearer one.
      // So are the listing's own findings (denoising this machine cannot do), also when no
      // agent answered before the listing started.
      if (listing_ && !cancelled_) {
        listing_->start();
        throw_if_unrenderable(listing_->result().get());
      }
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
  [[nodiscard]] const std::filesystem::path& primary_output() const { return broker::primary_output(options_); }

  [[nodiscard]] SessionConfig session_config() const {
    SessionConfig c;
    c.open = protocol::OpenJob{job_id_, options_.scene.filename().string(), !options_.exr.empty(),
                               options_.no_denoise, options_.frame.has_value(), options_.frame.value_or(1)};
    c.open.files = manifest_.wire_files();
    c.want_passes = !options_.layers.empty();
    c.can_post_process = !options_.post_blender.empty();
    c.write_with_blender = options_.write_with_blender;
    c.open.fingerprint = job_fingerprint(c.open, primary_output(), options_.exr, std::filesystem::current_path());
    c.frame = manifest_.frame;
    c.max_frame_bytes = max_frame_bytes();
    c.broker_key = options_.curve.public_key;
    c.blender_version = options_.blender_version;
    c.allow_mixed_versions = options_.allow_mixed_versions;
    c.allow_mixed_devices = options_.allow_mixed_devices;
    c.scheduler = options_.scheduler;
    c.cost_prior = options_.cost_prior;
    c.equal_strips_per_agent = options_.equal_strips_per_agent;
    c.speed_hints = options_.speed_hints;
    c.prefetch = options_.prefetch;
    c.agent_timeout = options_.agent_timeout;
    c.heartbeat_interval = options_.heartbeat_interval;
    c.open_timeout = options_.open_timeout;
    c.region_timeout_floor = options_.region_timeout_floor;
    c.scene_bytes = manifest_.total_bytes();
    return c;
  }

  // The largest message an agent may send: the pixels of the whole frame, when this broker
  // knows the frame; libzmq drops the connection of one that sends more before it is read.
  [[nodiscard]] std::int64_t max_message_bytes() const {
    // A region's passes have as many channels as its view layers ask for: unknown here. Regions
    // carry passes for a multilayer output and, when this machine has a Blender, for a
    // compositor or writer that needs the merged frame (decided only once an agent is ready,
    // after the links are made); a cap at the display frame would cut those off at 1080p.
    if (!manifest_.frame || !options_.layers.empty() || !options_.post_blender.empty())
      return protocol::kMaxFrameBytes;
    const FrameFacts& f = *manifest_.frame;
    const auto views = static_cast<std::uint32_t>(std::max<std::size_t>(f.views.size(), 1));
    const std::uint64_t pixels = protocol::region_payload_bytes({0, 0, f.width, f.height}, views, !options_.exr.empty());
    return static_cast<std::int64_t>(std::min<std::uint64_t>(pixels + protocol::kMaxBodyBytes, protocol::kMaxFrameBytes));
  }

  void add_link(const std::string& endpoint, Clock::time_point now) {
    const std::string key = options_.agent_key ? options_.agent_key(endpoint) : std::string();
    Link link;
    link.endpoint = endpoint;
    try {
      link.socket = zmq::socket_t(context_, zmq::socket_type::dealer);
      link.socket.set(zmq::sockopt::linger, 1000);  // lets CloseJob out on the way down
      link.socket.set(zmq::sockopt::maxmsgsize, max_message_bytes());
      link.socket.set(zmq::sockopt::sndhwm, kSendQueue);
      link.socket.set(zmq::sockopt::routing_id, "bnr-broker-" + job_id_ + "-" + std::to_string(links_.size()));
      // Without the agent's key a throw-away one makes sure no handshake can succeed, so
      // nothing is ever sent; the connection only shows whether something listens there.
      protocol::set_curve_client(link.socket, options_.curve,
                                 key.empty() ? protocol::make_key_pair().public_key : key);
      link.handshakes =
          protocol::monitor_handshakes(link.socket, context_, "bnr-link-" + job_id_ + "-" + std::to_string(links_.size()));
      link.socket.connect("tcp://" + endpoint);
    } catch (const zmq::error_t& e) {
      if (e.num() == EMFILE || e.num() == ENFILE)
        throw std::runtime_error("out of file descriptors connecting to " + endpoint + " (" + e.what() +
                                 "); raise the limit with ulimit -n");
      throw std::runtime_error("cannot connect to " + endpoint + ": " + e.what());
    }
    links_.push_back(std::move(link));
    apply(session_.add_agent(endpoint, key, now), {}, now);
  }

  // Agents started after the job began (a laptop opened mid-render) join it like the others.
  void welcome_new_agents(Clock::time_point now) {
    if (!options_.discover_more || now - last_discovery_ < std::chrono::milliseconds(500)) return;
    last_discovery_ = now;
    for (const std::string& endpoint : options_.discover_more()) {
      if (std::any_of(links_.begin(), links_.end(), [&](const Link& l) { return l.endpoint == endpoint; })) continue;
      log(endpoint + " appeared on the LAN; it joins the job");
      add_link(endpoint, now);
    }
  }

  JobSummary run_loop(const volatile std::sig_atomic_t& stop) {
    Clock::time_point last_progress = started_;
    while (!session_.finished()) {
      throw_if_stopped(stop);
      poll_once();
      const auto now = Clock::now();
      for (AgentId a = 0; a < links_.size(); ++a) receive_from(a, now);
      check_handshakes(now);
      if (options_.on_idle) options_.on_idle();
      welcome_new_agents(now);
      apply(session_.on_tick(now), {}, now);
      confirm_listing();
      if (session_.started() && !options_.quiet && now - last_progress >= progress_interval()) {
        print_progress(now);
        last_progress = now;
      }
      if (session_.started()) report_status(now);
    }
    await_listing(stop);
    if (session_.started() && !options_.preview.empty()) write_preview(Clock::now());
    if (!options_.quiet) {
      print_progress(Clock::now());
      if (isatty(STDERR_FILENO)) std::cerr << "\n";
    }
    return finish();
  }

  // A guess of the .blend alone waits for the first ready agent: when its Blender read no other
  // file, what it read and this machine's Blender version are the listing; else, or when no
  // agent is ready soon, this machine's Blender lists the scene.
  void decide_listing() {
    if (listing_->decided()) return;
    if (!session_.started()) {
      if (Clock::now() - started_ >= kListingWait) listing_->start();
      return;
    }
    const std::optional<std::string> here = listing_->this_blender();
    if (!here) return;  // `blender --version` takes a quarter of a second
    if (std::optional<SceneManifest> truth = listing_from_agent(manifest_, session_.scene(), *here))
      listing_->settle(std::move(*truth), /*remember=*/session_.blender_version() == *here);
    else
      listing_->start();
  }

  // The real listing, once Blender has made it. Agents render the guess meanwhile (the listing
  // takes about as long as an agent's Blender takes to open the scene, and would otherwise
  // hold the first region back): the guess holds, or the job ends with ListingChanged and its
  // regions so far are dropped.
  void confirm_listing() {
    if (!listing_) return;
    decide_listing();
    if (!listing_->decided() || listing_->result().wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      return;
    SceneManifest truth = listing_->result().get();  // or the listing's error
    listing_.reset();
    if (const std::string why = listing_change(manifest_, truth); !why.empty())
      throw ListingChanged(options_.scene.filename().string() + ": " + why, std::move(truth));
    // The agents rendering meanwhile were judged by the first one's Blender; this machine's
    // decides (as with a listing known from the start, which the next run has).
    if (const std::string& theirs = session_.blender_version();
        !theirs.empty() && theirs != truth.blender_version && !options_.allow_mixed_versions)
      throw ListingChanged(options_.scene.filename().string() + ": its agents run Blender " + theirs +
                               ", this machine " + truth.blender_version,
                           std::move(truth));
    throw_if_unrenderable(truth);
    for (const std::string& w : truth.warnings) log("warning: " + w);
    blender_version_ = truth.blender_version;
    manifest_ = std::move(truth);
    session_.confirm_scene(manifest_.frame, blender_version_);
  }

  void throw_if_unrenderable(const SceneManifest& truth) const {
    if (truth.denoise)
      if (const std::string why = denoise_problem(*truth.denoise, options_.no_denoise, truth.blender_version);
          !why.empty())
        throw std::runtime_error(options_.scene.filename().string() + ": " + why);
  }

  // A frame finished on a guessed listing is written only once the listing agrees.
  void await_listing(const volatile std::sig_atomic_t& stop) {
    while (listing_) {
      decide_listing();
      if (listing_->decided() && listing_->result().wait_for(std::chrono::milliseconds(100)) == std::future_status::ready)
        break;
      if (!listing_->decided()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      throw_if_stopped(stop);
    }
    confirm_listing();
  }

  void throw_if_stopped(const volatile std::sig_atomic_t& stop) {
    if (stop == 0) return;
    cancelled_ = true;  // agents stop their Blenders rather than keep them warm
    throw std::runtime_error("interrupted; the job was cancelled on every agent");
  }

  // Carries out what the session decided. `bulk`: the pixels of the RegionDone being handled.
  void apply(Actions actions, std::string_view bulk, Clock::time_point now) {
    for (std::size_t i = 0; i < actions.size(); ++i) {
      Actions more;
      std::visit(Overloaded{
                     [&](const action::Send& s) {
                       Link& link = links_[s.agent];
                       if (link.open && !protocol::send_message(link.socket, s.message) &&
                           !std::holds_alternative<protocol::CloseJob>(s.message))
                         more = session_.on_send_failed(s.agent, now);
                     },
                     [&](const action::SendChunk& s) { more = send_chunk(s.agent, s.fetch, now); },
                     [&](const action::Merge& m) { merge(m, bulk); },
                     [&](const action::StartFrame& f) {
                       start_frame(f.scene);
                       more = session_.frame_started(now);
                     },
                     [&](const action::CloseLink& c) { close_link(c.agent); },
                     [&](const action::Log& l) { log(l.line); },
                     [&](const action::Fail& f) { throw std::runtime_error(f.reason); },
                 },
                 actions[i]);
      actions.insert(actions.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    if (!first_region_logged_ && session_.first_region_sent()) {
      first_region_logged_ = true;
      const Clock::time_point launched = options_.launched.value_or(started_);
      log("first region sent " +
          std::to_string(std::chrono::duration<double>(*session_.first_region_sent() - launched).count()).substr(0, 5) +
          " s after the broker started");
    }
  }

  Actions send_chunk(AgentId a, const protocol::FetchChunk& fetch, Clock::time_point now) {
    ChunkReader::Chunk chunk = chunks_.read(fetch.hash, fetch.offset, fetch.length);
    if (!chunk.error.empty()) return session_.on_chunk_error(a, chunk.error, chunk.agent_fault, now);
    bytes_sent_ += chunk.bytes.size();
    if (!protocol::send_message(links_[a].socket, protocol::FileChunk{job_id_, fetch.hash, fetch.offset}, chunk.bytes))
      return session_.on_send_failed(a, now);
    return {};
  }

  void merge(const action::Merge& m, std::string_view bulk) {
    if (!frame_->merge(m.core, m.done.rect, m.done.views, m.done.has_exr, bulk, m.done.passes)) {
      log("internal: a region the session accepted does not fit the frame");  // validated upstream
      return;
    }
    if (spool_) {
      spool_->append(m.core, m.done.rect, m.done.views, m.done.has_exr, bulk, m.done.passes);
      ++spooled_;
    }
  }

  void start_frame(const protocol::SceneInfo& scene) {
    frame_.emplace(scene.width, scene.height, scene.view_count(), !options_.exr.empty(),
                   session_.pass_mode() != protocol::PassMode::kNone);
    if (options_.spool) resume_from_spool(scene);
    log("rendering " + options_.scene.filename().string() + ": " + std::to_string(scene.width) + "x" +
        std::to_string(scene.height) + (scene.views.size() > 1 ? ", " + std::to_string(scene.views.size()) + " views" : "") +
        (scene.margin > 0 ? ", " + std::to_string(scene.margin) + " px overlap" : ""));
  }

  void close_link(AgentId a) {
    Link& link = links_[a];
    if (!link.open) return;
    // libzmq would go on reconnecting (zmq_disconnect does not stop a retry under way).
    link.socket.set(zmq::sockopt::linger, 0);
    link.socket.close();
    link.open = false;
  }

  // How each agent connection's CURVE handshake went. ZeroMQ drops a refused connection
  // without a word on the socket; its monitor is the only place that says why.
  void check_handshakes(Clock::time_point now) {
    for (AgentId a = 0; a < links_.size(); ++a) {
      while (links_[a].open && !session_.gone(a)) {
        const std::optional<protocol::SocketEvent> event = protocol::receive_event(links_[a].handshakes);
        if (!event) break;
        const std::optional<Handshake> h = handshake_of(*event);
        if (!h) continue;
        if (*h == Handshake::kSucceeded && !verified_.count(a)) {
          verified_.insert(a);
          if (options_.on_agent_verified) options_.on_agent_verified(links_[a].endpoint);
        }
        apply(session_.on_handshake(a, *h, now), {}, now);
      }
    }
  }

  static std::chrono::milliseconds progress_interval() {
    return isatty(STDERR_FILENO) ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
  }

  void poll_once() {
    std::vector<zmq::pollitem_t> items;
    for (AgentId a = 0; a < links_.size(); ++a)
      if (links_[a].open && !session_.gone(a))
        items.push_back({static_cast<void*>(links_[a].socket), 0, ZMQ_POLLIN, 0});
    for (int fd : options_.extra_poll_fds) items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
    try {
      zmq::poll(items, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }

  void log(const std::string& line) const {
    if (!options_.quiet) std::cerr << (isatty(STDERR_FILENO) ? "\r\033[K" : "") << "bnr-broker: " << line << "\n";
  }

  void receive_from(AgentId a, Clock::time_point now) {
    while (links_[a].open && !session_.gone(a)) {
      auto received = protocol::receive_message(links_[a].socket, /*router=*/false);
      if (!received) return;
      if (!received->decoded.packet) {
        apply(session_.on_malformed(a, received->decoded.error, now), {}, now);
        continue;
      }
      apply(session_.on_message(a, received->decoded.packet->message, now), received->decoded.packet->bulk, now);
    }
  }

  // Everything the pixels depend on: another scene, frame, output kind or Blender starts afresh.
  [[nodiscard]] std::string spool_key(const protocol::SceneInfo& scene) const {
    // Before the listing is in, the agents' version: the one it must then confirm.
    const std::string& version = blender_version_.empty() ? session_.blender_version() : blender_version_;
    std::string key = "bnr-job-2 blender=" + (version.empty() ? "unknown" : version);
    for (const ManifestFile& f : manifest_.files) key += " " + f.hash;
    key += " exr=" + std::to_string(!options_.exr.empty()) + " no_denoise=" + std::to_string(options_.no_denoise) +
           " frame=" + (options_.frame ? std::to_string(*options_.frame) : std::string("scene")) +
           " size=" + std::to_string(scene.width) + "x" + std::to_string(scene.height) +
           " views=" + std::to_string(scene.view_count()) +
           " passes=" + std::to_string(static_cast<int>(session_.pass_mode()));
    return key;
  }

  void resume_from_spool(const protocol::SceneInfo& scene) {
    spool_.emplace(RegionSpool::open(spool_dir_for(primary_output()), spool_key(scene)));
    long long pixels = 0;
    spool_->replay([&](const SpooledRegion& r) {
      if (!frame_->fits(r.core, r.rendered, r.views, r.has_exr, r.payload.size(), r.passes) ||
          !session_.mark_done(r.core))
        return;
      (void)frame_->merge(r.core, r.rendered, r.views, r.has_exr, r.payload, r.passes);
      if (!r.passes.empty()) session_.expect_pass_channels(r.passes.channels);
      ++resumed_;
      pixels += r.core.area();
    });
    if (resumed_ > 0)
      log("resuming: " + std::to_string(resumed_) + " regions (" +
          std::to_string(100 * pixels / (static_cast<long long>(scene.width) * scene.height)) +
          "% of the frame) come from an earlier run's " + spool_->dir().filename().string());
  }

  void print_progress(Clock::time_point now) const {
    const RegionScheduler& s = session_.scheduler();
    // The scheduler's prediction knows the cost map; early on, plain extrapolation is safer.
    const bool predicted = s.regions_done() >= 2 * session_.alive();
    const std::string line = progress_line(s.fraction_done(), s.regions_done(), session_.alive(), now - started_,
                                           predicted ? s.predicted_remaining() : Seconds(-1));
    if (isatty(STDERR_FILENO)) std::cerr << "\r\033[K" << line << std::flush;
    else std::cerr << line << "\n";
  }

  [[nodiscard]] JobStatus status(Clock::time_point now) const {
    const RegionScheduler& s = session_.scheduler();
    JobStatus st;
    st.scene = options_.scene.filename().string();
    st.width = session_.scene().width;
    st.height = session_.scene().height;
    st.fraction_done = s.fraction_done();
    st.regions_done = s.regions_done();
    st.elapsed_seconds = std::chrono::duration<double>(now - started_).count();
    if (s.regions_done() >= 2 * session_.alive()) st.eta_seconds = s.predicted_remaining().count();
    st.agents = session_.reports();
    return st;
  }

  // The status about once a second; the preview every few seconds, less often when writing
  // it takes long (a huge frame), so it never costs the loop more than a few percent.
  void report_status(Clock::time_point now) {
    if (options_.on_status && now - last_status_ >= std::chrono::seconds(1)) {
      last_status_ = now;
      options_.on_status(status(now));
    }
    if (!options_.preview.empty() && now >= next_preview_) write_preview(now);
  }

  void write_preview(Clock::time_point now) {
    const auto images = layout_views(frame_->display(), session_.scene());
    try {
      tools::write_png(options_.preview, preview_image(images.front().image, 2048), 8);
    } catch (const std::exception& e) {
      log("warning: cannot write the preview: " + std::string(e.what()));
    }
    const auto took = Clock::now() - now;
    next_preview_ = now + std::max<Clock::duration>(std::chrono::seconds(3), 20 * took);
  }

  // The scene's compositor needs the whole frame: Blender composites the merged passes once
  // and writes the scene's own output (and --exr).
  std::vector<std::filesystem::path> write_composited() {
    log(session_.scene().post_process.empty() ? "writing the scene's output format with this machine's Blender"
                                              : "compositing the merged frame once with this machine's Blender");
    CompositeRequest request;
    request.blender = options_.post_blender;
    request.scene = options_.scene;
    request.frame = options_.frame;
    request.output = primary_output();
    request.exr = options_.exr;
    request.half_passes = manifest_.output && manifest_.output->multilayer() && manifest_.output->depth == "16";
    request.render_time = blender_render_time(std::chrono::duration<double>(Clock::now() - started_).count());
    if (frame_->passes().size() != 1) throw std::runtime_error("internal: no merged passes to composite");
    // The merged passes are on disk once Blender runs: this process lets go of them first.
    return composite_frame(frame_->passes().front(), request, [this] { frame_.reset(); });
  }

  // Pixel-local scenes: the merged display pixels as PNG (or every pass as a multilayer EXR),
  // and --exr's linear combined image.
  std::vector<std::filesystem::path> write_merged(const protocol::SceneInfo& scene) {
    std::vector<std::filesystem::path> written;
    for (const auto& out : options_.png.empty() ? std::vector<OutputImage<tools::Image16>>()
                                                : layout_views(frame_->display(), scene)) {
      const auto path = with_suffix(options_.png, out.suffix);
      tools::write_png(path, out.image, scene.depth);
      written.push_back(path);
    }
    // Blender stamps its own file with the time the render took: here, the whole job's.
    frame_->set_pass_text("RenderTime",
                          blender_render_time(std::chrono::duration<double>(Clock::now() - started_).count()));
    // Blender names the .blend it rendered; the agents' copies live elsewhere.
    frame_->set_pass_text("File", std::filesystem::absolute(options_.scene).lexically_normal().string());
    for (std::size_t v = 0; v < frame_->passes().size(); ++v) {
      const auto path = with_suffix(options_.layers, scene.views.empty() ? std::string() : scene.view_suffixes[v]);
      tools::write_exr_layers(path, frame_->passes()[v]);
      written.push_back(path);
    }
    if (!options_.exr.empty()) {
      for (const auto& out : layout_views(frame_->linear(), scene)) {
        const auto path = with_suffix(options_.exr, out.suffix);
        tools::write_exr(path, out.image);
        written.push_back(path);
      }
    }
    return written;
  }

  JobSummary finish() {
    const protocol::SceneInfo& scene = session_.scene();
    const RegionScheduler& scheduler = session_.scheduler();
    JobSummary s;
    s.width = scene.width;
    s.height = scene.height;
    s.regions = scheduler.regions_done();
    s.written = session_.pass_mode() == protocol::PassMode::kRaw ? write_composited() : write_merged(scene);
    s.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    s.scene_bytes_sent = bytes_sent_;
    s.resumed_regions = resumed_;
    if (const auto first = session_.first_region_sent())
      s.first_region_seconds = std::chrono::duration<double>(*first - options_.launched.value_or(started_)).count();
    if (spool_) spool_->remove();  // the outputs are complete: nothing left to resume
    s.cost_per_column = scheduler.cost_per_column();
    s.overdraw = scheduler.overdraw();
    s.cost_prior_dropped = scheduler.dropped_prior();
    s.agents = session_.reports();
    s.learned_speeds = session_.learned_speeds();
    return s;
  }

  const JobOptions& options_;
  SceneManifest manifest_;  // a guess until confirm_listing
  ChunkReader chunks_;
  zmq::context_t& context_;
  std::string job_id_;
  Clock::time_point started_;
  JobSession session_;
  Clock::time_point last_discovery_{};
  std::uint64_t bytes_sent_ = 0;
  std::vector<Link> links_;
  std::set<AgentId> verified_;
  std::optional<FrameBuffer> frame_;
  std::optional<RegionSpool> spool_;
  std::size_t resumed_ = 0;
  std::size_t spooled_ = 0;
  bool first_region_logged_ = false;
  Clock::time_point last_status_{};
  Clock::time_point next_preview_{};
  bool cancelled_ = false;
  std::shared_ptr<ListingTask> listing_;  // set until the listing is in
  std::string blender_version_;                   // this machine's, once known
};

}  // namespace

const std::filesystem::path& primary_output(const JobOptions& options) {
  return options.png.empty() ? options.layers : options.png;
}

JobSummary render_job(const JobOptions& options, const volatile std::sig_atomic_t& stop) {
  const SceneManifest manifest =
      options.manifest.files.empty() ? build_manifest(options.scene, "blender") : options.manifest;
  // Before any agent is asked: the merged frame would have to be denoised here.
  if (manifest.denoise)
    if (const std::string why = denoise_problem(*manifest.denoise, options.no_denoise, manifest.blender_version);
        !why.empty())
      throw std::runtime_error(options.scene.filename().string() + ": " + why);
  zmq::context_t context(1);
  Job job(options, manifest, context);
  return job.run(stop);
}

}  // namespace bnr::broker
