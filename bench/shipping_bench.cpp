// bnr-bench-shipping: scene shipping to several agents on loopback. Generates a large .blend
// (packed noise, incompressible), starts N agents with empty caches, renders it twice with
// bnr-broker at a negligible resolution and reports per agent the bytes and seconds it
// fetched (from the broker's "ready after" line; from the agent's own log when the frame was
// done before that agent had loaded the scene), the aggregate rate against plain `cp` and
// hashing on this machine, the broker's peak RSS against the scene size (it should stay near
// the chunks in flight, not grow with the scene), each agent's peak RSS and CPU time, and that
// the second job sent nothing (every agent had the files cached).
//
// Exit status: 0 when the measurements ran (whatever the rates), 1 on an error or when the
// second job fetched anything, 2 on bad flags.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_cli.h"
#include "child_process.h"
#include "cli_flags.h"
#include "content_hash.h"
#include "image.h"
#include "png_file.h"
#include "proc_memory.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using bnr::tools::ChildProcess;
using bnr::tools::RunResult;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr std::chrono::minutes kSceneTimeout{5};
constexpr std::chrono::minutes kBrokerTimeout{10};
constexpr std::chrono::seconds kAgentStartTimeout{60};
constexpr std::chrono::seconds kAgentStopTimeout{10};
constexpr std::chrono::milliseconds kSampleInterval{20};
// bnr-agent's defaults (agent/agent_server.h AgentConfig): what one agent can have requested
// and not yet received, so what the broker may hold queued for it at most.
constexpr int kFetchWindow = 8;
constexpr std::uint64_t kChunkBytes = 1 << 20;
constexpr double kMiB = 1 << 20;

constexpr const char* kUsage =
    "usage: bnr-bench-shipping [options]\n"
    "\n"
    "Generates a scene of about MIB MiB (a .blend with packed, incompressible noise, plus small\n"
    "external textures), starts N bnr-agents on 127.0.0.1 with empty caches and runs bnr-broker\n"
    "on it twice (32x18 px, 1 sample: rendering is negligible). Prints what each agent fetched\n"
    "and how fast, the broker's and agents' peak memory, and that the second job sent nothing;\n"
    "`cp` of the scene N times and hashing it give the machine's own rates for comparison.\n"
    "\n"
    "options:\n"
    "  --agents N      agents (default 3)\n"
    "  --mib M         MiB of packed noise in the .blend (default 1024; at most 3071)\n"
    "  --textures T    external 1 MiB noise textures, 0..2 (default 2)\n"
    "  --cache-root D  make the agents' cache directories under D (e.g. /dev/shm, to take the\n"
    "                  disk out of the measurement; default: the temporary directory)\n"
    "  --blender PATH  Blender for the scene and the agents (default: blender from PATH; the\n"
    "                  broker lists scene files with the blender in PATH)\n"
    "  --verbose       print the broker's log after each run, and the agents' logs\n"
    "  --keep          keep the temporary directory and print its path\n"
    "  -h, --help      show this help\n"
    "\n"
    "Exit status: 0 measured, 1 error or the second job fetched bytes, 2 bad flags.\n";

struct Config {
  int agents = 3;
  int mib = 1024;
  int textures = 2;
  std::string blender = "blender";
  std::string cache_root;  // empty: the temporary directory
  bool verbose = false;
  bool keep = false;
  bool help = false;
};

using bnr::bench::int_flag;

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw bnr::bench::UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") c.help = true;
    else if (arg == "--agents") c.agents = int_flag(arg, value(), 1, 64);
    else if (arg == "--mib") c.mib = int_flag(arg, value(), 1, 3071);
    else if (arg == "--textures") c.textures = int_flag(arg, value(), 0, 2);
    else if (arg == "--blender") c.blender = value();
    else if (arg == "--cache-root") c.cache_root = value();
    else if (arg == "--verbose") c.verbose = true;
    else if (arg == "--keep") c.keep = true;
    else throw bnr::bench::UsageError("unknown option '" + arg + "'");
  }
  return c;
}

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
void check_stop() {
  if (g_stop != 0) throw std::runtime_error("interrupted");
}

std::string tail(const std::string& text, std::size_t chars = 3000) {
  return text.size() <= chars ? text : "..." + text.substr(text.size() - chars);
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / kMiB; }

// ---- memory, from /proc --------------------------------------------------------------------

