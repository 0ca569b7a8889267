// Human-facing text about a running job: the progress line and the closing summary. Pure.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace bnr::broker {

// "1:05", "12:00:03"; negative or unknown durations as "--:--".
[[nodiscard]] std::string format_duration(std::chrono::duration<double> d);

// "  42% | 12 regions done | 3 agents | 0:12 elapsed | ETA 0:17". The ETA is `eta` when the
// scheduler predicts one, else it extrapolates the average rate so far; it is left out until
// 2% of the frame is done.
[[nodiscard]] std::string progress_line(double fraction_done, std::size_t regions_done, std::size_t agents,
                                        std::chrono::duration<double> elapsed,
                                        std::chrono::duration<double> eta = std::chrono::duration<double>(-1));

struct AgentReport {
  std::string name{};
  std::size_t regions = 0;     // accepted results
  long long pixels = 0;        // pixels of the frame those results delivered
  std::size_t wasted = 0;      // copies cancelled because another agent finished them first
  double busy_seconds = 0.0;   // inside Blender's render call, as the agent measured it
  double ready_seconds = -1;   // since job start: when the agent had the scene loaded
  double finish_seconds = -1;  // since job start: its last result
  std::string note{};          // e.g. "went silent"
  std::string state{};         // "opening", "rendering" or "gone"
  std::string device{};        // what it rendered on, as its Blender reported (JobReady)
};

// A running job as a status page or a script sees it (JobOptions::on_status).
struct JobStatus {
  std::string scene{};
  int width = 0, height = 0;
  double fraction_done = 0.0;
  std::size_t regions_done = 0;
  double elapsed_seconds = 0.0;
  double eta_seconds = -1;     // unknown until the scheduler predicts one
  std::vector<AgentReport> agents{};
};

// One agent's row of summary_table in numbers. Busy and idle count from its scene being
// loaded (load_seconds) to the frame's finish; finish_seconds is -1 when it delivered nothing
// (vs_frame_seconds is then 0).
struct AgentRow {
  double share_percent = 0;     // of the frame's pixels
  double load_seconds = 0;
  double busy_seconds = 0;
  double idle_seconds = 0;
  double busy_percent = 0;
  double finish_seconds = -1;
  double vs_frame_seconds = 0;  // finish_seconds - the frame's finish
};
[[nodiscard]] AgentRow agent_row(const AgentReport& agent, long long frame_pixels, double wall_seconds);

// A table: one row per agent with its regions, pixels and share of the frame, how long it took
// to load the scene, its busy (inside Blender's render call) and idle time between loading and
// the frame's finish, and when it finished against the frame's finish.
[[nodiscard]] std::string summary_table(const std::vector<AgentReport>& agents, long long frame_pixels,
                                        double wall_seconds);

}  // namespace bnr::broker
