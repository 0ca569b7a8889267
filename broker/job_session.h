// The broker's side of one job, as a state machine: fed with what agents send, how their
// connections' handshakes went and the time; it answers with actions (what to send to whom,
// which pixels to merge, when the job has failed). It owns the decisions: who is used, which
// region goes where, liveness, deadlines, retries, and what an agent's messages may say. The
// socket loop around it (render_job.cpp) only moves bytes, reads files and writes the output.
// Pure: no sockets, files or clock reads.
//
// Agents are numbered in the order they are added, from 0. Per agent:
//   opening --JobReady--> ready --(result deadline, silence, refusal, failure)--> gone
//   opening --(open deadline, silence, handshake failure, refusal)--> gone
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "device_kind.h"
#include "liveness.h"
#include "messages.h"
#include "progress.h"
#include "ready_check.h"
#include "region_scheduler.h"

namespace bnr::broker {

// Agents one job takes at most: each costs a socket, its monitor and bookkeeping.
inline constexpr std::size_t kMaxAgentsPerJob = 256;

struct SessionConfig {
  protocol::OpenJob open;                // sent to every agent; its job_id names the job
  bool want_passes = false;              // the output is a multilayer EXR of every pass
  // This machine has a Blender to composite the merged frame (scenes whose compositor needs
  // the whole frame are refused without one).
  bool can_post_process = false;
  // The scene's output format is one only Blender writes (JPEG, TIFF, EXR...): Blender writes
  // the merged frame through a pass-through compositor (needs can_post_process).
  bool write_with_blender = false;
  std::optional<FrameFacts> frame;       // the broker's own reading; unset: the first agent's
  std::uint64_t max_frame_bytes = std::uint64_t{1} << 40;
  std::string broker_key;                // this broker's public key, for what-to-do messages
  std::string blender_version;           // agents must match unless allow_mixed_versions
  bool allow_mixed_versions = false;
  // CPU and GPU agents render slightly different pixels: the first agent ready sets which
  // kind renders the frame, unless allow_mixed_devices.
  bool allow_mixed_devices = false;
  SchedulerConfig scheduler;
  std::vector<double> cost_prior;
  int equal_strips_per_agent = 0;        // > 0: fixed equal regions (a speed test)
  std::map<std::string, double> speed_hints;  // by agent id
  int prefetch = 1;                      // regions queued on an agent beyond the one rendering
  Seconds agent_timeout{10};             // silence after which an agent is dropped
  Seconds heartbeat_interval{1};
  // From OpenJob, or the scene bytes it last asked for, to JobReady: a Blender hung while
  // loading. Agents watch their Blender themselves (bnr-agent --stall-timeout); this bounds it.
  Seconds open_timeout{900};
  // A result is late once its agent has worked on it this many times its predicted time, and
  // at least region_timeout_floor: the agent is dropped and its regions go elsewhere.
  double region_timeout_factor = 5.0;
  Seconds region_timeout_floor{600};
  std::uint64_t scene_bytes = 0;         // all of the job's files: what one agent may ask for
  std::size_t max_agents = kMaxAgentsPerJob;
};

namespace action {
struct Send {
  AgentId agent;
  protocol::Message message;
};
// Read these scene bytes and send them as a FileChunk; report a failure with on_chunk_error.
struct SendChunk {
  AgentId agent;
  protocol::FetchChunk fetch;
};
// Merge (and journal) the bulk of the RegionDone being handled: `core` of `done.rect`.
struct Merge {
  AgentId agent;
  protocol::Rect core;
  protocol::RegionDone done;
};
// The frame is known (the first agent is ready): make the buffers, resume from the spool
// (mark_done), then call frame_started.
struct StartFrame {
  protocol::SceneInfo scene;
};
// Stop the agent's connection: nothing more is sent or read.
struct CloseLink {
  AgentId agent;
};
struct Log {
  std::string line;
};
// The job cannot complete: one line.
struct Fail {
  std::string reason;
};
}  // namespace action

using Action = std::variant<action::Send, action::SendChunk, action::Merge, action::StartFrame, action::CloseLink,
                            action::Log, action::Fail>;
using Actions = std::vector<Action>;

// What the socket loop reports of a connection's handshake (from its ZeroMQ monitor).
enum class Handshake { kConnected, kSucceeded, kRefusedKey, kRefused, kNotCurve, kHungUp };

class JobSession {
 public:
  JobSession(SessionConfig config, Clock::time_point now);

  // A new agent at `endpoint` with CURVE public key `key` ("" unknown: it is only asked whether
  // it is there, then left out). Its id is the number of agents added before it. Beyond
  // max_agents it is left out at once.
  [[nodiscard]] Actions add_agent(const std::string& endpoint, const std::string& key, Clock::time_point now);