// User + system CPU seconds the process has used so far (its own, not its children's); nothing
// once it has exited.
std::optional<double> cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const std::size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field && i <= 15; ++i)  // fields 14 and 15: utime, stime
    if (i >= 14) ticks += std::stod(field);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

using bnr::bench::descendants;
using bnr::bench::PeakWatch;

// ---- the scene and the baselines ------------------------------------------------------------

// A square 8-bit RGBA PNG of seeded noise, 512x512: 1 MiB of pixels that deflate cannot shrink.
void write_noise_png(const fs::path& path, unsigned seed) {
  bnr::tools::Image16 image(512, 512);
  std::mt19937 rng(seed);
  for (std::uint16_t& v : image.rgba) v = static_cast<std::uint16_t>((rng() & 0xFF) * 257);
  bnr::tools::write_png(path, image, 8);
}

// scene.blend and its textures under `dir`; returns the bytes of all files the broker ships.
std::uint64_t make_scene(const Config& c, const fs::path& dir, const fs::path& scene) {
  std::vector<std::string> argv = {c.blender, "-b", "--factory-startup", "--python-exit-code", "2", "--python",
                                   std::string(BNR_SOURCE_DIR) + "/tools/scenes/make_scene.py", "--",
                                   "--out", scene.string(), "--size", "32x18", "--samples", "1",
                                   "--pack-noise", std::to_string(c.mib)};
  std::uint64_t bytes = 0;
  fs::create_directories(dir / "textures");
  const char* flags[] = {"--texture", "--floor-texture"};
  for (int i = 0; i < c.textures; ++i) {
    const std::string name = "textures/noise" + std::to_string(i) + ".png";
    write_noise_png(dir / name, static_cast<unsigned>(i + 1));
    bytes += fs::file_size(dir / name);
    argv.insert(argv.end(), {flags[i], "//" + name});
  }
  const RunResult r = bnr::tools::run_command(argv, kSceneTimeout);
  check_stop();
  if (r.exit_code != 0 || !fs::exists(scene))
    throw std::runtime_error("make_scene.py failed (" + std::to_string(r.exit_code) + "): " + tail(r.output));
  return bytes + fs::file_size(scene);
}

struct Baseline {
  Seconds cp{0};       // N sequential copies into the page cache
  Seconds cp_sync{0};  // the same plus `sync` of the copies: on disk, as the agents fsync
  Seconds hash{0};     // BLAKE2b of the scene once, as the broker does before every job
};

Baseline measure_baseline(const Config& c, const fs::path& dir, const fs::path& scene) {
  Baseline b;
  std::vector<std::string> copies;
  const auto start = Clock::now();
  for (int i = 0; i < c.agents; ++i) {
    copies.push_back((dir / ("copy" + std::to_string(i) + ".blend")).string());
    const RunResult r = bnr::tools::run_command({"cp", scene.string(), copies.back()}, kSceneTimeout);
    check_stop();
    if (r.exit_code != 0) throw std::runtime_error("cp failed: " + tail(r.output));
  }
  b.cp = Clock::now() - start;
  std::vector<std::string> sync = {"sync"};
  sync.insert(sync.end(), copies.begin(), copies.end());
  const RunResult r = bnr::tools::run_command(sync, kSceneTimeout);
  check_stop();
  if (r.exit_code != 0) throw std::runtime_error("sync failed: " + tail(r.output));
  b.cp_sync = Clock::now() - start;
  for (const std::string& copy : copies) fs::remove(copy);

  const auto hash_start = Clock::now();
  (void)bnr::tools::content_hash_of_file(scene);
  b.hash = Clock::now() - hash_start;
  return b;
}

// ---- agents and broker ----------------------------------------------------------------------

// One line an agent printed, stamped when this process read it (within a few ms: the broker
// loop wakes on any agent's output).
struct AgentLine {
  Clock::time_point at;
  std::string text;
};


