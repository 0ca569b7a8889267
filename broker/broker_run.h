// One run of bnr-broker over its scenes, once the flags are checked: the status page, keys,
// the machine benchmark or speed test, the agents (given, found on the LAN, the local one),
// then one render_job per scene, each seeded with what the ones before it learned.
#pragma once

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent_keys.h"
#include "agent_profiles.h"
#include "broker_flags.h"
#include "cost_map_store.h"
#include "local_agent.h"
#include "mdns_browse.h"
#include "render_job.h"
#include "run_report.h"
#include "scene_manifest.h"
#include "status_server.h"
#include "temp_dir.h"

namespace bnr::broker {

// Where a scene's PNG goes: -o, else the scene's name in the current directory.
[[nodiscard]] std::filesystem::path output_png(const BrokerFlags& flags, const std::string& scene);

class BrokerRun {
 public:
  // Sets everything up before the first job (throws a one-line error when it cannot): the
  // status page, keys, the benchmark scene, agents found within the mDNS window, the local
  // agent. `stop` ends the jobs (SIGINT).
  BrokerRun(const BrokerFlags& flags, std::chrono::steady_clock::time_point launched,
            const volatile std::sig_atomic_t& stop);
  BrokerRun(const BrokerRun&) = delete;
  BrokerRun& operator=(const BrokerRun&) = delete;

  // Renders every scene (after --benchmark, --speed-test), each completed job into `outcome`;
  // throws at the first that fails.
  void render_all(RunOutcome& outcome);

 private:
  void find_agents();
  [[nodiscard]] JobOptions job_for(const std::string& scene);
  // One job of `scene` (its options from job_for, then `adjust`ed); started again with the
  // real listing when the one it started on was a guess that did not hold.
  JobSummary render(const std::string& scene, const std::function<void(JobOptions&)>& adjust);
  // The scene's manifest plan, made on first use.
  ManifestPlan& plan_for(const std::string& scene);
  // A plan's listing is known: it is no longer a guess.
  void settle(const std::string& scene, SceneManifest truth);
  // Agents advertised since the last look that may join the running job.
  std::vector<std::string> discover_more();
  // What a job learned seeds the next one, and the next run of the broker.
  void remember(const JobSummary& summary);
  // Equal strips on every agent: each agent's speed from its own strips, and (for a small
  // version of the user's scene) where the frame costs most.
  JobSummary calibrate(const std::string& scene, const char* what);
  // The cost map a job starts from: the speed test's, else the one its scene's last render
  // learned (said once), else none.
  struct CostPriorChoice {
    std::vector<double> per_column;
    CostPrior source = CostPrior::kNone;
  };
  [[nodiscard]] CostPriorChoice cost_prior_for(const JobOptions& job);
  void print_summary(const JobSummary& summary, CostPrior prior) const;

  const BrokerFlags& flags_;
  std::chrono::steady_clock::time_point launched_;
  const volatile std::sig_atomic_t& stop_;
  // The web page serves the preview file the job writes: the user's, else one of its own.
  std::optional<tools::TempDir> http_dir_;
  std::unique_ptr<StatusServer> http_;
  std::filesystem::path preview_;
  protocol::CurveKeyPair own_keys_;
  AgentKeys keys_;
  std::optional<tools::TempDir> benchmark_dir_;
  std::string benchmark_scene_;
  std::string first_scene_;  // its listing starts before agents are found
  std::unique_ptr<AgentBrowser> browser_;  // browsing goes on during the jobs
  std::vector<std::string> agents_;
  std::unique_ptr<LocalAgent> local_;
  std::map<std::string, ManifestPlan> plans_;
  // The version agents must match: this machine's, if it has one (empty also until a listing
  // is known: the job learns it then).
  std::string local_blender_;
  // Adverts already judged, by address and join proofs: an agent that joins this farm while
  // it runs (its advert's proofs change) is judged again and can join the job.
  std::set<std::string> considered_;
  std::filesystem::path profiles_file_;
  SpeedProfiles profiles_;
  CostMapStore cost_maps_;
  std::vector<double> speed_test_map_;  // --speed-test's
  std::string announced_map_;  // the key of the kept map last said to be used
};

}  // namespace bnr::broker
