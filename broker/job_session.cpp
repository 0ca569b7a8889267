#include "job_session.h"

#include <algorithm>
#include <utility>

#include "band_layout.h"
#include "curve_keys.h"
#include "frame_buffer.h"
#include "overloaded.h"
#include "split_check.h"

namespace bnr::broker {
namespace {

constexpr int kMaxFailuresPerRegion = 3;
// Handshakes an agent ended without a reason, in a row, before the broker gives up on it:
// the sign of a wrong agent key (the agent cannot read the broker's hello and hangs up).
// One may be a restarting agent; libzmq retries every 100 ms.
constexpr int kMaxFailedHandshakes = 3;
// A busy agent may be serving a broker that was just killed: agents hand over after a few
// silent heartbeats, so ask again a few times before giving up on it.
constexpr int kBusyRetries = 6;
constexpr auto kBusyRetryDelay = std::chrono::seconds(1);
// Transfers an agent may start again after its scene bytes stopped coming (a reset link).
constexpr int kTransferRetries = 2;
// Scene bytes one agent may ask for, beyond the job's files once: a transfer restarted after
// a broken connection asks again.
constexpr std::uint64_t kRefetchAllowance = 2;

using protocol::Overloaded;

// Text an agent sent, fit for one line of this broker's log: no control characters (a
// terminal escape), not longer than a line.
std::string agent_text(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, 300)) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  return out + (text.size() > 300 ? "..." : "");
}

std::string seconds_text(Seconds s) { return std::to_string(static_cast<long long>(s.count() + 0.5)) + " s"; }

std::string columns_text(const protocol::Rect& r) {
  return "columns " + std::to_string(r.x0) + "-" + std::to_string(r.x1 - 1);
}

// How the agent got ready, when it is news: what a warm start or a takeover saved.
std::string ready_note(const protocol::SceneTransfer& t) {
  if (t.took_over) return "; took the job over from an earlier run (Blender kept warm)";
  if (t.warm_blender) return "; its Blender was warm (scene already loaded)";
  return {};
}

}  // namespace

JobSession::JobSession(SessionConfig config, Clock::time_point now)
    : config_(std::move(config)), started_(now), blender_version_(config_.blender_version) {}

Actions JobSession::add_agent(const std::string& endpoint, const std::string& key, Clock::time_point now) {
  Actions out;
  Link link;
  link.endpoint = endpoint;
  link.key = key;
  link.liveness = protocol::Liveness(now);
  link.opening_since = now;
  link.report.name = endpoint;
  links_.push_back(std::move(link));
  const AgentId a = links_.size() - 1;
  if (links_.size() > config_.max_agents) {
    drop(a, "the job has " + std::to_string(config_.max_agents) + " agents already", now, out);
    return out;
  }
  // Without the agent's key nothing is sent: the handshake shows whether anything listens.
  if (!key.empty()) send(a, config_.open, now, out);
  return out;
}

Actions JobSession::on_message(AgentId a, const protocol::Message& message, Clock::time_point now) {
  Actions out;
  if (links_[a].state == State::kGone) return out;
  links_[a].liveness.heard(now);
  const std::string& job = config_.open.job_id;
  const auto ours = [&](const std::string& id) { return id == job; };
  std::visit(Overloaded{
                 [&](const protocol::JobReady& m) { if (ours(m.job_id)) handle(a, m, now, out); },
                 [&](const protocol::JobFailed& m) { if (ours(m.job_id)) handle(a, m, now, out); },
                 [&](const protocol::RegionDone& m) { if (ours(m.job_id)) handle(a, m, now, out); },
                 [&](const protocol::RegionFailed& m) { if (ours(m.job_id)) handle(a, m, now, out); },
                 [&](const protocol::FetchChunk& m) { if (ours(m.job_id)) handle(a, m, now, out); },
                 [&](const protocol::Refused& m) { handle(a, m, now, out); },
                 [&](const protocol::Heartbeat&) {},  // being heard is all it says
                 // What brokers send: an agent has no business sending these.
                 [&](const protocol::OpenJob&) {}, [&](const protocol::RenderRegion&) {},
                 [&](const protocol::CloseJob&) {}, [&](const protocol::CancelRegion&) {},
                 [&](const protocol::FileChunk&) {},
             },
             message);
  return out;
}