// N bnr-agents on free loopback ports, each with its own empty cache directory under `dir`,
// stdout and stderr (their log) captured; ended (SIGTERM, then SIGKILL) with the object.
class Agents {
 public:
  Agents(const Config& c, const fs::path& dir) {
    ChildProcess::Options options;
    options.capture_stdout = true;
    options.stderr_to_stdout = true;
    const std::string broker_key = bnr::bench::broker_public_key(BNR_BROKER_EXE);
    for (int i = 0; i < c.agents; ++i) {
      const fs::path cache = dir / ("cache" + std::to_string(i));
      fs::create_directories(cache);
      agents_.push_back(Agent{std::make_unique<ChildProcess>(
          std::vector<std::string>{BNR_AGENT_EXE, "--port", "0", "--bind", "127.0.0.1", "--no-mdns", "--threads", "1",
                                   "--cache-dir", cache.string(), "--blender", c.blender, "--authorize", broker_key},
          options)});
    }
    for (std::size_t i = 0; i < agents_.size(); ++i)
      endpoints_.push_back(wait_for_endpoint(i));
  }
  ~Agents() {
    for (Agent& a : agents_)
      if (a.child->running()) a.child->send_signal(SIGTERM);
    for (Agent& a : agents_) (void)a.child->wait_or_kill(kAgentStopTimeout);
  }
  Agents(const Agents&) = delete;
  Agents& operator=(const Agents&) = delete;

  [[nodiscard]] const std::vector<std::string>& endpoints() const { return endpoints_; }
  [[nodiscard]] std::size_t size() const { return agents_.size(); }
  [[nodiscard]] pid_t pid(std::size_t i) const { return agents_[i].child->pid(); }
  [[nodiscard]] int fd(std::size_t i) const { return agents_[i].child->stdout_fd(); }
  [[nodiscard]] const std::vector<AgentLine>& lines(std::size_t i) const { return agents_[i].lines; }

  // Reads what every agent printed, line by line. Throws when an agent has exited.
  void read_all() {
    for (std::size_t i = 0; i < agents_.size(); ++i) {
      read(i);
      if (!agents_[i].child->running())
        throw std::runtime_error("bnr-agent " + endpoints_[i] + " exited during the benchmark:\n" + log(i));
    }
  }
  [[nodiscard]] std::string log(std::size_t i) const {
    std::string out;
    for (const AgentLine& l : agents_[i].lines) out += l.text + "\n";
    return out;
  }

 private:
  struct Agent {
    std::unique_ptr<ChildProcess> child;
    std::string partial{};
    std::vector<AgentLine> lines{};
  };

  void read(std::size_t i) {
    Agent& a = agents_[i];
    (void)bnr::tools::read_available(a.child->stdout_fd(), a.partial);
    const auto now = Clock::now();
    for (std::size_t nl; (nl = a.partial.find('\n')) != std::string::npos; a.partial.erase(0, nl + 1))
      a.lines.push_back({now, a.partial.substr(0, nl)});
  }

  // The N of the line "port N" the agent prints once it listens, skipping any other line (its
  // log, or a key line a later version may print first).
  // "127.0.0.1:PORT@KEY" from the "port N" and "key KEY" lines the agent prints.
  std::string wait_for_endpoint(std::size_t i) {
    const auto deadline = Clock::now() + kAgentStartTimeout;
    int port = 0;
    std::string key;
    for (std::size_t seen = 0;;) {
      check_stop();
      for (; seen < agents_[i].lines.size(); ++seen) {
        const std::string& text = agents_[i].lines[seen].text;
        if (text.rfind("port ", 0) == 0) port = std::stoi(text.substr(5));
        if (text.rfind("key ", 0) == 0) key = text.substr(4);
      }
      if (port > 0 && !key.empty()) return "127.0.0.1:" + std::to_string(port) + "@" + key;
      if (Clock::now() > deadline || agents_[i].child->try_wait())
        throw std::runtime_error("bnr-agent did not start:\n" + log(i) + agents_[i].partial);
      pollfd p{fd(i), POLLIN, 0};
      (void)poll(&p, 1, 50);
      read(i);
    }
  }

  std::vector<Agent> agents_;
  std::vector<std::string> endpoints_;
};

// What one agent did in one job.
struct AgentTransfer {
  bool from_broker = false;  // the broker's "ready after" line; else the agent's own log
  bool complete = false;     // it got every file (false: the job ended while it was fetching)
  int files_cached = 0;
  int files_fetched = 0;
  std::uint64_t bytes_fetched = 0;  // exact from the broker; from the log, rounded to 0.1 MiB
  double fetch_seconds = 0;  // OpenJob to the last file committed (the agent's clock, or its log's)
  std::optional<double> ready_seconds;  // Blender loaded the scene, since the broker started
};

