#include "local_agent.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <poll.h>
#include <stdexcept>
#include <vector>

namespace bnr::broker {
namespace {

tools::ChildProcess start_agent(const std::string& exe, int threads, bool quiet, const std::string& broker_key) {
  // It serves this broker and no other: nothing for the user to set up.
  std::vector<std::string> argv = {exe,     "--port", "0",           "--bind",  "127.0.0.1", "--no-mdns",
                                   "--name", "local",  "--authorize", broker_key};
  if (threads > 0) argv.insert(argv.end(), {"--threads", std::to_string(threads)});
  if (quiet) argv.push_back("-q");
  tools::ChildProcess::Options options;
  options.capture_stdout = true;
  options.stderr_to_stdout = true;
  return tools::ChildProcess(argv, options);
}

}  // namespace

std::string default_agent_executable() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto sibling = self.parent_path() / "bnr-agent";
    if (std::filesystem::exists(sibling, ec)) return sibling.string();
  }
  return "bnr-agent";
}

LocalAgent::LocalAgent(const std::string& agent_exe, int threads, bool quiet, const std::string& broker_key)
    : child_(start_agent(agent_exe, threads, quiet, broker_key)) {
  // The agent checks Blender first, which can take a while on a cold disk.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (port_ == 0 || key_.empty()) {
    drain();
    for (const std::string& line : tail_) {
      if (line.rfind("port ", 0) == 0) port_ = std::stoi(line.substr(5));
      if (line.rfind("key ", 0) == 0) key_ = line.substr(4);
    }
    if (port_ != 0 && !key_.empty()) break;
    if (child_.try_wait()) {
      drain();
      std::string why = last_line();
      if (why.rfind("bnr-agent: ", 0) == 0) why = why.substr(11);
      throw std::runtime_error("the local agent did not start: " + (why.empty() ? "no message" : why));
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the local agent did not start within 120 s");
    pollfd p{output_fd(), POLLIN, 0};
    poll(&p, 1, 100);
  }
}

LocalAgent::~LocalAgent() {
  child_.send_signal(SIGTERM);
  (void)child_.wait_or_kill(std::chrono::seconds(5));
}

void LocalAgent::drain() {
  if (output_fd() < 0) return;
  (void)tools::read_available(output_fd(), buffer_);
  std::size_t nl;
  while ((nl = buffer_.find('\n')) != std::string::npos) {
    tail_.push_back(buffer_.substr(0, nl));
    buffer_.erase(0, nl + 1);
    if (tail_.size() > 20) tail_.pop_front();
  }
}

}  // namespace bnr::broker