Actions JobSession::on_malformed(AgentId a, const std::string& error, Clock::time_point now) {
  Actions out;
  links_[a].liveness.heard(now);  // it is there, if confused
  log("ignored a malformed message from " + links_[a].endpoint + ": " + error, out);
  return out;
}

void JobSession::handle(AgentId a, const protocol::JobReady& ready, Clock::time_point now, Actions& out) {
  Link& link = links_[a];
  if (link.state != State::kOpening) return;
  link.report.name = agent_text(ready.agent.name).substr(0, 40) + " (" + link.endpoint + ")";
  if (blender_version_.empty()) blender_version_ = ready.agent.blender_version;
  if (ready.agent.blender_version != blender_version_ && !config_.allow_mixed_versions) {
    drop(a, "Blender " + agent_text(ready.agent.blender_version).substr(0, 40) + ", not " + blender_version_ +
                " like this machine; --allow-mixed-versions uses it anyway",
         now, out);
    return;
  }
  link.report.device = agent_text(ready.agent.device).substr(0, 80);
  if (!device_kind_) device_kind_ = device_kind(ready.agent.device);
  if (device_kind(ready.agent.device) != *device_kind_ && !config_.allow_mixed_devices) {
    drop(a, "it renders on " + (link.report.device.empty() ? std::string("CPU") : link.report.device) +
                ", the frame on " + device_kind_name(*device_kind_) +
                " agents (their pixels differ slightly); --allow-mixed-devices uses it anyway",
         now, out);
    return;
  }
  const std::optional<FrameFacts> frame = scene_ ? std::optional(frame_facts(*scene_)) : config_.frame;
  if (const std::string why = ready_problem(ready.scene, frame, config_.open.want_exr, config_.max_frame_bytes);
      !why.empty()) {
    drop(a, why, now, out);
    return;
  }
  if (!scene_) {
    std::string why = split_problem(ready.scene);
    if (why.empty() && !ready.scene.post_process.empty())
      why = post_process_problem(ready.scene, config_.can_post_process);
    if (!why.empty()) {
      out.push_back(action::Fail{config_.open.scene_name + ": " + why});
      failed_ = true;
      return;
    }
    // Blender's own writer for other formats works on one view; stereo gets bnr's PNGs.
    const bool blender_writes = config_.write_with_blender && config_.can_post_process && ready.scene.views.size() <= 1;
    if (config_.write_with_blender && !blender_writes)
      log("warning: the scene's output format is written as PNG (bnr writes other formats with this machine's "
          "Blender, for one view)",
          out);
    pass_mode_ = !ready.scene.post_process.empty() || blender_writes ? protocol::PassMode::kRaw
                 : config_.want_passes                               ? protocol::PassMode::kAsSaved
                                                                     : protocol::PassMode::kNone;
    start_frame(ready.scene, out);
    // Regions come from the spool first (mark_done), then this agent gets its own.
    pending_ready_.emplace(a, ready);
    return;
  }
  make_ready(a, ready, now, out);
}

void JobSession::confirm_scene(std::optional<FrameFacts> frame, const std::string& blender_version) {
  config_.frame = std::move(frame);
  if (blender_version_.empty()) blender_version_ = blender_version;
}

Actions JobSession::frame_started(Clock::time_point now) {
  Actions out;
  if (!pending_ready_) return out;
  const auto [a, ready] = std::move(*pending_ready_);
  pending_ready_.reset();
  if (!failed_ && links_[a].state == State::kOpening) make_ready(a, ready, now, out);
  return out;
}

