// The end-of-run summary for scripts (bnr-broker --json FILE): what each job rendered, each
// agent's share (the columns of summary_table), totals, overdraw, the files written, and how
// the run ended. Pure: builds the JSON text; the caller writes it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "render_job.h"

namespace bnr::broker {

// Where a job's cost map (JobOptions::cost_prior) came from.
enum class CostPrior { kNone, kSpeedTest, kLastRender };
// "speed test", "last render"; "" for kNone.
[[nodiscard]] const char* cost_prior_name(CostPrior prior);

struct JobRecord {
  std::string scene;
  std::optional<int> frame;  // unset: the frame the scene was saved at
  JobSummary summary;
  CostPrior cost_prior = CostPrior::kNone;  // where the job's cost map came from
};

struct RunOutcome {
  std::vector<JobRecord> jobs;  // the jobs that completed, in order
  int exit_code = 0;            // bnr-broker's exit code: 0 done, 130 interrupted, else failed
  std::string error;            // the one-line reason when exit_code != 0
};

// "done", "interrupted" (exit code 130) or "failed": what a script branches on.
[[nodiscard]] const char* exit_reason(int exit_code);

// A JSON object: {"format": 1, "exit_code", "exit_reason", "error" (null when done), "jobs":
// [{"scene", "frame", "width", "height", "regions", "resumed_regions", "seconds",
// "first_region_seconds", "overdraw", "scene_bytes_sent", "cost_prior" ("speed test", "last
// render" or null), "cost_prior_dropped", "outputs": [paths], "totals":
// {"regions", "pixels", "wasted", "busy_seconds"}, "agents": [{"name", "regions", "pixels",
// "share_percent", "load_seconds", "busy_seconds", "idle_seconds", "busy_percent",
// "finish_seconds" (null: delivered nothing), "vs_frame_seconds", "wasted", "note", "device"}]}]}.
// Non-finite numbers are null; strings are escaped (control characters as \uXXXX).
[[nodiscard]] std::string run_report_json(const RunOutcome& outcome);

}  // namespace bnr::broker
