#include "stall_watch.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>
#include <vector>

namespace bnr::agent {

void StallWatch::start(Clock::time_point now, Clock::duration cpu) {
  watching_ = true;
  cpu_ = cpu;
  last_progress_ = now;
}

bool StallWatch::stalled(Clock::time_point now, std::optional<Clock::duration> cpu, bool output) {
  if (!watching_ || timeout_ == Clock::duration::zero()) return false;
  if (cpu && *cpu > cpu_) {
    cpu_ = *cpu;
    last_progress_ = now;
  }
  if (output) last_progress_ = now;
  return now - last_progress_ >= timeout_;
}

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  const std::size_t close = line.rfind(')');
  if (close == std::string_view::npos || line.find('(') == std::string_view::npos) return std::nullopt;
  // After "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
  // cmajflt utime stime, i.e. fields 3..15 of proc(5).
  std::vector<std::string_view> fields;
  std::size_t at = close + 1;
  while (fields.size() < 13) {
    while (at < line.size() && line[at] == ' ') ++at;
    if (at >= line.size()) return std::nullopt;
    const std::size_t end = std::min(line.find(' ', at), line.size());
    fields.push_back(line.substr(at, end - at));
    at = end;
  }
  const auto number = [](std::string_view s, auto& out) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  ProcStat stat;
  unsigned long long utime = 0, stime = 0;
  if (!number(fields[1], stat.ppid) || !number(fields[11], utime) || !number(fields[12], stime)) return std::nullopt;
  stat.ticks = utime + stime;
  return stat;
}

namespace {

std::optional<ProcStat> read_stat(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  return parse_proc_stat(line);
}

}  // namespace

std::optional<StallWatch::Clock::duration> process_tree_cpu(pid_t pid) {
  const std::optional<ProcStat> own = read_stat("/proc/" + std::to_string(pid) + "/stat");
  if (!own) return std::nullopt;
  unsigned long long ticks = own->ticks;
  // Blender rarely starts children, but a wrapper or an add-on may do the work in one.
  std::multimap<pid_t, std::pair<pid_t, unsigned long long>> by_parent;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    pid_t child = 0;
    const auto [p, err] = std::from_chars(name.data(), name.data() + name.size(), child);
    if (err != std::errc() || p != name.data() + name.size()) continue;
    if (const std::optional<ProcStat> s = read_stat(entry.path() / "stat"))
      by_parent.emplace(s->ppid, std::pair{child, s->ticks});
  }
  std::vector<pid_t> parents = {pid};
  while (!parents.empty()) {
    const pid_t parent = parents.back();
    parents.pop_back();
    const auto [first, last] = by_parent.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      ticks += it->second.second;
      parents.push_back(it->second.first);
    }
  }
  const long hz = sysconf(_SC_CLK_TCK);
  return std::chrono::duration_cast<StallWatch::Clock::duration>(
      std::chrono::duration<double>(static_cast<double>(ticks) / static_cast<double>(hz > 0 ? hz : 100)));
}

}  // namespace bnr::agent
