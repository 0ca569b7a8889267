#include "broker_run.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "agent_discovery.h"
#include "benchmark_scene.h"
#include "broker_identity.h"
#include "output_paths.h"
#include "region_spool.h"

namespace bnr::broker {
namespace fs = std::filesystem;

fs::path output_png(const BrokerFlags& flags, const std::string& scene) {
  return flags.output.empty() ? default_png(scene) : fs::path(flags.output);
}

namespace {

std::string advert_id(const DiscoveredAgent& found) { return found.endpoint() + " " + found.txt.join_proofs; }

}  // namespace

BrokerRun::BrokerRun(const BrokerFlags& flags, std::chrono::steady_clock::time_point launched,
                     const volatile std::sig_atomic_t& stop)
    : flags_(flags), launched_(launched), stop_(stop), preview_(flags.preview), own_keys_(broker_keys()),
      keys_(agent_keys(flags)), profiles_file_(profiles_path()), profiles_(load_profiles(profiles_file_)),
      cost_maps_(profiles_file_.parent_path() / "cost-maps") {
  if (flags_.http) {
    if (preview_.empty()) preview_ = http_dir_.emplace("bnr-http").path() / "preview.png";
    http_ = std::make_unique<StatusServer>(*flags_.http, preview_);
    const std::string& h = flags_.http->host;
    const std::string url = "http://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" +
                            std::to_string(http_->port()) + "/";
    if (!flags_.quiet) std::cerr << "bnr-broker: status page at " + url + "\n";  // one write
  }
  if (flags_.trust_new_agents)
    std::cerr << "bnr-broker: warning: --trust-new-agents: agents on the LAN that did not join this broker's farm "
                 "are used too, and get the scene's files\n";
  // The machine benchmark's scene: made by this machine's Blender from the embedded generator.
  if (flags_.benchmark) {
    benchmark_dir_.emplace("bnr-benchmark");
    benchmark_scene_ = make_benchmark_scene(benchmark_dir_->path()).string();
  }
  first_scene_ = !benchmark_scene_.empty()     ? benchmark_scene_
                 : !flags_.speed_test.empty() ? flags_.speed_test
                                              : flags_.scenes.front();
  // Listing the scene (a Blender start) overlaps finding agents and their loading it.
  (void)plan_for(first_scene_);
  find_agents();
  if (browser_)
    for (const auto& found : browser_->agents()) considered_.insert(advert_id(found));
}

void BrokerRun::find_agents() {
  agents_ = flags_.agents;
  bool this_host_serves = false;  // an agent already runs here: a local one would compete for its cores
  if (flags_.mdns) browser_ = std::make_unique<AgentBrowser>();
  if (browser_) {
    for (const auto& found : discover(flags_, *browser_)) {
      if (!keys_.accept_advert(found)) continue;
      if (std::find(agents_.begin(), agents_.end(), found.endpoint()) == agents_.end())
        agents_.push_back(found.endpoint());
      if (on_this_host(found)) this_host_serves = true;
    }
  }
  if (flags_.local && !this_host_serves) {
    local_ = std::make_unique<LocalAgent>(default_agent_executable(), flags_.local_threads, flags_.quiet,
                                          own_keys_.public_key);
    agents_.push_back(local_->endpoint());
    keys_.add(local_->endpoint(), local_->key());
  }
  if (agents_.empty()) throw std::runtime_error("no agents to render on (start bnr-agent, or drop --no-local)");
}

std::vector<std::string> BrokerRun::discover_more() {
  browser_->run_for(std::chrono::milliseconds(0));
  std::vector<std::string> joining;
  for (const auto& found : browser_->agents()) {
    if (!considered_.insert(advert_id(found)).second ||
        std::find(agents_.begin(), agents_.end(), found.endpoint()) != agents_.end())
      continue;
    // Another agent on this machine would compete with the local one for its cores.
    const bool here = on_this_host(found);
    if ((here && local_) || !usable(found, flags_) || !keys_.accept_advert(found)) continue;
    agents_.push_back(found.endpoint());  // the next scene starts with it too
    joining.push_back(found.endpoint());
  }
  return joining;
}

ManifestPlan& BrokerRun::plan_for(const std::string& scene) {
  auto it = plans_.find(scene);
  if (it == plans_.end()) {
    it = plans_.emplace(scene, plan_manifest(scene, "blender")).first;
    if (!it->second.listing && local_blender_.empty()) local_blender_ = it->second.manifest.blender_version;
  }
  return it->second;
}

void BrokerRun::settle(const std::string& scene, SceneManifest truth) {
  if (local_blender_.empty()) local_blender_ = truth.blender_version;
  plans_[scene] = ManifestPlan{std::move(truth), {}};
}

JobSummary BrokerRun::render(const std::string& scene, const std::function<void(JobOptions&)>& adjust) {
  std::optional<fs::path> guessed_spool;  // the spool of a job that ran on a wrong guess
  for (;;) {
    JobOptions job = job_for(scene);
    adjust(job);
    // Its regions are another output's (the guess wrote PNG, the scene multilayer EXR): no run
    // resumes from them. A spool beside the same output is the next job's to resume or replace.
    if (guessed_spool && *guessed_spool != spool_dir_for(primary_output(job))) discard_spool(*guessed_spool);
    try {
      JobSummary summary = render_job(job, stop_);
      if (job.listing) settle(scene, job.listing->result().get());  // the job confirmed it
      return summary;
    } catch (const ListingChanged& changed) {
      if (!flags_.quiet) std::cerr << "bnr-broker: " << changed.what() << "; starting again with its real listing\n";
      settle(scene, changed.truth);  // no guess the second time
      guessed_spool = spool_dir_for(primary_output(job));
    }
  }
}

JobOptions BrokerRun::job_for(const std::string& scene) {
  JobOptions job;
  job.scene = scene;
  const ManifestPlan& plan = plan_for(scene);
  job.manifest = plan.manifest;
  job.listing = plan.listing;
  if (!flags_.quiet && !job.listing) {  // a guess's warnings come with its listing
    for (const std::string& w : job.manifest.warnings) std::cerr << "bnr-broker: warning: " << w << "\n";
    if (job.manifest.files.size() > 1)
      std::fprintf(stderr, "bnr-broker: %s uses %zu external files; %.1f MiB in all\n",
                   fs::path(scene).filename().c_str(), job.manifest.files.size() - 1,
                   static_cast<double>(job.manifest.total_bytes()) / (1 << 20));
  }
  job.png = output_png(flags_, scene);
  job.exr = flags_.exr;
  if (job.manifest.output && job.manifest.output->multilayer()) {
    // The scene's own output: every pass in one multilayer EXR, named like the PNG would be.
    job.layers = fs::path(job.png).replace_extension(".exr");
    job.png.clear();
    if (!job.exr.empty() && fs::absolute(job.exr).lexically_normal() == fs::absolute(job.layers).lexically_normal())
      throw std::runtime_error(job.layers.string() + " is both the scene's multilayer output and --exr; choose "
                               "another --exr");
  }
  job.preview = preview_;
  job.agents = agents_;
  job.no_denoise = flags_.no_denoise;
  job.frame = flags_.frame;
  job.blender_version = local_blender_;
  // A guess assumes this machine's Blender works; a listing that says otherwise starts again.
  if (!local_blender_.empty() || job.listing) job.post_blender = "blender";
  job.write_with_blender =
      job.manifest.output && job.manifest.output->format != "PNG" && !job.manifest.output->multilayer();
  job.allow_mixed_versions = flags_.allow_mixed_versions;
  job.allow_mixed_devices = flags_.allow_mixed_devices;
  job.quiet = flags_.quiet;
  job.scheduler.region_width = flags_.region_width;
  job.scheduler.bands = flags_.bands;
  job.agent_timeout = std::chrono::seconds(flags_.agent_timeout_s);
  job.open_timeout = std::chrono::seconds(flags_.open_timeout_s);
  job.region_timeout_floor = std::chrono::seconds(flags_.region_timeout_s);
  job.speed_hints = profiles_;
  job.curve = own_keys_;
  job.launched = launched_;
  job.agent_key = [this](const std::string& endpoint) { return keys_.key_of(endpoint); };
  job.on_agent_verified = [this](const std::string& endpoint) { keys_.verified(endpoint); };
  if (browser_) job.discover_more = [this] { return discover_more(); };
  if (local_) job.extra_poll_fds.push_back(local_->output_fd());
  if (http_) {
    job.extra_poll_fds.push_back(http_->fd());
    job.on_status = [this](const JobStatus& s) { http_->set_status(s); };
  }
  if (local_ || http_)
    job.on_idle = [this] {
      if (local_) local_->drain();
      if (http_) http_->serve();
    };
  return job;
}

void BrokerRun::remember(const JobSummary& summary) {
  profiles_ = merge_profiles(profiles_, summary.learned_speeds);
  if (!save_profiles(profiles_file_, profiles_) && !flags_.quiet)
    std::cerr << "bnr-broker: warning: could not save agent speeds to " << profiles_file_.string() << "\n";
}

JobSummary BrokerRun::calibrate(const std::string& scene, const char* what) {
  const JobSummary s = render(scene, [what](JobOptions& test) {
    test.png = fs::temp_directory_path() / ("bnr-" + std::string(what) + "-" + std::to_string(getpid()) + ".png");
    test.exr.clear();
    test.frame.reset();
    test.equal_strips_per_agent = 8;
    test.spool = false;  // a throw-away render: nothing to resume
  });
  for (const auto& p : s.written) fs::remove(p);
  remember(s);
  if (!flags_.quiet) {
    std::fprintf(stderr, "bnr-broker: %s took %.1f s; relative agent speeds:", what, s.seconds);
    for (const auto& [id, speed] : s.learned_speeds) std::fprintf(stderr, " %s %.2f", id.c_str(), speed);
    std::fprintf(stderr, "\n");
  }
  return s;
}

void BrokerRun::print_summary(const JobSummary& s, CostPrior prior) const {
  std::string files;
  for (const auto& p : s.written) files += (files.empty() ? "" : ", ") + p.string();
  const std::string resumed =
      s.resumed_regions > 0 ? " + " + std::to_string(s.resumed_regions) + " resumed" : std::string();
  char first[64] = "";
  if (s.first_region_seconds >= 0) std::snprintf(first, sizeof first, "; first region at %.2f s", s.first_region_seconds);
  std::fprintf(stderr,
               "bnr-broker: wrote %s (%dx%d, %zu regions%s, %.1f s%s; rendered %.2fx the frame's pixels; "
               "%.1f MiB of scene files sent)\n%s",
               files.c_str(), s.width, s.height, s.regions, resumed.c_str(), s.seconds, first, s.overdraw,
               static_cast<double>(s.scene_bytes_sent) / (1 << 20),
               summary_table(s.agents, static_cast<long long>(s.width) * s.height, s.seconds).c_str());
  if (!s.cost_prior_dropped) return;
  if (prior == CostPrior::kSpeedTest)
    std::fprintf(stderr, "bnr-broker: the speed test's cost map did not match this scene (its costly columns were "
                         "elsewhere), so regions were sized from what the agents measured; give --speed-test a small "
                         "copy of the current scene\n");
  else
    std::fprintf(stderr, "bnr-broker: the cost map of this scene's last render did not match this render, so regions "
                         "were sized from what the agents measured (the map is replaced by this render's)\n");
}

BrokerRun::CostPriorChoice BrokerRun::cost_prior_for(const JobOptions& job) {
  if (!speed_test_map_.empty()) return {speed_test_map_, CostPrior::kSpeedTest};
  const std::string key = cost_map_key(job.manifest, job.frame);
  std::vector<double> kept = cost_maps_.load(key);
  if (kept.empty()) return {};
  if (!flags_.quiet && announced_map_ != key)
    std::cerr << "bnr-broker: regions are sized from the start by where this scene's last render was costly\n";
  announced_map_ = key;
  return {std::move(kept), CostPrior::kLastRender};
}

void BrokerRun::render_all(RunOutcome& outcome) {
  if (!benchmark_scene_.empty()) (void)calibrate(benchmark_scene_, "benchmark");
  if (!flags_.speed_test.empty()) speed_test_map_ = calibrate(flags_.speed_test, "speed-test").cost_per_column;
  for (const std::string& scene : flags_.scenes) {
    std::string map_key;
    CostPrior prior = CostPrior::kNone;
    const JobSummary s = render(scene, [&](JobOptions& job) {
      map_key = cost_map_key(job.manifest, job.frame);
      CostPriorChoice choice = cost_prior_for(job);
      job.cost_prior = std::move(choice.per_column);
      prior = choice.source;
    });
    remember(s);
    // A resumed job measured only what was left: its map would be a poorer one.
    if (s.resumed_regions == 0) (void)cost_maps_.save(map_key, s.cost_per_column);
    outcome.jobs.push_back({scene, flags_.frame, s, prior});
    if (!flags_.quiet) print_summary(s, prior);
  }
}

}  // namespace bnr::broker
