#include "avahi_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace bnr::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// The first executable `name` in PATH, then in the sbin directories a plain user's PATH lacks.
std::optional<fs::path> find_program(const std::string& name) {
  std::string dirs = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  dirs += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::istringstream in(dirs);
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// NUL-separated /proc/<pid>/cmdline or environ.
std::vector<std::string> proc_strings(pid_t pid, const char* file) {
  const std::string text = read_file(fs::path("/proc") / std::to_string(pid) / file);
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// A running avahi-daemon process, whoever started it.
std::optional<pid_t> running_avahi() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (trim(read_file(entry.path() / "comm")) == "avahi-daemon") return static_cast<pid_t>(std::stol(name));
  }
  return std::nullopt;
}

// The config file a running avahi-daemon read (-f FILE, --file=FILE, or the default), and
// whether that is known: its process title ("avahi-daemon: running [host.local]", what the
// system daemon shows) overwrites the arguments, and then the default is assumed.
std::pair<fs::path, bool> avahi_config_of(pid_t pid) {
  const auto args = proc_strings(pid, "cmdline");
  const fs::path fallback = "/etc/avahi/avahi-daemon.conf";
  if (!args.empty() && args[0].rfind("avahi-daemon: ", 0) == 0) return {fallback, false};
  for (std::size_t i = 1; i < args.size(); ++i) {
    if ((args[i] == "-f" || args[i] == "--file") && i + 1 < args.size()) return {args[i + 1], true};
    if (args[i].rfind("--file=", 0) == 0) return {args[i].substr(7), true};
    if (args[i].rfind("-f", 0) == 0 && args[i].size() > 2 && args[i][1] == 'f') return {args[i].substr(2), true};
  }
  return {fallback, true};
}

// `key` in `[section]` of an INI file; the last assignment wins, as in avahi's parser.
std::optional<std::string> ini_value(const fs::path& file, const std::string& section, const std::string& key) {
  std::istringstream in(read_file(file));
  std::string current;
  std::optional<std::string> value;
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      current = trim(line.substr(1, line.size() - 2));
      continue;
    }
    const auto eq = line.find('=');
    if (current == section && eq != std::string::npos && trim(line.substr(0, eq)) == key)
      value = trim(line.substr(eq + 1));
  }
  return value;
}

std::optional<std::string> env_of(pid_t pid, const std::string& name) {
  for (const std::string& entry : proc_strings(pid, "environ"))
    if (entry.rfind(name + "=", 0) == 0) return entry.substr(name.size() + 1);
  return std::nullopt;
}

