// Whether a busy Blender still makes progress: pure logic fed with readings of the CPU time its
// process tree used and whether it printed or replied anything, and the time. A Blender that is
// loading a scene or rendering a region gains CPU time or says something; one that does
// neither for the whole timeout is hung (a stuck driver, a deadlock, a stopped process).
// An idle Blender (loaded, nothing to render) is not watched.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace bnr::agent {

class StallWatch {
 public:
  using Clock = std::chrono::steady_clock;
  // `timeout` zero: never stalled (bnr-agent --stall-timeout 0).
  explicit StallWatch(Clock::duration timeout) : timeout_(timeout) {}

  // Blender became busy at `now` having used `cpu` so far: the timeout counts from here.
  void start(Clock::time_point now, Clock::duration cpu);
  // Blender is idle (or gone): nothing to watch until the next start().
  void stop() { watching_ = false; }
  [[nodiscard]] bool watching() const { return watching_; }

  // One reading while busy: `cpu` is the process tree's CPU time so far (nullopt: it could
  // not be read, which counts as no progress), `output` whether Blender printed or replied
  // anything since the last reading. True once neither grew for `timeout`. Not watching:
  // always false.
  [[nodiscard]] bool stalled(Clock::time_point now, std::optional<Clock::duration> cpu, bool output);
  [[nodiscard]] Clock::duration timeout() const { return timeout_; }

 private:
  Clock::duration timeout_;
  bool watching_ = false;
  Clock::duration cpu_{};
  Clock::time_point last_progress_{};
};

// The fields of /proc/PID/stat the watch needs: the parent and the CPU time the process used
// (utime + stime, in clock ticks). nullopt for text that is not such a line. The command name
// is in parentheses and may itself hold spaces and ')'.
struct ProcStat {
  pid_t ppid = 0;
  unsigned long long ticks = 0;
};
[[nodiscard]] std::optional<ProcStat> parse_proc_stat(std::string_view line);

// CPU time used by `pid` and its live descendants (read from /proc). nullopt when `pid` is
// gone or /proc cannot be read.
[[nodiscard]] std::optional<StallWatch::Clock::duration> process_tree_cpu(pid_t pid);

}  // namespace bnr::agent