void JobSession::make_ready(AgentId a, const protocol::JobReady& ready, Clock::time_point now, Actions& out) {
  Link& link = links_[a];
  // Every agent renders with the widest margin any of them needs.
  scene_->margin = std::max(scene_->margin, ready.scene.margin);
  link.state = State::kReady;
  link.agent_id = ready.agent.agent_id;
  link.report.ready_seconds = seconds_since_start(now);
  const protocol::SceneTransfer& t = ready.transfer;
  log(link.report.name + " ready after " + std::to_string(link.report.ready_seconds).substr(0, 4) +
          " s; scene files: " + std::to_string(t.files_cached) + " cached, " + std::to_string(t.files_fetched) +
          " fetched (" + std::to_string(t.bytes_fetched) + " bytes in " +
          std::to_string(t.fetch_seconds).substr(0, 4) + " s)" + ready_note(t),
      out);
  const auto hint = config_.speed_hints.find(link.agent_id);
  scheduler_->add_agent(a, hint == config_.speed_hints.end() ? 0.0 : hint->second);
  assign(a, now, out);
}

void JobSession::start_frame(const protocol::SceneInfo& scene, Actions& out) {
  scene_ = scene;
  for (const std::string& w : scene_->warnings) log("warning: " + agent_text(w), out);
  scheduler_.emplace(scene_->width, scene_->height, scheduler_config());
  scheduler_->set_cost_prior(config_.cost_prior);
  if (const int bands = scheduler_->bands(); bands > 1)
    log("regions in " + std::to_string(bands) + " bands of about " + std::to_string(scene_->height / bands) +
            " rows (with a " + std::to_string(scene_->margin) +
            " px overlap margin, rectangles render fewer pixels twice than full-height columns)",
        out);
  out.push_back(action::StartFrame{*scene_});
}

SchedulerConfig JobSession::scheduler_config() const {
  SchedulerConfig sc = config_.scheduler;
  sc.margin = scene_->margin;
  // Fixed-width regions are what the user asked for: columns, unless bands were asked for too.
  if (sc.bands <= 0 && sc.region_width > 0) sc.bands = 1;
  if (sc.bands <= 0)
    sc.bands = choose_bands(scene_->width, scene_->height, sc.margin, std::min(links_.size(), config_.max_agents));
  if (config_.equal_strips_per_agent > 0) {
    const auto strips = static_cast<int>(config_.equal_strips_per_agent * links_.size());
    sc.region_width = (scene_->width + strips - 1) / strips;
    sc.duplicate_tail = false;  // a speed test measures every agent on its own strips
    sc.bands = 1;
  }
  return sc;
}

void JobSession::handle(AgentId a, const protocol::JobFailed& failed, Clock::time_point now, Actions& out) {
  if (!protocol::is_agent_fault(failed.code)) {
    // Blender read the scene and refuses it: every agent would say the same.
    out.push_back(action::Fail{config_.open.scene_name + ": " + agent_text(failed.reason)});
    failed_ = true;
    return;
  }
  // Scene bytes lost with a reset connection: the agent may start its transfer again.
  Link& link = links_[a];
  if (failed.code == protocol::Code::kTransferBroken && link.state == State::kOpening &&
      ++link.transfer_retries <= kTransferRetries) {
    log(link.endpoint + ": " + agent_text(failed.reason) + "; opening the job there again", out);
    link.reopen_at = now + kBusyRetryDelay;
    return;
  }
  drop(a, "failed: " + agent_text(failed.reason), now, out);
}

void JobSession::handle(AgentId a, const protocol::RegionDone& done, Clock::time_point now, Actions& out) {
  Link& link = links_[a];
  const auto it = link.rendering.find(done.region_id);
  if (it == link.rendering.end() || it->second.rendered != done.rect) return;  // cancelled, or never asked
  link.rendering.erase(it);
  link.working_since = now;
  link.report.busy_seconds += done.render_seconds;
  link.report.finish_seconds = seconds_since_start(now);
  const protocol::Rect core = scheduler_->rect_of(done.region_id);
  if (done.views != scene_->view_count() || done.has_exr != config_.open.want_exr) {
    region_failed(a, done.region_id, "the agent returned pixels that do not fit the region", now, out);
    return;
  }
  if ((pass_mode_ != protocol::PassMode::kNone) != !done.passes.empty() ||
      (pass_channels_ && !done.passes.empty() && done.passes.channels != *pass_channels_)) {
    region_failed(a, done.region_id,
                  done.passes.empty() ? "the agent returned no passes"
                                      : "the agent returned other passes than earlier regions (" +
                                            std::to_string(done.passes.channels.size()) + " channels)",
                  now, out);
    return;
  }
  const auto completion = scheduler_->complete(done.region_id, a, now, Seconds(done.render_seconds));
  if (completion.accepted) {
    if (!done.passes.empty() && !pass_channels_) pass_channels_ = done.passes.channels;
    out.push_back(action::Merge{a, core, done});
    ++link.report.regions;
    link.report.pixels += core.area();
  }
  for (const auto& [other, copy] : completion.cancel) {
    links_[other].rendering.erase(copy);
    send(other, protocol::CancelRegion{config_.open.job_id, copy}, now, out);
    ++links_[other].report.wasted;
    assign(other, now, out);
  }
  assign(a, now, out);
}