struct BrokerRun {
  Seconds wall{0};          // the broker process, start to exit
  double job_seconds = 0;   // the job itself ("wrote ... S s"); before it: listing and hashing
  std::uint64_t broker_peak = 0;
  std::uint64_t broker_child_peak = 0;      // its Blender listing the scene's files
  double broker_cpu = 0;                    // seconds, the broker process alone
  std::vector<double> agent_cpu;            // seconds during this run, the bnr-agent processes alone
  std::vector<std::uint64_t> agent_peak;    // the bnr-agent processes, since they started
  std::vector<std::uint64_t> blender_peak;  // the largest process under each agent (its Blender)
  std::vector<AgentTransfer> agents;        // in the order of Agents::endpoints()
  std::string output;
};

// The broker's "ready after" line for each endpoint, when the agent was ready in time.
std::map<std::string, AgentTransfer> broker_ready_lines(const std::string& output) {
  static const std::regex ready(
      R"(\((127\.0\.0\.1:[0-9]+)\) ready after ([0-9.]+) s; scene files: ([0-9]+) cached, ([0-9]+) fetched )"
      R"(\(([0-9]+) bytes in ([0-9.]+) s\))");
  std::map<std::string, AgentTransfer> by_endpoint;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, ready)) continue;
    AgentTransfer t;
    t.from_broker = t.complete = true;
    t.files_cached = std::stoi(m[3]);
    t.files_fetched = std::stoi(m[4]);
    t.bytes_fetched = std::stoull(m[5]);
    t.fetch_seconds = std::stod(m[6]);
    by_endpoint[m[1]] = t;
  }
  return by_endpoint;
}

// The same from the agent's log lines since `start` (the first job opened after it): its
// "N files (...), K to fetch" line, then "C files cached, F fetched (X MiB)", then "scene ready".
AgentTransfer agent_log_transfer(const std::vector<AgentLine>& lines, Clock::time_point start) {
  static const std::regex opened(R"(bnr-agent: job ([0-9a-f]+): .*, [0-9]+ files \(.*\), [0-9]+ to fetch)");
  static const std::regex fetched(R"(bnr-agent: job ([0-9a-f]+): ([0-9]+) files cached, ([0-9]+) fetched \(([0-9.]+) MiB\))");
  static const std::regex ready(R"(bnr-agent: job ([0-9a-f]+): scene ready)");
  AgentTransfer t;
  std::string job;
  Clock::time_point opened_at;
  for (const AgentLine& l : lines) {
    if (l.at < start) continue;
    std::smatch m;
    if (job.empty()) {
      if (std::regex_search(l.text, m, opened)) {
        job = m[1];
        opened_at = l.at;
      }
    } else if (std::regex_search(l.text, m, fetched) && m[1] == job) {
      t.complete = true;
      t.files_cached = std::stoi(m[2]);
      t.files_fetched = std::stoi(m[3]);
      t.bytes_fetched = static_cast<std::uint64_t>(std::stod(m[4]) * kMiB + 0.5);
      t.fetch_seconds = Seconds(l.at - opened_at).count();
    } else if (std::regex_search(l.text, m, ready) && m[1] == job) {
      t.ready_seconds = Seconds(l.at - start).count();
    }
  }
  return t;
}

