// Renders one scene across agents: opens the job on every agent, hands out regions as agents
// free up (one rendering, one queued per agent), merges results as they arrive, and writes the
// output files. One thread, one poll loop over all agent sockets around a JobSession (the
// decisions; job_session.h).
#pragma once

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "curve_keys.h"
#include "progress.h"
#include "region_scheduler.h"
#include "listing_task.h"
#include "scene_manifest.h"

namespace bnr::broker {

struct JobOptions {
  std::filesystem::path scene;
  SceneManifest manifest;             // what agents fetch; empty: built here (build_manifest)
  // Set when `manifest` is a guess (ManifestPlan): agents render it while this brings the real
  // one (started, or settled from the first ready agent's reading of the .blend, by the job);
  // the frame is written once it matches, and the job ends with ListingChanged when it does not.
  std::shared_ptr<ListingTask> listing;
  std::filesystem::path png;          // output; stereo Individual adds view suffixes
  std::filesystem::path exr;          // empty: no EXR
  // Every pass of every view layer merged into a multilayer EXR as Blender writes it (the
  // scene's own multilayer output); empty: none. With it, `png` may be empty (no PNG).
  std::filesystem::path layers;
  // The Blender that composites the merged frame when the scene's compositor needs the whole
  // frame (post_process.h); empty: such scenes are refused.
  std::string post_blender;
  bool write_with_blender = false;  // the scene's format is not PNG: Blender writes the output
  std::vector<std::string> agents;    // "host:port"
  bool no_denoise = false;
  std::optional<int> frame;           // unset: the frame the scene was saved at
  bool quiet = false;
  SchedulerConfig scheduler;
  std::chrono::milliseconds agent_timeout{10000};   // silence after which an agent is dropped
  std::chrono::milliseconds heartbeat_interval{1000};
  // An agent not ready this long after it last asked for scene bytes is dropped (a Blender
  // hung while loading); one with no result this long (or 5x its predicted time) likewise.
  std::chrono::seconds open_timeout{900};
  std::chrono::seconds region_timeout_floor{600};
  int prefetch = 1;                   // regions queued on an agent beyond the one rendering
  std::map<std::string, double> speed_hints;  // by agent id, from earlier jobs
  // Agents whose Blender differs from this version render different pixels (seams): they are
  // not used unless allow_mixed_versions. Empty: the first agent ready sets the version.
  std::string blender_version;
  bool allow_mixed_versions = false;
  // Agents on a GPU and on the CPU render slightly different pixels: the first agent ready
  // sets which kind renders the frame unless allow_mixed_devices.
  bool allow_mixed_devices = false;
  std::vector<double> cost_prior;             // work per column (any length), e.g. from a speed test
  int equal_strips_per_agent = 0;             // > 0: fixed equal regions, as a speed test renders
  // Journal every accepted region beside the output (spool_dir_for(png)) and resume from one
  // an interrupted run of the same job left there.
  bool spool = true;
  // Asked twice a second while the job runs: agents that appeared since ("host:port"); they
  // join the job. Empty: the job keeps the agents it started with.
  std::function<std::vector<std::string>()> discover_more;
  // CURVE on every agent connection: this broker's key pair, and the public key of the agent
  // at an endpoint ("host:port"). An agent whose key is unknown ("") is only asked whether it
  // is there (nothing is sent), then left out with the reason.
  protocol::CurveKeyPair curve;
  std::function<std::string(const std::string& endpoint)> agent_key;
  // Called when an agent proved it holds the secret key of agent_key(endpoint) (its CURVE
  // handshake succeeded): the moment to remember its key (trust on first use).
  std::function<void(const std::string& endpoint)> on_agent_verified;
  // Rewritten (atomically) every few seconds while the job runs: the frame so far, finished
  // regions in place and the rest transparent, at most 2048 px wide. Empty: none.
  std::filesystem::path preview;
  // About once a second while the job runs, once the frame is known.
  std::function<void(const JobStatus&)> on_status;
  // Called each poll turn (e.g. to drain the local agent's log).
  std::function<void()> on_idle;
  std::vector<int> extra_poll_fds;
  // When the broker program started: the log's "first region sent" and the summary's
  // first_region_seconds count from there. Unset: from the job's start.
  std::optional<std::chrono::steady_clock::time_point> launched;
};

struct JobSummary {
  int width = 0, height = 0;
  std::size_t regions = 0;
  double seconds = 0.0;
  std::vector<std::filesystem::path> written;
  std::vector<AgentReport> agents;
  std::uint64_t scene_bytes_sent = 0;            // to all agents; 0 when every agent had it cached
  std::size_t resumed_regions = 0;               // taken from an earlier run's spool
  // Pixels rendered for accepted regions, overlap margins included, / the pixels they kept:
  // 1.0 without margins; what adaptive sampling's overlap cost.
  double overdraw = 1.0;
  double first_region_seconds = -1;              // first RenderRegion sent, since `launched`
  std::map<std::string, double> learned_speeds;  // by agent id, to seed the next job
  std::vector<double> cost_per_column;           // the learned cost map
  bool cost_prior_dropped = false;               // the cost prior given was contradicted by measurements
};

// The scene's listing did not match the guess the job started on: run the job again with
// `truth` (agents are told to close theirs first).
struct ListingChanged : std::runtime_error {
  ListingChanged(const std::string& why, SceneManifest real) : std::runtime_error(why), truth(std::move(real)) {}
  SceneManifest truth;
};

// The file a job is named after, whose spool (spool_dir_for) sits beside it: the PNG, or with
// no PNG the multilayer EXR.
[[nodiscard]] const std::filesystem::path& primary_output(const JobOptions& options);

// Throws std::runtime_error with a one-line reason when the job cannot complete; no output
// file is written then, and the regions finished so far stay in the spool for the next run.
// `stop` (set by a signal handler) cancels the job on every agent.
[[nodiscard]] JobSummary render_job(const JobOptions& options, const volatile std::sig_atomic_t& stop);

}  // namespace bnr::broker