void JobSession::handle(AgentId a, const protocol::RegionFailed& failed, Clock::time_point now, Actions& out) {
  // Only a region this agent was asked for: anything else (before JobReady, a cancelled
  // copy, an earlier job's) names nothing of this job.
  if (links_[a].rendering.count(failed.region_id) == 0) return;
  links_[a].working_since = now;
  region_failed(a, failed.region_id, agent_text(failed.reason), now, out);
}

void JobSession::region_failed(AgentId a, RegionId region, const std::string& reason, Clock::time_point now,
                               Actions& out) {
  links_[a].rendering.erase(region);
  const protocol::Rect core = scheduler_->rect_of(region);
  const RegionScheduler::Failure failure = scheduler_->fail(region, a);
  // Three failures on different agents (or on every agent there is) is the scene, not a machine.
  const int agents_needed = std::min<int>(kMaxFailuresPerRegion, static_cast<int>(std::max<std::size_t>(alive(), 1)));
  if (failure.times >= kMaxFailuresPerRegion && failure.agents >= agents_needed) {
    out.push_back(action::Fail{columns_text(core) + " failed " + std::to_string(failure.times) + " times on " +
                               std::to_string(failure.agents) + " agent" + (failure.agents == 1 ? "" : "s") +
                               "; Blender said: " + reason});
    failed_ = true;
    return;
  }
  if (failure.times > 0)
    log("region at " + columns_text(core) + " failed on " + links_[a].endpoint + ": " + reason, out);
  assign_all(now, out);
}

void JobSession::handle(AgentId a, const protocol::FetchChunk& fetch, Clock::time_point now, Actions& out) {
  Link& link = links_[a];
  if (link.state != State::kOpening) return;
  link.bytes_asked += fetch.length;
  // An honest agent asks for each file once (again after a broken transfer): more is an
  // agent trying to make this broker read and send without end.
  if (link.bytes_asked > kRefetchAllowance * config_.scene_bytes + protocol::kMaxChunkBytes) {
    drop(a, "it asked for more scene bytes than the job's files hold", now, out);
    return;
  }
  link.opening_since = now;
  out.push_back(action::SendChunk{a, fetch});
  link.liveness.sent(now);
}

void JobSession::handle(AgentId a, const protocol::Refused& refused, Clock::time_point now, Actions& out) {
  Link& link = links_[a];
  if (link.state == State::kOpening && refused.code == protocol::Code::kBusy && ++link.busy_refusals <= kBusyRetries) {
    log(link.endpoint + " is busy with another broker's job; asking again in 1 s", out);
    link.reopen_at = now + kBusyRetryDelay;
    return;
  }
  drop(a, "refused: " + agent_text(refused.reason), now, out);
}

Actions JobSession::on_handshake(AgentId a, Handshake event, Clock::time_point now) {
  Actions out;
  Link& link = links_[a];
  if (link.state == State::kGone) return out;
  const bool reconnected = event == Handshake::kSucceeded && link.verified;
  if (const std::string why = handshake_problem(link, event); !why.empty()) {
    drop(a, why, now, out);
    // libzmq would go on reconnecting; the socket of a gone link is not used again.
    out.push_back(action::CloseLink{a});
    return out;
  }
  // The connection was reset and is back (same routing id, same agent): what was in flight
  // on the old one may be lost either way, so ask again for every region still expected. A
  // copy the agent already has queued costs at most a second render; a second result is
  // ignored.
  if (reconnected && link.state == State::kReady) {
    log(link.endpoint + " reconnected; asking again for its " + std::to_string(link.rendering.size()) + " regions",
        out);
    for (const auto& [id, region] : link.rendering)
      send(a, protocol::RenderRegion{config_.open.job_id, id, region.rendered, pass_mode_}, now, out);
  }
  return out;
}

