// A child process started with fork + exec: the Blender worker inside an agent, the local agent
// a broker starts, the programs tests drive.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace bnr::tools {

class ChildProcess {
 public:
  struct Options {
    bool capture_stdout = false;      // read it from stdout_fd()
    bool stderr_to_stdout = false;    // both streams into one pipe (needs capture_stdout)
    bool stdout_to_null = false;
    bool die_with_parent = true;      // SIGKILL the child if this process dies first
    std::vector<std::pair<int, int>> fds;  // {child fd, parent fd}: dup2'd in the child
    std::string working_dir;          // empty: inherit
  };

  // Starts argv[0] (searched in PATH). Throws std::runtime_error with one line such as
  // "cannot run 'blender': No such file or directory" when exec fails.
  ChildProcess(const std::vector<std::string>& argv, const Options& options);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  // Kills (SIGKILL) and reaps a child that is still running.
  ~ChildProcess();

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] int stdout_fd() const { return stdout_fd_; }  // -1 unless captured

  // Exit status once the child has ended: exit code, or 128 + signal number.
  [[nodiscard]] std::optional<int> try_wait();
  // Waits up to `timeout`, then SIGKILLs the child and waits for it.
  int wait_or_kill(std::chrono::milliseconds timeout);
  void send_signal(int signal) const;
  [[nodiscard]] bool running() { return !try_wait().has_value(); }

 private:
  void release();
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::optional<int> status_;
};

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed; -1 when it could not start
  std::string output;  // stdout and stderr together
  bool timed_out = false;
};

// Runs a command to completion, collecting its output; kills it after `timeout`.
// Never throws for a command that cannot start: exit_code -1 and the reason in output.
[[nodiscard]] RunResult run_command(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout,
                                    const std::string& working_dir = {});

// Reads what is available on a non-blocking fd and appends it; false at end of file.
bool read_available(int fd, std::string& into);

// Where a bnr-agent started with --port 0 listens, and its CURVE public key.
struct AgentListening {
  int port = 0;
  std::string key;  // Z85, what bnr-broker --agent HOST:PORT@KEY takes
};

// For a bnr-agent started with --port 0 and stdout captured: waits for the "port N" and
// "key KEY" lines it prints once it listens. Other lines (a log merged into stdout) are
// skipped; `output` (if given) gets everything read, for a caller that goes on reading.
// Throws std::runtime_error (with what it printed) when the child exits, `timeout` passes,
// or `cancelled()` becomes true first.
[[nodiscard]] AgentListening wait_for_agent(ChildProcess& child, std::chrono::milliseconds timeout,
                                            const std::function<bool()>& cancelled = {},
                                            std::string* output = nullptr);
// The same, for callers that only need the port.
[[nodiscard]] int wait_for_agent_port(ChildProcess& child, std::chrono::milliseconds timeout,
                                      const std::function<bool()>& cancelled = {});

// Makes the fd non-blocking and close-on-exec.
void set_nonblocking_cloexec(int fd);

}  // namespace bnr::tools
