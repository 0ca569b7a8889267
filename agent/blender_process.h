// The one Blender process an agent keeps alive per job: started with the scene loaded and
// agent/blender_worker.py serving render commands over two pipes (fd 3 in, fd 4 out). Or a
// spare: started with no scene before a job needs it, so that a job pays milliseconds to open
// its scene in it instead of a second for Blender to start (open()).
// Blender's own stdout/stderr are read separately and kept as a short tail, to quote
// Blender's reason when it refuses a scene or dies.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <filesystem>
#include <string>
#include <vector>

#include "child_process.h"
#include "worker_protocol.h"

namespace bnr::agent {

struct BlenderConfig {
  std::string blender = "blender";
  int threads = 0;  // 0: Blender's default, all cores
  std::string device = "CPU";  // Cycles' device, as bnr-agent --device names it
  std::filesystem::path scene;    // empty: a spare, waiting for open()
  std::filesystem::path script;  // the worker script, written out by the agent
  bool no_denoise = false;
  std::optional<int> frame;  // unset: the scene's current frame
  std::filesystem::path tree_root;  // the job's mirrored files: absolute paths are redirected here
};

class BlenderProcess {
 public:
  // Starts Blender. Throws std::runtime_error when it cannot be started at all.
  explicit BlenderProcess(const BlenderConfig& config);
  BlenderProcess(const BlenderProcess&) = delete;
  BlenderProcess& operator=(const BlenderProcess&) = delete;
  // Asks the worker to quit, then kills Blender if it lingers.
  ~BlenderProcess();

  // For the agent's poll loop: readable when the worker replied / Blender printed something.
  [[nodiscard]] int reply_fd() const { return reply_fd_; }
  [[nodiscard]] int log_fd() const { return child_.stdout_fd(); }

  // A spare's first line ("spare blender= device= | device_error="), waited for up to
  // `timeout`: nullopt when Blender ended or stayed silent that long. The agent's start-up
  // probe, without a Blender of its own.
  [[nodiscard]] std::optional<WorkerLine> await_spare_report(std::chrono::milliseconds timeout);

  // Complete reply lines received so far (call when reply_fd is readable); a spare's
  // report is kept apart, not among them.
  [[nodiscard]] std::vector<WorkerLine> read_replies();
  // Drains Blender's output into the tail (call when log_fd is readable).
  void read_log();
  void send(const std::string& line);
  // A spare opens `job`'s scene (with its frame, denoise setting and file tree); from then on it
  // answers as a Blender started with that scene would: "ready" or "error".
  void open(const BlenderConfig& job);

  // True when Blender replied or printed anything since the last call: progress for the
  // agent's stall watch.
  [[nodiscard]] bool take_output();
  // SIGKILL, for a Blender that makes no progress (a stopped or hung one ignores SIGTERM or
  // the quit command); ended() reports it once it is gone.
  void kill();

  // True once Blender has exited (or its reply pipe closed).
  [[nodiscard]] bool ended();
  // Blender's own reason, best effort: the last "Error" line it printed, else its last line.
  [[nodiscard]] std::string blender_reason() const;
  [[nodiscard]] pid_t pid() const { return child_.pid(); }

 private:
  static tools::ChildProcess start(const BlenderConfig& config, int cmd_read, int reply_write);
  int cmd_fd_ = -1;
  int reply_fd_ = -1;
  bool reply_open_ = true;
  bool output_ = false;
  std::string reply_buffer_;
  std::optional<WorkerLine> spare_report_;
  std::vector<WorkerLine> early_;  // read while awaiting the report
  std::string log_buffer_;
  std::vector<std::string> log_tail_;  // oldest first
  tools::ChildProcess child_;
};

}  // namespace bnr::agent