// Empty while the connection may still work out; otherwise why the agent cannot be used.
std::string JobSession::handshake_problem(Link& link, Handshake event) const {
  if (link.key.empty()) {
    if (event != Handshake::kConnected) return {};
    return "this broker does not know the agent's public key: give it as --agent " +
           protocol::shell_quoted(link.endpoint + "@KEY") + " (bnr-agent --show-key on that machine prints KEY)";
  }
  switch (event) {
    case Handshake::kConnected: return {};
    case Handshake::kSucceeded: link.failed_handshakes = 0; link.verified = true; return {};
    case Handshake::kRefusedKey:
      return "the agent refused this broker's key; on that agent run bnr-agent --join TOKEN (bnr-broker "
             "--join-token prints TOKEN) or bnr-agent --authorize " +
             protocol::shell_quoted(config_.broker_key);
    case Handshake::kRefused: return "the agent refused this broker";
    case Handshake::kNotCurve: return "it does not use CURVE encryption: an older bnr-agent, or not a bnr-agent";
    case Handshake::kHungUp:
      if (++link.failed_handshakes < kMaxFailedHandshakes) return {};
      return "it hung up during the CURVE handshake " + std::to_string(link.failed_handshakes) +
             " times: its key is probably not " + protocol::short_key(link.key) +
             " (check --agent HOST:PORT@KEY and this broker's known_agents; bnr-agent --show-key on that "
             "machine prints its key)";
  }
  return {};
}

Actions JobSession::on_chunk_error(AgentId a, const std::string& error, bool agent_fault, Clock::time_point now) {
  Actions out;
  if (!agent_fault) {
    out.push_back(action::Fail{error});
    failed_ = true;
  } else {
    drop(a, error, now, out);
  }
  return out;
}

Actions JobSession::on_send_failed(AgentId a, Clock::time_point now) {
  Actions out;
  drop(a, "it does not read what this broker sends (its connection is full)", now, out);
  return out;
}

Actions JobSession::on_tick(Clock::time_point now) {
  Actions out;
  for (AgentId a = 0; a < links_.size() && !failed_; ++a) {
    Link& link = links_[a];
    if (link.state == State::kGone) continue;
    if (link.reopen_at && now >= *link.reopen_at) {
      link.reopen_at.reset();
      link.opening_since = now;
      send(a, config_.open, now, out);
    }
    check_deadlines(a, now, out);
    if (link.state == State::kGone) continue;
    if (link.liveness.heartbeat_due(config_.heartbeat_interval, now) && !link.key.empty())
      send(a, protocol::Heartbeat{config_.open.job_id}, now, out);
    if (scheduler_ && link.retry_at && now >= *link.retry_at) assign(a, now, out);
  }
  if (!failed_ && alive() == 0) {
    out.push_back(action::Fail{no_agents_reason()});
    failed_ = true;
  }
  return out;
}

void JobSession::check_deadlines(AgentId a, Clock::time_point now, Actions& out) {
  Link& link = links_[a];
  if (link.liveness.silent_for_more_than(config_.agent_timeout, now)) {
    drop(a, link.state == State::kOpening ? "did not answer" : "went silent", now, out);
    return;
  }
  if (link.state == State::kOpening && !link.reopen_at && now - link.opening_since > config_.open_timeout) {
    drop(a, "not ready after " + seconds_text(config_.open_timeout) + " (its Blender may hang loading the scene)",
         now, out);
    return;
  }
  if (link.state != State::kReady || link.rendering.empty()) return;
  const auto& [id, head] = *link.rendering.begin();
  const Seconds allowed = std::max(config_.region_timeout_floor, config_.region_timeout_factor * head.predicted);
  if (now - link.working_since > allowed)
    drop(a, "no result for " + columns_text(scheduler_->rect_of(id)) + " after " + seconds_text(allowed) +
                (head.predicted.count() > 0 ? " (predicted " + seconds_text(head.predicted) + ")" : ""),
         now, out);
}

