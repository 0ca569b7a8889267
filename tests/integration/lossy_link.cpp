#include "lossy_link.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "child_process.h"

namespace bnr::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kNetnsPrefix = "bnr-chaos-";

void run_ip(const std::vector<std::string>& argv) {
  const tools::RunResult r = tools::run_command(argv, std::chrono::seconds(10));
  if (r.exit_code != 0) {
    std::string command;
    for (const std::string& a : argv) command += (command.empty() ? "" : " ") + a;
    throw std::runtime_error("lossy link: '" + command + "' failed: " + r.output);
  }
}

int open_tun(const std::string& name) {
  const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw std::runtime_error(std::string("lossy link: /dev/net/tun: ") + std::strerror(errno));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    const int e = errno;
    close(fd);
    throw std::runtime_error("lossy link: TUNSETIFF " + name + ": " + std::strerror(e));
  }
  return fd;
}

// Namespaces "bnr-chaos-PID-N" whose test process is gone (it was killed before its
// destructor ran): their devices went with the process, the empty namespace stays.
void delete_orphaned_namespaces() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kNetnsPrefix, 0) != 0) continue;
    const pid_t pid = std::atoi(name.c_str() + std::strlen(kNetnsPrefix));
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
      (void)tools::run_command({"ip", "netns", "del", name}, std::chrono::seconds(10));
  }
}

// 10.201.A.B/30 blocks: the first one from the PID on that no device here uses yet.
std::uint32_t free_block(int serial) {
  for (std::uint32_t i = 0; i < 64; ++i) {
    const std::uint32_t block = (static_cast<std::uint32_t>(getpid()) * 4 + serial + i) % 16384;
    const std::uint32_t base = block * 4;
    const std::string net = "10.201." + std::to_string(base >> 8) + "." + std::to_string(base & 255) + "/30";
    const tools::RunResult r = tools::run_command({"ip", "-o", "addr", "show", "to", net}, std::chrono::seconds(10));
    if (r.exit_code == 0 && r.output.empty()) return base;
  }
  throw std::runtime_error("lossy link: no free /30 in 10.201.0.0/16");
}

std::string address(std::uint32_t base, std::uint32_t host) {
  const std::uint32_t a = base + host;
  return "10.201." + std::to_string(a >> 8) + "." + std::to_string(a & 255);
}

}  // namespace

LossyLink::LossyLink(const Impairment& impairment) : impairment_(impairment) {
  if (geteuid() != 0) {
    skip_reason_ = "a network namespace needs root";
    return;
  }
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    skip_reason_ = "no /dev/net/tun on this machine";
    return;
  }
  try {
    set_up();
  } catch (...) {
    tear_down();
    throw;
  }
  thread_ = std::thread([this] { forward(); });
}

LossyLink::~LossyLink() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  tear_down();
}

void LossyLink::set_up() {
  static std::atomic<int> serial{0};
  const int n = serial++;
  delete_orphaned_namespaces();
  const std::string id = std::to_string(getpid()) + "-" + std::to_string(n);
  netns_ = kNetnsPrefix + id;
  outer_device_ = "bnc" + std::to_string(getpid()) + "o" + std::to_string(n);
  inner_device_ = "bnc" + std::to_string(getpid()) + "i" + std::to_string(n);
  const std::uint32_t base = free_block(n);
  outer_address_ = address(base, 1);
  inner_address_ = address(base, 2);
  run_ip({"ip", "netns", "add", netns_});
  netns_made_ = true;
  outer_fd_ = open_tun(outer_device_);
  inner_fd_ = open_tun(inner_device_);
  // The device keeps its fd here when it moves: packets for the namespace arrive on inner_fd_.
  run_ip({"ip", "link", "set", inner_device_, "netns", netns_});
  run_ip({"ip", "addr", "add", outer_address_ + "/30", "dev", outer_device_});
  run_ip({"ip", "link", "set", outer_device_, "up"});
  run_ip({"ip", "-n", netns_, "addr", "add", inner_address_ + "/30", "dev", inner_device_});
  run_ip({"ip", "-n", netns_, "link", "set", inner_device_, "up"});
  run_ip({"ip", "-n", netns_, "link", "set", "lo", "up"});
}

void LossyLink::tear_down() {
  // Closing a TUN device's only fd removes the device, in whichever namespace it is.
  if (outer_fd_ >= 0) close(outer_fd_);
  if (inner_fd_ >= 0) close(inner_fd_);
  outer_fd_ = inner_fd_ = -1;
  if (netns_made_) (void)tools::run_command({"ip", "netns", "del", netns_}, std::chrono::seconds(10));
  netns_made_ = false;
}

void LossyLink::forward() {
  struct Packet {
    Clock::time_point due;
    std::string bytes;
  };
  // Index 0 carries what the outer device sent towards the namespace, 1 the way back.
  std::deque<Packet> queues[2];
  const int from[2] = {outer_fd_, inner_fd_};
  const int to[2] = {inner_fd_, outer_fd_};
  std::mt19937 random(20261202);  // the same drops for the same packet order
  std::bernoulli_distribution lose(impairment_.loss);
  char buffer[65536];
  while (!stop_) {
    int timeout_ms = 20;
    const auto now = Clock::now();
    for (const auto& q : queues)
      if (!q.empty())
        timeout_ms = std::min<int>(timeout_ms,
                                   static_cast<int>(std::max<long>(
                                       0, std::chrono::ceil<std::chrono::milliseconds>(q.front().due - now).count())));
    pollfd fds[2] = {{from[0], POLLIN, 0}, {from[1], POLLIN, 0}};
    (void)poll(fds, 2, timeout_ms);
    for (int d = 0; d < 2; ++d) {
      for (;;) {
        const ssize_t n = read(from[d], buffer, sizeof buffer);
        if (n <= 0) break;
        if (lose(random)) {
          ++dropped_;
          continue;
        }
        queues[d].push_back({Clock::now() + impairment_.delay, std::string(buffer, static_cast<std::size_t>(n))});
      }
    }
    // A constant delay keeps each direction in order: only the front can be due.
    const auto after = Clock::now();
    for (int d = 0; d < 2; ++d) {
      while (!queues[d].empty() && queues[d].front().due <= after) {
        (void)write(to[d], queues[d].front().bytes.data(), queues[d].front().bytes.size());
        queues[d].pop_front();
        ++forwarded_;
      }
    }
  }
}

}  // namespace bnr::testing