// One bnr-broker job on the agents, sampling everyone's peak memory while it runs.
BrokerRun run_broker(const fs::path& scene, const fs::path& png, Agents& agents) {
  std::vector<std::string> argv = {BNR_BROKER_EXE, scene.string(), "--no-mdns", "--no-local", "-o", png.string()};
  for (const std::string& e : agents.endpoints()) argv.insert(argv.end(), {"--agent", e});
  ChildProcess::Options options;
  options.capture_stdout = true;
  options.stderr_to_stdout = true;

  PeakWatch watch;
  std::vector<std::vector<pid_t>> under(agents.size() + 1);  // seen under each agent; last: the broker
  auto sample_tree = [&](pid_t root, std::vector<pid_t>& seen) {
    watch.sample(root);
    for (pid_t d : descendants(root)) {
      watch.sample(d);
      if (std::find(seen.begin(), seen.end(), d) == seen.end()) seen.push_back(d);
    }
  };
  auto largest = [&](const std::vector<pid_t>& pids) {
    std::uint64_t m = 0;
    for (pid_t p : pids) m = std::max(m, watch.peak(p));
    return m;
  };
  BrokerRun run;
  std::vector<double> agent_cpu_before;
  for (std::size_t i = 0; i < agents.size(); ++i) agent_cpu_before.push_back(cpu_seconds(agents.pid(i)).value_or(0));
  const auto start = Clock::now();
  ChildProcess broker(argv, options);
  std::optional<int> status;
  // Wake on any output (to stamp agents' lines) or every sampling interval.
  std::vector<pollfd> fds = {{broker.stdout_fd(), POLLIN, 0}};
  for (std::size_t i = 0; i < agents.size(); ++i) fds.push_back({agents.fd(i), POLLIN, 0});
  auto next_sample = start;
  while (!(status = broker.try_wait())) {
    check_stop();
    const auto now = Clock::now();
    if (now - start > kBrokerTimeout) throw std::runtime_error("bnr-broker took too long:\n" + tail(run.output));
    if (now >= next_sample) {
      run.broker_cpu = cpu_seconds(broker.pid()).value_or(run.broker_cpu);
      sample_tree(broker.pid(), under.back());
      for (std::size_t i = 0; i < agents.size(); ++i) sample_tree(agents.pid(i), under[i]);
      next_sample = now + kSampleInterval;
    }
    (void)poll(fds.data(), fds.size(), static_cast<int>(kSampleInterval.count()));
    (void)bnr::tools::read_available(broker.stdout_fd(), run.output);
    agents.read_all();
  }
  run.wall = Clock::now() - start;
  while (bnr::tools::read_available(broker.stdout_fd(), run.output)) {
  }
  if (*status != 0 || !fs::exists(png))
    throw std::runtime_error("bnr-broker failed (" + std::to_string(*status) + "):\n" + tail(run.output));
  run.broker_peak = watch.peak(broker.pid());
  run.broker_child_peak = largest(under.back());

  // The agents log the end of their fetch and the loaded scene right away; give them a moment
  // to be read (an agent the broker no longer needed may still be loading: then no ready line).
  const auto settle = Clock::now() + std::chrono::milliseconds(200);
  while (Clock::now() < settle) {
    (void)poll(fds.data() + 1, fds.size() - 1, 20);
    agents.read_all();
  }
  static const std::regex wrote(R"(wrote .*\([0-9]+x[0-9]+, [0-9]+ regions[^,]*, ([0-9.]+) s[;)])");
  std::smatch m;
  if (!std::regex_search(run.output, m, wrote))
    throw std::runtime_error("the broker's log has no \"wrote\" line:\n" + tail(run.output));
  run.job_seconds = std::stod(m[1]);
  const auto from_broker = broker_ready_lines(run.output);
  for (std::size_t i = 0; i < agents.size(); ++i) {
    run.agent_peak.push_back(watch.peak(agents.pid(i)));
    run.blender_peak.push_back(largest(under[i]));
    run.agent_cpu.push_back(cpu_seconds(agents.pid(i)).value_or(0) - agent_cpu_before[i]);
    AgentTransfer t = agent_log_transfer(agents.lines(i), start);
    if (const auto it = from_broker.find(agents.endpoints()[i]); it != from_broker.end()) {
      const auto ready = t.ready_seconds;
      t = it->second;
      t.ready_seconds = ready;
    }
    run.agents.push_back(t);
  }
  return run;
}

double load_average() {
  double load = -1;
  std::ifstream("/proc/loadavg") >> load;
  return load;
}

double rate(std::uint64_t bytes, double seconds) { return seconds > 0 ? mib(bytes) / seconds : 0.0; }

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", s);
  return buf;
}

std::uint64_t total_fetched(const BrokerRun& run) {
  std::uint64_t total = 0;
  for (const AgentTransfer& t : run.agents) total += t.bytes_fetched;
  return total;
}

double slowest_fetch(const BrokerRun& run) {
  double slowest = 0;
  for (const AgentTransfer& t : run.agents) slowest = std::max(slowest, t.fetch_seconds);
  return slowest;
}