// One directory per test process for the bus socket: libdbus reads DBUS_SYSTEM_BUS_ADDRESS
// once per process, so every harness in this process must put the socket at the same path.
const fs::path& process_dir() {
  struct Dir {
    fs::path path;
    Dir() {
      std::string pattern = (fs::temp_directory_path() / "bnr-avahi-XXXXXX").string();
      if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
      path = pattern;
    }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Opens `path` for a child's stdout and stderr.
int open_log(const fs::path& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
  return fd;
}

std::unique_ptr<tools::ChildProcess> spawn_logged(const std::vector<std::string>& argv, const fs::path& log) {
  const int fd = open_log(log);
  tools::ChildProcess::Options options;
  options.fds = {{STDOUT_FILENO, fd}, {STDERR_FILENO, fd}};
  try {
    auto child = std::make_unique<tools::ChildProcess>(argv, options);
    close(fd);
    return child;
  } catch (...) {
    close(fd);
    throw;
  }
}

// Waits until `log` contains `text`; throws with the log when the child ends or time runs out.
void wait_for_log(tools::ChildProcess& child, const fs::path& log, const std::string& text, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  for (;;) {
    const std::string so_far = read_file(log);
    if (so_far.find(text) != std::string::npos) return;
    if (child.try_wait()) throw std::runtime_error(what + " exited during start-up:\n" + so_far);
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error(what + " did not start within 15 s:\n" + so_far);
    std::this_thread::sleep_for(20ms);
  }
}

void stop_child(std::unique_ptr<tools::ChildProcess>& child) {
  if (!child) return;
  if (child->running()) {
    child->send_signal(SIGTERM);
    (void)child->wait_or_kill(5s);
  }
  child.reset();
}

const char* const kBusVariable = "DBUS_SYSTEM_BUS_ADDRESS";

}  // namespace

AvahiHarness::AvahiHarness(bool start_avahi) {
  const auto avahi_exe = find_program("avahi-daemon");
  const auto dbus_exe = find_program("dbus-daemon");
  if (!avahi_exe || !dbus_exe) {
    skip_reason_ = std::string(!avahi_exe ? "avahi-daemon" : "dbus-daemon") +
                   " is not installed (packages avahi-daemon and dbus; tools/setup.sh installs them)";
    return;
  }

  // Take turns with harnesses in other test processes first, so that their avahi-daemon is
  // not mistaken for a foreign one.
  const fs::path lock_path = fs::temp_directory_path() / "bnr-avahi-harness.lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd_ < 0) throw std::runtime_error("cannot open " + lock_path.string() + ": " + std::strerror(errno));
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  while (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      close(lock_fd_);
      lock_fd_ = -1;
      throw std::runtime_error("another test process held " + lock_path.string() + " for 120 s");
    }
    std::this_thread::sleep_for(50ms);
  }

  if (const auto pid = running_avahi()) {
    const auto [config, known] = avahi_config_of(*pid);
    const std::string allowed = trim(ini_value(config, "server", "allow-interfaces").value_or(""));
    if (allowed != "lo") {
      skip_reason_ = "an avahi-daemon this test did not start is running (pid " + std::to_string(*pid) + ", config " +
                     config.string() + (known ? "" : " assumed: its process title hides its arguments") +
                     ", allow-interfaces=" + (allowed.empty() ? "<all>" : allowed) +
                     "): adverts would reach the real network, and a second daemon cannot run beside it";
      return;
    }
    if (!start_avahi) {
      skip_reason_ = "an avahi-daemon is running (pid " + std::to_string(*pid) + "): cannot test without one";
      return;
    }
    reused_ = true;
    if (const char* old = std::getenv(kBusVariable)) saved_bus_address_ = old;
    bus_address_set_ = true;
    if (const auto address = env_of(*pid, kBusVariable))
      setenv(kBusVariable, address->c_str(), 1);
    else
      unsetenv(kBusVariable);
    return;
  }

  if (geteuid() != 0) {
    skip_reason_ = "avahi-daemon must run as root here (it writes /run/avahi-daemon); run the tests as root";
    return;
  }

  try {
    const fs::path& dir = process_dir();
    const fs::path socket = dir / "system_bus_socket";
    std::error_code ec;
    fs::remove(socket, ec);
    write_file(dir / "bus.conf",
               "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
               " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig>\n"
               "  <type>system</type>\n"
               "  <listen>unix:path=" +
                   socket.string() +
                   "</listen>\n"
                   "  <auth>EXTERNAL</auth>\n"
                   "  <policy context=\"default\">\n"
                   "    <allow user=\"*\"/>\n"
                   "    <allow own=\"*\"/>\n"
                   "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                   "    <allow eavesdrop=\"true\"/>\n"
                   "  </policy>\n"
                   "</busconfig>\n");
    const fs::path dbus_log = dir / "dbus.log";
    dbus_ = spawn_logged({dbus_exe->string(), "--config-file=" + (dir / "bus.conf").string(), "--nofork", "--nopidfile",
                          "--print-address=1"},
                         dbus_log);
    wait_for_log(*dbus_, dbus_log, "unix:path=", "dbus-daemon");

    if (const char* old = std::getenv(kBusVariable)) saved_bus_address_ = old;
    bus_address_set_ = true;
    setenv(kBusVariable, ("unix:path=" + socket.string()).c_str(), 1);

    if (!start_avahi) return;
    write_file(dir / "avahi-daemon.conf",
               "[server]\n"
               "use-ipv4=yes\n"
               "use-ipv6=no\n"
               "allow-interfaces=lo\n"
               "enable-dbus=yes\n"
               "ratelimit-interval-usec=1000000\n"
               "ratelimit-burst=1000\n"
               "[wide-area]\n"
               "enable-wide-area=no\n"
               "[publish]\n"
               "publish-hinfo=no\n"
               "publish-workstation=no\n"
               "publish-domain=no\n"
               "publish-resolv-conf-dns-servers=no\n"
               "publish-aaaa-on-ipv4=no\n"
               "[reflector]\n"
               "enable-reflector=no\n");
    avahi_log_ = dir / "avahi.log";
    avahi_ = spawn_logged({avahi_exe->string(), "-f", (dir / "avahi-daemon.conf").string(), "--no-drop-root",
                           "--no-chroot", "--no-proc-title", "--no-rlimits"},
                          avahi_log_);
    wait_for_log(*avahi_, avahi_log_, "Server startup complete", "avahi-daemon");
  } catch (...) {
    stop();
    throw;
  }
}

AvahiHarness::~AvahiHarness() { stop(); }

void AvahiHarness::stop() {
  stop_child(avahi_);
  stop_child(dbus_);
  if (bus_address_set_) {
    if (saved_bus_address_)
      setenv(kBusVariable, saved_bus_address_->c_str(), 1);
    else
      unsetenv(kBusVariable);
    bus_address_set_ = false;
  }
  if (lock_fd_ >= 0) {
    close(lock_fd_);  // releases the flock
    lock_fd_ = -1;
  }
}

std::string AvahiHarness::avahi_log() const { return avahi_log_.empty() ? std::string() : read_file(avahi_log_); }

std::vector<std::string> AvahiHarness::joined_interfaces() const {
  static const std::string kJoin = "Joining mDNS multicast group on interface ";
  std::vector<std::string> out;
  std::istringstream in(avahi_log());
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find(kJoin);
    if (at == std::string::npos) continue;
    const std::string rest = line.substr(at + kJoin.size());
    out.push_back(rest.substr(0, rest.find(' ')));
  }
  return out;
}

}  // namespace bnr::testing
