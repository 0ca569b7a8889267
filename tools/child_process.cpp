#include "child_process.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bnr::tools {
namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Only async-signal-safe calls between fork and exec; errors go back through `error_fd`.
[[noreturn]] void exec_child(char* const* argv, const ChildProcess::Options& o, int out_write,
                             int error_fd, pid_t parent) {
  if (o.die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
  }
  setpgid(0, 0);  // Ctrl+C in a terminal reaches only the parent, which then ends us cleanly
  if (out_write >= 0) {
    dup2(out_write, STDOUT_FILENO);
    if (o.stderr_to_stdout) dup2(out_write, STDERR_FILENO);
  } else if (o.stdout_to_null) {
    const int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) dup2(null_fd, STDOUT_FILENO);
  }
  // Two passes so that a mapping {3, 4}, {4, 3} cannot overwrite its own source.
  int moved[16];
  const std::size_t n = o.fds.size() < 16 ? o.fds.size() : 16;
  for (std::size_t i = 0; i < n; ++i) moved[i] = fcntl(o.fds[i].second, F_DUPFD_CLOEXEC, 100);
  for (std::size_t i = 0; i < n; ++i) dup2(moved[i], o.fds[i].first);  // dup2 clears CLOEXEC
  if (!o.working_dir.empty() && chdir(o.working_dir.c_str()) != 0) {
    const int e = errno;
    (void)!write(error_fd, &e, sizeof e);
    _exit(127);
  }
  execvp(argv[0], argv);
  const int e = errno;
  (void)!write(error_fd, &e, sizeof e);
  _exit(127);
}

}  // namespace

void set_nonblocking_cloexec(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

bool read_available(int fd, std::string& into) {
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) {
      into.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const Options& options) {
  if (argv.empty()) throw std::runtime_error("cannot run an empty command");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int out_pipe[2] = {-1, -1};
  if (options.capture_stdout && pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));

  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) exec_child(args.data(), options, out_pipe[1], error_pipe[1], parent);

  close(error_pipe[1]);
  if (out_pipe[1] >= 0) close(out_pipe[1]);
  stdout_fd_ = out_pipe[0];
  if (stdout_fd_ >= 0) set_nonblocking_cloexec(stdout_fd_);

  int child_errno = 0;
  ssize_t n;
  do n = read(error_pipe[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {  // exec failed: CLOEXEC never fired
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    release();
    throw std::runtime_error("cannot run '" + argv[0] + "': " + std::strerror(child_errno));
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      status_(other.status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    release();
    pid_ = std::exchange(other.pid_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    status_ = other.status_;
  }
  return *this;
}

ChildProcess::~ChildProcess() { release(); }

void ChildProcess::release() {
  if (pid_ > 0 && !status_) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
}

std::optional<int> ChildProcess::try_wait() {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) status_ = decode_status(status);
  return status_;
}

int ChildProcess::wait_or_kill(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto s = try_wait()) return *s;
    usleep(10'000);
  }
  send_signal(SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = decode_status(status);
  return *status_;
}

void ChildProcess::send_signal(int signal) const {
  if (pid_ > 0 && !status_) kill(pid_, signal);
}

RunResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      const std::string& working_dir) {
  RunResult result;
  try {
    ChildProcess::Options options;
    options.capture_stdout = true;
    options.stderr_to_stdout = true;
    options.working_dir = working_dir;
    ChildProcess child(argv, options);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool open = true;
    while (open) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        result.timed_out = true;
        break;
      }
      pollfd p{child.stdout_fd(), POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
      open = read_available(child.stdout_fd(), result.output);
    }
    result.exit_code = child.wait_or_kill(result.timed_out ? std::chrono::milliseconds(0)
                                                           : std::chrono::milliseconds(timeout));
  } catch (const std::exception& e) {
    result.output = e.what();
  }
  return result;
}

AgentListening wait_for_agent(ChildProcess& child, std::chrono::milliseconds timeout,
                              const std::function<bool()>& cancelled, std::string* output) {
  std::string out;
  AgentListening listening;
  std::size_t scanned = 0;  // complete lines before this offset are parsed
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (std::size_t nl; (nl = out.find('\n', scanned)) != std::string::npos; scanned = nl + 1) {
      const std::string line = out.substr(scanned, nl - scanned);
      if (line.rfind("port ", 0) == 0) listening.port = std::atoi(line.c_str() + 5);
      if (line.rfind("key ", 0) == 0) listening.key = line.substr(4);
    }
    if (listening.port > 0 && !listening.key.empty()) {
      if (output != nullptr) *output = out;
      return listening;
    }
    if (cancelled && cancelled()) throw std::runtime_error("interrupted");
    if (std::chrono::steady_clock::now() > deadline || child.try_wait())
      throw std::runtime_error("bnr-agent did not start: " + out);
    pollfd p{child.stdout_fd(), POLLIN, 0};
    (void)poll(&p, 1, 50);
    (void)read_available(child.stdout_fd(), out);
  }
}

int wait_for_agent_port(ChildProcess& child, std::chrono::milliseconds timeout, const std::function<bool()>& cancelled) {
  return wait_for_agent(child, timeout, cancelled).port;
}

}  // namespace bnr::tools