void print_run(const char* title, const BrokerRun& run, const std::vector<std::string>& endpoints) {
  std::printf("\n%s\n", title);
  std::printf("%-17s %6s %7s %11s %8s %8s %8s %6s %10s %11s  %s\n", "agent", "cached", "fetched", "MiB fetched",
              "fetch s", "MiB/s", "ready s", "CPU s", "agent RSS", "Blender RSS", "from");
  for (std::size_t i = 0; i < run.agents.size(); ++i) {
    const AgentTransfer& t = run.agents[i];
    std::printf("%-17s ", endpoints[i].c_str());
    if (!t.complete) std::printf("%6s %7s %11s %8s %8s %8s ", "-", "-", "-", "-", "-", "-");
    else
      std::printf("%6d %7d %11.1f %8.2f %8.1f %8s ", t.files_cached, t.files_fetched, mib(t.bytes_fetched),
                  t.fetch_seconds, rate(t.bytes_fetched, t.fetch_seconds),
                  t.ready_seconds ? seconds_text(*t.ready_seconds).c_str() : "-");
    std::printf("%6.2f %6.1f MiB %7.0f MiB  %s\n", run.agent_cpu[i], mib(run.agent_peak[i]), mib(run.blender_peak[i]),
                !t.complete ? "the job ended while it was fetching" : t.from_broker ? "broker" : "agent log");
  }
  const std::uint64_t total = total_fetched(run);
  const double slowest = slowest_fetch(run);
  std::printf("%-17s %6s %7s %11.1f %8.2f %8.1f   (all bytes / the slowest fetch)\n", "all agents", "", "", mib(total),
              slowest, rate(total, slowest));
  std::printf("broker: %.2f s in all = %.2f s before the job (its Blender lists the files, then it hashes them) + "
              "%.2f s job; %.2f CPU s; peak RSS %.1f MiB, its Blender's %.0f MiB\n",
              run.wall.count(), run.wall.count() - run.job_seconds, run.job_seconds, run.broker_cpu,
              mib(run.broker_peak), mib(run.broker_child_peak));
}