  // A message from `agent` that decode() accepted (its bulk matches what it declares).
  [[nodiscard]] Actions on_message(AgentId agent, const protocol::Message& message, Clock::time_point now);
  // Bytes from `agent` that decode() refused.
  [[nodiscard]] Actions on_malformed(AgentId agent, const std::string& error, Clock::time_point now);
  [[nodiscard]] Actions on_handshake(AgentId agent, Handshake event, Clock::time_point now);
  // A SendChunk could not be served: the agent asked for bytes the job does not have
  // (`agent_fault`), or this machine cannot read its own scene files (the job fails).
  [[nodiscard]] Actions on_chunk_error(AgentId agent, const std::string& error, bool agent_fault,
                                       Clock::time_point now);
  // A Send to `agent` could not be queued (its connection is full: it does not read).
  [[nodiscard]] Actions on_send_failed(AgentId agent, Clock::time_point now);
  // Liveness, heartbeats, deadlines, retries. Call every loop turn.
  [[nodiscard]] Actions on_tick(Clock::time_point now);
  // Resuming: columns a spooled region covers; false when they do not fit what is left.
  // Only between StartFrame and frame_started.
  [[nodiscard]] bool mark_done(const protocol::Rect& core);
  // With passes: the channels every region must return, from a spooled region; otherwise the
  // first accepted region sets them. A region with other channels is rendered again.
  void expect_pass_channels(const std::vector<protocol::PassChannel>& channels) { pass_channels_ = channels; }
  // The shell made the frame (and resumed from the spool): the agent whose JobReady started
  // it gets its regions now.
  [[nodiscard]] Actions frame_started(Clock::time_point now);
  // A job started on a guessed scene listing (scene_manifest.h's ManifestPlan) renders at once,
  // on the first ready agent's Blender version and frame; when the listing is in, its reading
  // of the frame and its Blender version judge the agents that come later. (The shell checks
  // first that the guess held and that the agents' version is this machine's.)
  void confirm_scene(std::optional<FrameFacts> frame, const std::string& blender_version);
  // The Blender version agents must have: the config's, else the first ready agent's.
  [[nodiscard]] const std::string& blender_version() const { return blender_version_; }
  // Closing everything (job done, failed or cancelled): CloseJob to every agent not gone.
  [[nodiscard]] Actions close(bool discard);

  [[nodiscard]] bool started() const { return scheduler_.has_value(); }
  [[nodiscard]] bool finished() const { return scheduler_ && scheduler_->finished(); }
  [[nodiscard]] const RegionScheduler& scheduler() const { return *scheduler_; }
  [[nodiscard]] const protocol::SceneInfo& scene() const { return *scene_; }
  // What every region returns besides display pixels; set with the frame.
  [[nodiscard]] protocol::PassMode pass_mode() const { return pass_mode_; }
  [[nodiscard]] std::size_t alive() const;
  [[nodiscard]] std::size_t agents() const { return links_.size(); }
  [[nodiscard]] bool gone(AgentId agent) const { return links_[agent].state == State::kGone; }
  [[nodiscard]] std::vector<AgentReport> reports() const;
  // By agent id, for agents still ready: what to remember for the next job.
  [[nodiscard]] std::map<std::string, double> learned_speeds() const;
  [[nodiscard]] std::optional<Clock::time_point> first_region_sent() const { return first_region_; }

 private:
  enum class State { kOpening, kReady, kGone };
  struct InFlight {
    protocol::Rect rendered;  // margin included
    Seconds predicted{0};
  };
  struct Link {
    std::string endpoint;
    std::string key;
    State state = State::kOpening;
    protocol::Liveness liveness;
    Clock::time_point opening_since;              // OpenJob sent, or scene bytes last asked for
    Clock::time_point working_since;              // its head region started (as far as known)
    std::map<RegionId, InFlight> rendering;       // in the order sent: ids grow
    std::string agent_id;
    AgentReport report;
    int busy_refusals = 0;
    int transfer_retries = 0;
    std::optional<Clock::time_point> reopen_at;
    std::optional<Clock::time_point> retry_at;
    bool verified = false;
    int failed_handshakes = 0;
    std::uint64_t bytes_asked = 0;
  };

  void handle(AgentId a, const protocol::JobReady& m, Clock::time_point now, Actions& out);
  void handle(AgentId a, const protocol::JobFailed& m, Clock::time_point now, Actions& out);
  void handle(AgentId a, const protocol::RegionDone& m, Clock::time_point now, Actions& out);
  void handle(AgentId a, const protocol::RegionFailed& m, Clock::time_point now, Actions& out);
  void handle(AgentId a, const protocol::FetchChunk& m, Clock::time_point now, Actions& out);
  void handle(AgentId a, const protocol::Refused& m, Clock::time_point now, Actions& out);
  void start_frame(const protocol::SceneInfo& scene, Actions& out);
  void make_ready(AgentId a, const protocol::JobReady& ready, Clock::time_point now, Actions& out);
  void region_failed(AgentId a, RegionId region, const std::string& reason, Clock::time_point now, Actions& out);
  void assign(AgentId a, Clock::time_point now, Actions& out);
  void assign_all(Clock::time_point now, Actions& out);
  void drop(AgentId a, const std::string& reason, Clock::time_point now, Actions& out);
  void send(AgentId a, protocol::Message message, Clock::time_point now, Actions& out);
  void check_deadlines(AgentId a, Clock::time_point now, Actions& out);
  [[nodiscard]] std::string handshake_problem(Link& link, Handshake event) const;
  [[nodiscard]] SchedulerConfig scheduler_config() const;
  [[nodiscard]] std::string no_agents_reason() const;
  [[nodiscard]] double seconds_since_start(Clock::time_point now) const;
  void log(std::string line, Actions& out) const;

  SessionConfig config_;
  Clock::time_point started_;
  std::string blender_version_;
  std::optional<DeviceKind> device_kind_;  // set by the first agent ready, like blender_version_
  std::vector<Link> links_;
  std::optional<protocol::SceneInfo> scene_;
  std::optional<std::vector<protocol::PassChannel>> pass_channels_;
  protocol::PassMode pass_mode_ = protocol::PassMode::kNone;
  std::optional<RegionScheduler> scheduler_;
  std::optional<Clock::time_point> first_region_;
  std::optional<std::pair<AgentId, protocol::JobReady>> pending_ready_;  // until frame_started
  bool failed_ = false;
};

}  // namespace bnr::broker
