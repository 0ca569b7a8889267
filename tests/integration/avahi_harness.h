// A loopback-only mDNS responder for discovery tests: a private D-Bus system bus and an
// avahi-daemon restricted to lo, started here and ended by PID in the destructor.
//
// Nothing touches the machine's real network or its own daemons:
// - avahi-daemon gets a generated config: allow-interfaces=lo, IPv4 only, no wide-area DNS,
//   no reflector, nothing published but the services clients register.
// - dbus-daemon runs as a private "system" bus on a socket in a per-process temp directory,
//   not /run/dbus/system_bus_socket; DBUS_SYSTEM_BUS_ADDRESS points this process (libdns_sd
//   in-process, and every child it starts) and the avahi-daemon at it. libdbus reads that
//   variable once per process, so the socket path stays the same for the process's lifetime.
// - A system avahi-daemon that is already running is reused only when its config says
//   allow-interfaces=lo; any other one makes skip_reason() non-empty (two daemons cannot
//   share /run/avahi-daemon, and that one would send our adverts onto the real network).
// - Harnesses in different processes (ctest -j) take turns through a file lock.
// Needs root (avahi-daemon writes /run/avahi-daemon/pid) and the packages avahi-daemon and
// dbus (dbus-daemon).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"

namespace bnr::testing {

class AvahiHarness {
 public:
  // Starts both daemons and waits until avahi-daemon reports "Server startup complete";
  // with start_avahi false, only the bus (a machine where avahi-daemon is not running).
  // Throws std::runtime_error (with the daemon's log) when a daemon that should work fails;
  // sets skip_reason() when this machine cannot run the test safely.
  explicit AvahiHarness(bool start_avahi = true);
  // SIGTERM (avahi then sends its goodbyes), SIGKILL after 5 s; avahi first, then D-Bus.
  ~AvahiHarness();
  AvahiHarness(const AvahiHarness&) = delete;
  AvahiHarness& operator=(const AvahiHarness&) = delete;

  // Non-empty: the test should GTEST_SKIP() with this reason.
  [[nodiscard]] const std::string& skip_reason() const { return skip_reason_; }
  // True when an already running, lo-only avahi-daemon is used instead of a new one.
  [[nodiscard]] bool reused() const { return reused_; }
  // avahi-daemon's output so far (empty when reused).
  [[nodiscard]] std::string avahi_log() const;
  // The interfaces avahi joined the mDNS group on, from its log: e.g. {"lo.IPv4"}.
  [[nodiscard]] std::vector<std::string> joined_interfaces() const;

 private:
  void start(const std::filesystem::path& dir);
  void stop();

  std::string skip_reason_;
  bool reused_ = false;
  int lock_fd_ = -1;
  std::filesystem::path avahi_log_;
  std::unique_ptr<tools::ChildProcess> dbus_;
  std::unique_ptr<tools::ChildProcess> avahi_;
  std::optional<std::string> saved_bus_address_;
  bool bus_address_set_ = false;
};

}  // namespace bnr::testing
