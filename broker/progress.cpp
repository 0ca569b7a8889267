#include "progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bnr::broker {

std::string format_duration(std::chrono::duration<double> d) {
  const double s = d.count();
  if (!std::isfinite(s) || s < 0) return "--:--";
  const long long total = std::llround(s);
  char buf[32];
  if (total >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", total / 60, total % 60);
  return buf;
}

std::string progress_line(double fraction_done, std::size_t regions_done, std::size_t agents,
                          std::chrono::duration<double> elapsed, std::chrono::duration<double> eta) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%4.0f%% | %zu regions done | %zu agent%s | %s elapsed", fraction_done * 100.0,
                regions_done, agents, agents == 1 ? "" : "s", format_duration(elapsed).c_str());
  std::string out = buf;
  if (fraction_done >= 0.02 && fraction_done < 1.0)
    out += " | ETA " + format_duration(eta.count() >= 0 ? eta : elapsed * ((1.0 - fraction_done) / fraction_done));
  return out;
}

AgentRow agent_row(const AgentReport& a, long long frame_pixels, double wall_seconds) {
  AgentRow row;
  row.share_percent = frame_pixels > 0 ? 100.0 * static_cast<double>(a.pixels) / static_cast<double>(frame_pixels) : 0.0;
  // Busy and idle against the time the agent could work: from its scene being loaded (or
  // re-loaded) to the end of the frame; loading is its own column.
  row.load_seconds = a.ready_seconds >= 0 ? a.ready_seconds : 0.0;
  const double window = std::max(0.0, wall_seconds - row.load_seconds);
  row.busy_seconds = std::min(a.busy_seconds, window);
  row.idle_seconds = a.ready_seconds >= 0 ? window - row.busy_seconds : 0.0;
  row.busy_percent = window > 0 ? 100.0 * row.busy_seconds / window : 0.0;
  if (a.finish_seconds >= 0) {
    row.finish_seconds = a.finish_seconds;
    row.vs_frame_seconds = a.finish_seconds - wall_seconds;
  }
  return row;
}

std::string summary_table(const std::vector<AgentReport>& agents, long long frame_pixels, double wall_seconds) {
  std::string out =
      "  agent                        regions     pixels   share   load    busy    idle  busy%   finish  vs frame\n";
  for (const AgentReport& a : agents) {
    char buf[320];
    const AgentRow row = agent_row(a, frame_pixels, wall_seconds);
    const int n = std::snprintf(buf, sizeof buf, "  %-28.28s %7zu %10lld  %5.1f%% %5.1fs %6.1fs %6.1fs %5.1f%%",
                                a.name.c_str(), a.regions, a.pixels, row.share_percent, row.load_seconds,
                                row.busy_seconds, row.idle_seconds, row.busy_percent);
    if (row.finish_seconds >= 0)
      std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "  %6.1fs  %+6.1fs", row.finish_seconds,
                    row.vs_frame_seconds);
    else
      std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "        -         -");
    out += buf;
    if (a.wasted > 0) out += "  " + std::to_string(a.wasted) + " copies cancelled (another agent finished them first)";
    if (!a.note.empty()) out += "  (" + a.note + ")";
    out += "\n";
  }
  return out;
}

}  // namespace bnr::broker