bool JobSession::mark_done(const protocol::Rect& core) {
  return scheduler_ && scheduler_->mark_done(core);
}

Actions JobSession::close(bool discard) {
  Actions out;
  for (AgentId a = 0; a < links_.size(); ++a)
    if (links_[a].state != State::kGone && !links_[a].key.empty())
      out.push_back(action::Send{a, protocol::CloseJob{config_.open.job_id, discard}});
  return out;
}

void JobSession::assign(AgentId a, Clock::time_point now, Actions& out) {
  Link& link = links_[a];
  link.retry_at.reset();
  if (link.state != State::kReady || failed_) return;
  while (link.rendering.size() < static_cast<std::size_t>(1 + config_.prefetch)) {
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
      send(other, protocol::CancelRegion{config_.open.job_id, copy}, now, out);
    }
    const protocol::Rect rendered = with_margin(next->rect, scene_->margin, scene_->width, scene_->height);
    if (link.rendering.empty()) link.working_since = now;
    link.rendering[next->id] = {rendered, next->predicted};
    send(a, protocol::RenderRegion{config_.open.job_id, next->id, rendered, pass_mode_}, now, out);
    if (!first_region_) first_region_ = now;
    if (next->revoke) assign(next->revoke->first, now, out);  // that agent has a free slot now
  }
}

void JobSession::assign_all(Clock::time_point now, Actions& out) {
  for (AgentId a = 0; a < links_.size(); ++a) assign(a, now, out);
}

void JobSession::drop(AgentId a, const std::string& reason, Clock::time_point now, Actions& out) {
  Link& link = links_[a];
  if (link.state == State::kGone) return;
  if (link.state == State::kReady) {
    const std::size_t requeued = scheduler_->remove_agent(a);
    log("dropped " + link.endpoint + " (" + reason + ")" +
            (requeued > 0 ? "; its " + std::to_string(requeued) + " regions go to other agents" : ""),
        out);
  } else {
    log("not using " + link.endpoint + " (" + reason + ")", out);
  }
  if (!link.key.empty()) send(a, protocol::CloseJob{config_.open.job_id}, now, out);
  link.state = State::kGone;
  link.rendering.clear();
  link.report.note = reason;
  if (scheduler_) assign_all(now, out);
}

void JobSession::send(AgentId a, protocol::Message message, Clock::time_point now, Actions& out) {
  links_[a].liveness.sent(now);
  out.push_back(action::Send{a, std::move(message)});
}

void JobSession::log(std::string line, Actions& out) const { out.push_back(action::Log{std::move(line)}); }

std::size_t JobSession::alive() const {
  return static_cast<std::size_t>(
      std::count_if(links_.begin(), links_.end(), [](const Link& l) { return l.state != State::kGone; }));
}

std::string JobSession::no_agents_reason() const {
  if (links_.empty()) return "no agents to render on (start bnr-agent, or pass --agent HOST:PORT)";
  std::string why;
  for (const Link& l : links_) why += (why.empty() ? "" : "; ") + l.endpoint + ": " + l.report.note;
  return "no agent left to render on (" + why + ")";
}

std::vector<AgentReport> JobSession::reports() const {
  std::vector<AgentReport> out;
  for (const Link& l : links_) {
    out.push_back(l.report);
    out.back().state = l.state == State::kOpening ? "opening" : l.state == State::kReady ? "rendering" : "gone";
  }
  return out;
}

std::map<std::string, double> JobSession::learned_speeds() const {
  std::map<std::string, double> out;
  for (AgentId a = 0; a < links_.size(); ++a)
    if (links_[a].state == State::kReady && !links_[a].agent_id.empty()) out[links_[a].agent_id] = scheduler_->speed(a);
  return out;
}

double JobSession::seconds_since_start(Clock::time_point now) const {
  return std::chrono::duration<double>(now - started_).count();
}

}  // namespace bnr::broker
