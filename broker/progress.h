// Human-facing text about a running job: the progress line and the closing summary. Pure.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace bnr::broker {

// "1:05", "12:00:03"; negative or unknown durations as "--:--".
[[nodiscard]] std::string format_duration(std::chrono::duration<double> d);

// "  42% | 12 regions done | 3 agents | 0:12 elapsed | ETA 0:17". The ETA extrapolates the
// average rate so far and is left out until 2% of the frame is done.
[[nodiscard]] std::string progress_line(double fraction_done, std::size_t regions_done, std::size_t agents,
                                        std::chrono::duration<double> elapsed);

struct AgentReport {
  std::string name;
  std::size_t regions = 0;
  long long pixels = 0;
  double busy_seconds = 0.0;  // inside Blender's render call, as the agent measured it
  std::string note;           // e.g. "lost after 3 regions: went silent"
};

// A table: one row per agent with its share of the frame and how busy it was.
[[nodiscard]] std::string summary_table(const std::vector<AgentReport>& agents, long long frame_pixels,
                                        double wall_seconds);

}  // namespace bnr::broker
