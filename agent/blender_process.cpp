#include "blender_process.h"

#include "blender_version.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <unistd.h>
#include <utility>

namespace bnr::agent {
namespace {

constexpr std::size_t kTailLines = 40;

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
  }
};

}  // namespace

tools::ChildProcess BlenderProcess::start(const BlenderConfig& c, int cmd_read, int reply_write) {
  std::vector<std::string> argv = {c.blender, "-b", "--factory-startup", "--disable-autoexec"};
  if (c.threads > 0) {
    argv.push_back("-t");
    argv.push_back(std::to_string(c.threads));
  }
  if (!c.scene.empty()) argv.push_back(c.scene.string());
  argv.insert(argv.end(), {"--python-exit-code", "2", "--python", c.script.string(), "--", "--cmd-fd", "3",
                           "--reply-fd", "4", "--cycles-device", c.device});
  if (c.scene.empty()) argv.push_back("--spare");
  if (c.no_denoise) argv.push_back("--no-denoise");
  if (c.frame) argv.insert(argv.end(), {"--frame", std::to_string(*c.frame)});
  if (!c.tree_root.empty()) argv.insert(argv.end(), {"--tree-root", c.tree_root.string()});
  tools::ChildProcess::Options options;
  options.capture_stdout = true;
  options.stderr_to_stdout = true;
  options.fds = {{3, cmd_read}, {4, reply_write}};
  return tools::ChildProcess(argv, options);
}

BlenderProcess::BlenderProcess(const BlenderConfig& config)
    : child_([&] {
        Pipe cmd;
        Pipe reply;
        cmd_fd_ = cmd.write;
        reply_fd_ = reply.read;
        try {
          tools::ChildProcess child = start(config, cmd.read, reply.write);
          close(cmd.read);
          close(reply.write);
          return child;
        } catch (...) {
          for (int fd : {cmd.read, cmd.write, reply.read, reply.write}) close(fd);
          throw;
        }
      }()) {
  tools::set_nonblocking_cloexec(reply_fd_);
  // A dead worker must surface as EPIPE on write, not kill the agent.
  std::signal(SIGPIPE, SIG_IGN);
}

BlenderProcess::~BlenderProcess() {
  if (cmd_fd_ >= 0) {
    send("quit");
    close(cmd_fd_);
  }
  // Blender frees a persistent-data scene quickly; a render in progress is not worth waiting for.
  child_.send_signal(SIGTERM);
  (void)child_.wait_or_kill(std::chrono::seconds(3));
  if (reply_fd_ >= 0) close(reply_fd_);
}

std::vector<WorkerLine> BlenderProcess::read_replies() {
  const std::size_t before = reply_buffer_.size();
  if (reply_open_) reply_open_ = tools::read_available(reply_fd_, reply_buffer_);
  output_ = output_ || reply_buffer_.size() != before;
  std::vector<WorkerLine> out = std::exchange(early_, {});
  std::size_t nl;
  while ((nl = reply_buffer_.find('\n')) != std::string::npos) {
    if (auto line = parse_worker_line(std::string_view(reply_buffer_).substr(0, nl))) {
      if (line->kind == "spare")
        spare_report_ = std::move(*line);
      else
        out.push_back(std::move(*line));
    }
    reply_buffer_.erase(0, nl + 1);
  }
  return out;
}

std::optional<WorkerLine> BlenderProcess::await_spare_report(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!spare_report_ && !ended()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::array<pollfd, 2> fds = {pollfd{reply_fd_, POLLIN, 0}, pollfd{log_fd(), POLLIN, 0}};
    if (poll(fds.data(), log_fd() >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left.count(), 200))) < 0 &&
        errno != EINTR)
      break;
    read_log();  // Blender's start-up lines, for blender_reason() and so its pipe never fills
    // Nothing else comes before `open`; whatever did is kept for the job's first read.
    for (WorkerLine& line : read_replies()) early_.push_back(std::move(line));
  }
  return spare_report_;
}

void BlenderProcess::read_log() {
  if (log_fd() < 0) return;
  const std::size_t before = log_buffer_.size();
  (void)tools::read_available(log_fd(), log_buffer_);
  output_ = output_ || log_buffer_.size() != before;
  std::size_t nl;
  while ((nl = log_buffer_.find('\n')) != std::string::npos) {
    std::string line = log_buffer_.substr(0, nl);
    log_buffer_.erase(0, nl + 1);
    if (line.empty()) continue;
    log_tail_.push_back(std::move(line));
    if (log_tail_.size() > kTailLines) log_tail_.erase(log_tail_.begin());
  }
}

void BlenderProcess::send(const std::string& line) {
  const std::string data = line + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(cmd_fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the worker is gone; ended() reports it
    done += static_cast<std::size_t>(n);
  }
}

void BlenderProcess::open(const BlenderConfig& job) {
  send(open_command(job.scene.string(), job.frame, job.no_denoise, job.tree_root.string()));
}

bool BlenderProcess::take_output() { return std::exchange(output_, false); }

void BlenderProcess::kill() { child_.send_signal(SIGKILL); }

bool BlenderProcess::ended() { return !reply_open_ || child_.try_wait().has_value(); }

std::string BlenderProcess::blender_reason() const { return tools::blender_reason(log_tail_); }

}  // namespace bnr::agent
