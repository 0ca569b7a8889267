// What the benchmarks read from /proc about the processes they start: peak resident set,
// the process tree, a command line. Linux only, as the benchmarks are.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bnr::bench {

// The process's peak resident set (VmHWM) in bytes; nothing once it has exited.
inline std::optional<std::uint64_t> peak_rss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:  123 kB"
  return std::nullopt;
}

// Every live descendant of `pid` (children first), from /proc/PID/task/*/children.
inline std::vector<pid_t> descendants(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "children");
    pid_t child = 0;
    while (in >> child) {
      out.push_back(child);
      const std::vector<pid_t> more = descendants(child);
      out.insert(out.end(), more.begin(), more.end());
    }
  }
  return out;
}

// The process's arguments joined by spaces; empty once it has exited.
inline std::string command_line(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

// Peaks seen so far, per process: VmHWM only grows, so the last reading before a process ends
// is its peak give or take what it allocated in its last sampling interval.
class PeakWatch {
 public:
  void sample(pid_t pid) {
    if (const auto v = peak_rss(pid)) peaks_[pid] = std::max(peaks_[pid], *v);
  }
  [[nodiscard]] std::uint64_t peak(pid_t pid) const {
    const auto it = peaks_.find(pid);
    return it == peaks_.end() ? 0 : it->second;
  }

 private:
  std::map<pid_t, std::uint64_t> peaks_;
};

}  // namespace bnr::bench