int run(const Config& c) {
  bnr::tools::TempDir dir("bnr-bench-shipping", c.keep);
  if (c.keep) std::printf("temporary directory: %s\n", dir.path().c_str());
  // Speed profiles the broker learns stay in the temporary directory, not in ~/.config.
  const fs::path config_dir = dir / "config";
  fs::create_directories(config_dir);
  if (setenv("BNR_CONFIG_DIR", config_dir.c_str(), 1) != 0) throw std::runtime_error("setenv failed");
  const double load_before = load_average();

  const fs::path scene = dir / "scene.blend";
  const auto make_start = Clock::now();
  const std::uint64_t scene_bytes = make_scene(c, dir.path(), scene);
  const Seconds make_time = Clock::now() - make_start;
  const int files = 1 + c.textures;
  std::printf("scene: %s %.1f MiB (%d MiB packed noise) + %d external texture%s = %d files, %.1f MiB; made in "
              "%.1f s\n",
              scene.filename().c_str(), mib(fs::file_size(scene)), c.mib, c.textures, c.textures == 1 ? "" : "s",
              files, mib(scene_bytes), make_time.count());
  std::printf("agents: %d x bnr-agent --threads 1 on 127.0.0.1, empty caches; %ld CPUs, load average %.2f before "
              "starting\n",
              c.agents, sysconf(_SC_NPROCESSORS_ONLN), load_before);
  std::fflush(stdout);

  const Baseline b = measure_baseline(c, dir.path(), scene);
  const std::uint64_t copied = fs::file_size(scene) * static_cast<std::uint64_t>(c.agents);
  std::printf("\n%-40s %9s %8s %9s\n", "baseline (this machine)", "MiB", "s", "MiB/s");
  const std::string cp_name = "cp scene.blend x" + std::to_string(c.agents);
  std::printf("%-40s %9.1f %8.2f %9.1f\n", (cp_name + " (into the page cache)").c_str(), mib(copied), b.cp.count(),
              rate(copied, b.cp.count()));
  std::printf("%-40s %9.1f %8.2f %9.1f\n", (cp_name + " + sync (on disk)").c_str(), mib(copied), b.cp_sync.count(),
              rate(copied, b.cp_sync.count()));
  std::printf("%-40s %9.1f %8.2f %9.1f\n", "BLAKE2b of scene.blend (one thread)", mib(fs::file_size(scene)),
              b.hash.count(), rate(fs::file_size(scene), b.hash.count()));
  std::fflush(stdout);

  // Caches elsewhere live in a directory of their own there, removed with `caches`.
  std::optional<bnr::tools::TempDir> caches;
  if (!c.cache_root.empty()) {
    // TempDir makes its directory under TMPDIR; the agents get the environment as it was.
    const char* old = std::getenv("TMPDIR");
    const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
    if (setenv("TMPDIR", c.cache_root.c_str(), 1) != 0) throw std::runtime_error("setenv failed");
    caches.emplace("bnr-bench-shipping-caches", c.keep);
    if ((saved ? setenv("TMPDIR", saved->c_str(), 1) : unsetenv("TMPDIR")) != 0)
      throw std::runtime_error("cannot restore TMPDIR");
  }
  const fs::path cache_parent = caches ? caches->path() : dir.path();
  std::printf("agents' caches under %s\n", cache_parent.c_str());
  Agents agents(c, cache_parent);
  const BrokerRun first = run_broker(scene, dir / "first.png", agents);
  if (c.verbose) std::printf("\n%s", first.output.c_str());
  print_run("run 1: empty caches", first, agents.endpoints());
  std::fflush(stdout);
  const BrokerRun second = run_broker(scene, dir / "second.png", agents);
  if (c.verbose) std::printf("\n%s", second.output.c_str());
  print_run("run 2: the same agents, caches warm", second, agents.endpoints());
  if (c.verbose)
    for (std::size_t i = 0; i < agents.size(); ++i)
      std::printf("\nlog of the agent at %s:\n%s", agents.endpoints()[i].c_str(), agents.log(i).c_str());

  const std::uint64_t sent = total_fetched(first);
  const double aggregate = rate(sent, slowest_fetch(first));
  double lo = 1e300, hi = 0;
  for (const AgentTransfer& t : first.agents) {
    lo = std::min(lo, rate(t.bytes_fetched, t.fetch_seconds));
    hi = std::max(hi, rate(t.bytes_fetched, t.fetch_seconds));
  }
  bool all_cached = total_fetched(second) == 0;
  for (const AgentTransfer& t : second.agents)
    all_cached = all_cached && t.complete && t.files_cached == files && t.files_fetched == 0;
  bool all_fetched = true;
  for (const AgentTransfer& t : first.agents) all_fetched = all_fetched && t.complete;
  const std::uint64_t bound = static_cast<std::uint64_t>(c.agents) * kFetchWindow * kChunkBytes;

  std::printf("\nsummary\n");
  std::printf("  run 1 sent:                    %.1f MiB = %.3f x scene x agents%s\n", mib(sent),
              static_cast<double>(sent) / static_cast<double>(scene_bytes * static_cast<std::uint64_t>(c.agents)),
              all_fetched ? "" : " (an agent was still fetching when the job ended)");
  std::printf("  broker peak RSS / scene size:  %.4f  (%.1f MiB for %.1f MiB; scene x agents = %.0f MiB; chunks in "
              "flight at most %.0f MiB; with nothing to send (run 2) %.1f MiB)\n",
              static_cast<double>(first.broker_peak) / static_cast<double>(scene_bytes), mib(first.broker_peak),
              mib(scene_bytes), mib(scene_bytes) * c.agents, mib(bound), mib(second.broker_peak));
  std::printf("  agent peak RSS (bnr-agent):    %.1f MiB at most; their Blenders %.0f MiB (the packed scene in "
              "memory)\n",
              mib(*std::max_element(first.agent_peak.begin(), first.agent_peak.end())),
              mib(*std::max_element(first.blender_peak.begin(), first.blender_peak.end())));
  std::printf("  aggregate rate:                %.1f MiB/s (per agent %.1f..%.1f) = %.2f x cp, %.2f x cp + sync, "
              "%.2f x one BLAKE2b thread\n",
              aggregate, lo, hi, aggregate / rate(copied, b.cp.count()), aggregate / rate(copied, b.cp_sync.count()),
              aggregate / rate(fs::file_size(scene), b.hash.count()));
  std::printf("  run 2 bytes sent:              %llu (every agent had all %d scene files cached: %s)\n",
              static_cast<unsigned long long>(total_fetched(second)), files, all_cached ? "yes" : "NO");
  std::printf("  run 2 / run 1:                 broker %.2f s / %.2f s = %.2f; job alone %.2f s / %.2f s = %.2f\n",
              second.wall.count(), first.wall.count(), second.wall / first.wall, second.job_seconds,
              first.job_seconds, second.job_seconds / first.job_seconds);
  return all_cached ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return bnr::bench::bench_main("bnr-bench-shipping", kUsage, argc, argv, parse, run, on_signal);
}
