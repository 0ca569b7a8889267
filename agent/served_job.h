// One job's decisions on an agent, once its files are in: when Blender may render the next
// region, what a worker reply means, when Blender is restarted or the job given up, when a
// heartbeat is due, when the broker counts as gone and when a Blender is hung. Pure: it is
// fed with what happened and the time, and returns actions that the agent's loop (sockets,
// files, the Blender process) carries out. Fetching a job's files is the loop's business.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "liveness.h"
#include "messages.h"
#include "stall_watch.h"
#include "worker_protocol.h"

namespace bnr::agent {

namespace action {
// A message for the broker that needs no bulk (RegionFailed, Heartbeat).
struct Send {
  protocol::Message message;
};
// Ask Blender to render `region` into its region directory. `warm_up`: the one pixel after
// loading (region id 0, not the broker's), whose time must not count as a region's.
struct Render {
  protocol::RenderRegion region;
  bool warm_up = false;
};
// Blender rendered `region` (`done` is its reply): read the images and send RegionDone, or a
// RegionFailed if they are not what was asked for.
struct Deliver {
  protocol::RenderRegion region;
  WorkerLine done;
  double seconds = 0;
};
// Blender finished a region nobody wants any more (an abandoned one): remove its images.
struct Discard {
  std::uint64_t region_id = 0;
};
// The scene is loaded for the first time: send JobReady with this SceneInfo.
struct SendReady {
  protocol::SceneInfo scene;
};
// Stop this Blender (SIGKILL first when `hung`) and start a fresh one with the same scene.
struct RestartBlender {
  bool hung = false;
};
// Send JobFailed with `reason` and end the job; its Blender is not kept (SIGKILLed first
// when `hung`).
struct FailJob {
  protocol::Code code = protocol::Code::kUnspecified;
  std::string reason;
  bool hung = false;
};
// End the job without a word to the broker (it is gone).
struct EndJob {
  std::string why;
};
// A line for the agent's log.
struct Log {
  std::string line;
};
}  // namespace action

using Action = std::variant<action::Send, action::Render, action::Deliver, action::Discard, action::SendReady,
                            action::RestartBlender, action::FailJob, action::EndJob, action::Log>;
using Actions = std::vector<Action>;

// What the loop reads about Blender once a tick: CPU time of its process tree (nullopt:
// unreadable) and whether it printed or replied since the last tick.
struct BlenderProgress {
  std::optional<std::chrono::steady_clock::duration> cpu;
  bool output = false;
};

struct SessionLimits {
  int max_restarts = 3;  // Blender deaths per job before the job fails on this agent
  std::chrono::steady_clock::duration heartbeat_interval = std::chrono::seconds(1);
  std::chrono::steady_clock::duration broker_timeout = std::chrono::seconds(30);
  std::chrono::steady_clock::duration stall_timeout = std::chrono::seconds(120);  // zero: off
};

class ServedJob {
 public:
  using Clock = std::chrono::steady_clock;
  ServedJob(std::string job_id, SessionLimits limits, Clock::time_point now);

  // The job's Blender was started and is loading the scene.
  void blender_started(Clock::time_point now);
  // A Blender kept warm already has the scene loaded: the job is ready at once. `abandoned`:
  // a region of an earlier job that it is still rendering (its result is dropped, and nothing
  // else renders before it ends).
  [[nodiscard]] Actions adopt_loaded(const protocol::SceneInfo& scene,
                                     std::optional<protocol::RenderRegion> abandoned, Clock::time_point now);

  // From the broker (already known to be this job's).
  void heard(Clock::time_point now) { liveness_.heard(now); }
  void sent(Clock::time_point now) { liveness_.sent(now); }
  [[nodiscard]] Actions on_region(const protocol::RenderRegion& region, Clock::time_point now);
  void on_cancel(std::uint64_t region_id);

  // From Blender: one reply line, or its end (`reason`: what it said before dying).
  [[nodiscard]] Actions on_worker(const WorkerLine& line, Clock::time_point now);
  [[nodiscard]] Actions on_blender_exit(const std::string& reason);
  // Every turn of the loop: a heartbeat when one is due, the end of a job whose broker went
  // silent.
  [[nodiscard]] Actions on_tick(Clock::time_point now);
  // About once a second while the job has a Blender: whether it is hung. A busy Blender
  // (loading, warming up, rendering) that shows no progress for the stall timeout is killed:
  // the job fails if the scene never loaded, else its region fails and Blender restarts.
  [[nodiscard]] Actions on_progress(Clock::time_point now, const BlenderProgress& progress);

  [[nodiscard]] const std::string& job_id() const { return job_id_; }
  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] bool loading() const { return !ready_; }
  // Loaded and answering: worth keeping warm when the job ends.
  [[nodiscard]] bool keepable() const { return ready_ && !warming_up_; }
  // The region Blender is busy with that no later job of this Blender may claim: the one being
  // rendered, or the abandoned one.
  [[nodiscard]] std::optional<protocol::RenderRegion> busy_region() const { return rendering_ ? rendering_ : abandoned_; }
  [[nodiscard]] const protocol::SceneInfo& scene() const { return scene_; }
  [[nodiscard]] int regions_done() const { return regions_done_; }
  [[nodiscard]] int restarts() const { return restarts_; }
  [[nodiscard]] Clock::time_point last_heard() const { return liveness_.last_heard; }
  [[nodiscard]] std::size_t queued() const { return queue_.size(); }

  // Region ids come from the broker and start at 1; 0 never names one of its regions.
  static constexpr std::uint64_t kWarmUpRegion = 0;

 private:
  void start_next(Clock::time_point now, Actions& out);
  void blender_lost(protocol::Code code, const std::string& reason, bool hung, Actions& out);

  std::string job_id_;
  SessionLimits limits_;
  protocol::SceneInfo scene_;
  bool warming_up_ = false;  // the one-pixel render after loading is under way
  bool ready_ = false;       // Blender has the scene loaded and takes render commands
  bool ready_once_ = false;  // JobReady was sent (a restarted Blender does not send it again)
  int restarts_ = 0;
  std::deque<protocol::RenderRegion> queue_;
  std::optional<protocol::RenderRegion> rendering_;
  std::optional<protocol::RenderRegion> abandoned_;
  Clock::time_point render_started_;
  protocol::Liveness liveness_;
  StallWatch stall_;
  int regions_done_ = 0;
};

}  // namespace bnr::agent
