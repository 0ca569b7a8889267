// bnr-bench-real-balance: load balance with real Blender on one machine. Two agents with one
// Blender thread each, pinned to separate cores, one of them slowed down (a CPU quota), render
// one frame three ways:
//   - ours: bnr-agent + bnr-broker (adaptive regions);
//   - static equal strips: one fresh `blender -b` per agent rendering an equal strip of columns;
//   - static speed-tested strips: the same, strip widths proportional to a quick speed test
//     run on each agent's CPU budget (what a one-strip-per-machine tool does).
// Prints each scheme's makespan, each agent's finish time, the spread of finish times, how
// busy each agent was, and ours/static makespan ratios. Then a small frame (~12 s plain with
// one thread): ours against the ideal, plain single-threaded time / (1 + the slow agent's
// share), both measured here. Checks every image against a plain Blender render (within
// 3/255).
//
// Exit status: 0 when the measurements ran (whatever the ratios), 1 on an error or when an
// image differs from Blender's, 2 on bad flags.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_cli.h"
#include "child_process.h"
#include "temp_dir.h"
#include "cli_flags.h"
#include "image_compare.h"
#include "png_file.h"

namespace {

namespace fs = std::filesystem;
using bnr::tools::ChildProcess;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr double kTolerance = 3 * 257;  // 3/255 in 16-bit units: Blender's 8-bit dither
constexpr std::chrono::minutes kRunTimeout{15};
constexpr std::chrono::seconds kAgentStartTimeout{60};
constexpr std::chrono::seconds kAgentStopTimeout{10};
constexpr std::chrono::milliseconds kPollInterval{10};  // also the trace's time resolution
constexpr int kSpeedTestPercent = 25;  // speed test: the scene at 25% size (1/16 of the pixels)
constexpr double kSmallFrameTarget = 1.10;  // ours' makespan / ideal on the small frame

constexpr const char* kUsage =
    "usage: bnr-bench-real-balance [options]\n"
    "\n"
    "Two agents of one Blender thread each, agent 'fast' on core 0 and agent 'slow' on core 1\n"
    "under a CPU quota, render one generated scene with uneven cost (tools/scenes/make_scene.py\n"
    "--hot-left: the glass in the left third) three ways: bnr (agents + broker),\n"
    "static equal strips and static speed-tested strips (one fresh `blender -b` per strip).\n"
    "Prints makespans, finish times and their spread, busy shares and ours/static ratios.\n"
    "Then the small frame: plain `blender -b -t 1` on core 0 and ours, alternating, and\n"
    "ours' makespan / ideal, ideal = plain's time / (1 + slow share).\n"
    "\n"
    "options:\n"
    "  --frame F          large (the three schemes), small or both (default both)\n"
    "  --size WxH         large frame's resolution (default 960x540)\n"
    "  --samples S        large frame's Cycles samples (default 64)\n"
    "  --small-size WxH   small frame's resolution (default 800x300)\n"
    "  --small-samples S  small frame's samples (default 28: ~12 s plain with one idle core)\n"
    "  --reps R           small frame: repetitions of plain and ours (default 2)\n"
    "  --slow-share F     CPU share of the slow agent's core, 0.05..1 (default 0.5)\n"
    "  --slowdown M       cgroup (CPU quota), hog (a busy loop on the slow core, ~1/2) or auto\n"
    "                     (default: cgroup if this process may create one, else hog)\n"
    "  --blender PATH     Blender executable (default: blender from PATH)\n"
    "  --verbose          print the broker's log and every traced region\n"
    "  --keep             keep the temporary directory and print its path\n"
    "  -h, --help         show this help\n"
    "\n"
    "Needs 2 cores (taskset -c 0 / -c 1). Exit status: 0 measured, 1 error or image mismatch,\n"
    "2 bad flags.\n";

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Config {
  bool large = true;  // the three schemes on the large frame
  bool small = true;  // ours against the ideal on the small frame
  int width = 960;
  int height = 540;
  int samples = 64;
  int small_width = 800;
  int small_height = 300;
  int small_samples = 28;
  int reps = 2;
  double slow_share = 0.5;
  std::string slowdown = "auto";
  std::string blender = "blender";
  bool verbose = false;
  bool keep = false;
  bool help = false;
};

using bnr::bench::positive_int;

// "WxH" into two positive numbers.
void size_flag(const std::string& flag, const std::string& v, int& width, int& height) {
  const std::size_t x = v.find('x');
  if (x == std::string::npos) throw bnr::bench::UsageError(flag + " wants WxH, got '" + v + "'");
  width = positive_int(flag, v.substr(0, x));
  height = positive_int(flag, v.substr(x + 1));
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw bnr::bench::UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      c.help = true;
    } else if (arg == "--frame") {
      const std::string v = value();
      if (v != "large" && v != "small" && v != "both")
        throw bnr::bench::UsageError("--frame wants large, small or both, got '" + v + "'");
      c.large = v != "small";
      c.small = v != "large";
    } else if (arg == "--size") {
      size_flag(arg, value(), c.width, c.height);
    } else if (arg == "--samples") {
      c.samples = positive_int(arg, value());
    } else if (arg == "--small-size") {
      size_flag(arg, value(), c.small_width, c.small_height);
    } else if (arg == "--small-samples") {
      c.small_samples = positive_int(arg, value());
    } else if (arg == "--reps") {
      c.reps = positive_int(arg, value());
    } else if (arg == "--slow-share") {
      const std::string v = value();
      char* end = nullptr;
      c.slow_share = std::strtod(v.c_str(), &end);
      if (end != v.c_str() + v.size() || !(c.slow_share >= 0.05 && c.slow_share <= 1.0))
        throw bnr::bench::UsageError("--slow-share wants a number from 0.05 to 1, got '" + v + "'");
    } else if (arg == "--slowdown") {
      c.slowdown = value();
      if (c.slowdown != "auto" && c.slowdown != "cgroup" && c.slowdown != "hog")
        throw bnr::bench::UsageError("--slowdown wants cgroup, hog or auto, got '" + c.slowdown + "'");
    } else if (arg == "--blender") {
      c.blender = value();
    } else if (arg == "--verbose") {
      c.verbose = true;
    } else if (arg == "--keep") {
      c.keep = true;
    } else {
      throw bnr::bench::UsageError("unknown option '" + arg + "'");
    }
  }
  return c;
}

// A fresh directory under the system temp dir, removed with the object unless kept.
struct TempDir : bnr::tools::TempDir {
  explicit TempDir(bool keep) : bnr::tools::TempDir("bnr-balance", keep) {}
};

std::string tail(const std::string& text, std::size_t chars = 1500) {
  return text.size() <= chars ? text : "..." + text.substr(text.size() - chars);
}

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// ------------------------------------------------------------------ slowing an agent down

// A CPU cgroup of our own whose processes together get `share` of one core: cgroup v2's
// cpu.max, or v1's cpu.cfs_quota_us. Removed with the object (once its processes have ended).
class CpuQuota {
 public:
  // nullopt when this machine or this user cannot have one (the reason in `why`).
  static std::unique_ptr<CpuQuota> create(double share, std::string& why) {
    const std::string name = "bnr-balance-" + std::to_string(getpid());
    const long period = 100000;
    const long quota = std::max(1000L, std::lround(share * period));
    // v2: the unified hierarchy at the usual place, with the cpu controller for children.
    if (const auto controllers = read_text("/sys/fs/cgroup/cgroup.subtree_control");
        controllers && controllers->find("cpu") != std::string::npos) {
      const fs::path dir = fs::path("/sys/fs/cgroup") / name;
      if (make(dir, why) && write_text(dir / "cpu.max", std::to_string(quota) + " " + std::to_string(period)))
        return std::unique_ptr<CpuQuota>(new CpuQuota(dir, "cgroup v2 cpu.max"));
      remove_dir(dir);
    }
    // v1: a separate cpu hierarchy.
    for (const char* root : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
      if (!fs::exists(fs::path(root) / "cpu.cfs_quota_us")) continue;
      const fs::path dir = fs::path(root) / name;
      if (make(dir, why) && write_text(dir / "cpu.cfs_period_us", std::to_string(period)) &&
          write_text(dir / "cpu.cfs_quota_us", std::to_string(quota)))
        return std::unique_ptr<CpuQuota>(new CpuQuota(dir, "cgroup v1 cpu.cfs_quota_us"));
      remove_dir(dir);
      if (why.empty()) why = "cannot set a quota in " + dir.string();
    }
    if (why.empty()) why = "no cgroup CPU controller found under /sys/fs/cgroup";
    return nullptr;
  }
  ~CpuQuota() { remove_dir(dir_); }
  CpuQuota(const CpuQuota&) = delete;
  CpuQuota& operator=(const CpuQuota&) = delete;

  // Writing a PID here moves that process (and so everything it starts) into the group.
  [[nodiscard]] fs::path procs() const { return dir_ / "cgroup.procs"; }
  [[nodiscard]] const std::string& kind() const { return kind_; }

 private:
  CpuQuota(fs::path dir, std::string kind) : dir_(std::move(dir)), kind_(std::move(kind)) {}
  static bool make(const fs::path& dir, std::string& why) {
    std::error_code ec;
    if (fs::create_directory(dir, ec)) return true;
    why = "cannot create " + dir.string() + ": " + ec.message();
    return false;
  }
  // A group's directory goes only once the kernel has let go of its last process.
  static void remove_dir(const fs::path& dir) {
    for (int i = 0; i < 100 && fs::exists(dir); ++i) {
      if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (fs::exists(dir)) std::fprintf(stderr, "bnr-bench-real-balance: could not remove %s\n", dir.c_str());
  }

  fs::path dir_;
  std::string kind_;
};

// Where one agent's programs run: a core, and for the slow agent a quota group. Every program
// of a scheme (agent and its Blender, strip render, speed test) starts through wrap().
struct Budget {
  std::string name;
  int core = 0;
  const CpuQuota* quota = nullptr;

  [[nodiscard]] std::vector<std::string> wrap(const std::vector<std::string>& argv,
                                              const std::vector<std::string>& env = {}) const {
    std::vector<std::string> out;
    if (quota != nullptr)  // joins the group, then becomes the program (exec keeps the PID)
      out = {"sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", quota->procs().string()};
    out.insert(out.end(), {"taskset", "-c", std::to_string(core)});
    if (!env.empty()) {
      out.push_back("env");
      out.insert(out.end(), env.begin(), env.end());
    }
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }
};

// The fallback slowdown: a busy loop pinned to the slow agent's core; the kernel shares the
// core about equally between it and the agent. Ended (SIGKILL) with the object.
class CoreHog {
 public:
  explicit CoreHog(int core) {
    ChildProcess::Options o;
    o.stdout_to_null = true;
    child_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"taskset", "-c", std::to_string(core), "sh", "-c", "while :; do :; done"}, o);
  }

 private:
  std::unique_ptr<ChildProcess> child_;
};

// ------------------------------------------------------------------ running programs

struct Ended {
  int exit_code = -1;
  Seconds at{0};  // since the group started
  std::string output;
};

// Starts every command at once and drains their output until all have ended. `on_tick` runs
// every poll turn with the time since start (the region trace uses it). Throws on a timeout
// or an interrupt; children still running then are killed by their destructors.
std::vector<Ended> run_together(const std::vector<std::vector<std::string>>& commands,
                                const std::function<void(Seconds)>& on_tick = {}) {
  ChildProcess::Options o;
  o.capture_stdout = true;
  o.stderr_to_stdout = true;
  const auto start = Clock::now();
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (const auto& argv : commands) children.push_back(std::make_unique<ChildProcess>(argv, o));
  std::vector<Ended> ended(commands.size());
  std::vector<bool> done(commands.size(), false), eof(commands.size(), false);
  while (std::find(done.begin(), done.end(), false) != done.end()) {
    if (g_stop != 0) throw std::runtime_error("interrupted");
    if (Clock::now() - start > kRunTimeout) throw std::runtime_error("timed out: " + commands.front().front());
    std::vector<pollfd> fds;
    for (std::size_t i = 0; i < children.size(); ++i)
      if (!eof[i]) fds.push_back({children[i]->stdout_fd(), POLLIN, 0});
    if (fds.empty()) std::this_thread::sleep_for(kPollInterval);
    else (void)poll(fds.data(), fds.size(), static_cast<int>(kPollInterval.count()));
    const Seconds now = Clock::now() - start;
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (done[i]) continue;
      if (!eof[i]) eof[i] = !bnr::tools::read_available(children[i]->stdout_fd(), ended[i].output);
      if (const auto status = children[i]->try_wait()) {
        ended[i].exit_code = *status;
        ended[i].at = now;
        // What it wrote last; a grandchild still holding the pipe must not keep us here.
        if (!eof[i]) (void)bnr::tools::read_available(children[i]->stdout_fd(), ended[i].output);
        done[i] = true;
      }
    }
    if (on_tick) on_tick(now);
  }
  return ended;
}

// ------------------------------------------------------------------ scenes and plain Blender

void make_scene(const Config& c, const fs::path& out, int width, int height, int samples) {
  const Ended r = run_together({{c.blender, "-b", "--factory-startup", "--python-exit-code", "2", "--python",
       std::string(BNR_SOURCE_DIR) + "/tools/scenes/make_scene.py", "--", "--out", out.string(), "--hot-left", "--size",
       std::to_string(width) + "x" + std::to_string(height), "--samples", std::to_string(samples)}})
                      .front();
  if (r.exit_code != 0 || !fs::exists(out))
    throw std::runtime_error("make_scene.py failed (" + std::to_string(r.exit_code) + "): " + tail(r.output));
}

std::string fraction(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Python for `blender --python-expr`: render only columns [x0, x1), cropped. Pixel-centre
// fractions, as bnr's agent passes them (Blender truncates float32(fraction) * size). When the
// render completes it prints the process's CPU seconds so far (start-up included): the strip's
// cost, which other load on the machine does not change the way it changes wall time.
std::string strip_expr(int x0, int x1, int width, int height) {
  return "import bpy, time; bpy.app.handlers.render_complete.append(lambda *a: print('BNR_STRIP_CPU %.3f' % "
         "time.process_time())); r = bpy.context.scene.render; r.use_border = True; r.use_crop_to_border = True; "
         "r.border_min_x = " + fraction((x0 + 0.5) / width) + "; r.border_max_x = " +
         fraction(std::min(1.0, (x1 + 0.5) / width)) + "; r.border_min_y = " + fraction(0.5 / height) +
         "; r.border_max_y = 1.0";
}

// Python for the speed test: a tiny render first (it pays for loading kernels and building
// the BVH), then the scene at kSpeedTestPercent size with its own samples, timed; prints that
// render's time.
std::string speed_test_expr() {
  return "import bpy, time; s = bpy.context.scene; s.render.resolution_percentage = 5; "
         "bpy.ops.render.render(); s.render.resolution_percentage = " +
         std::to_string(kSpeedTestPercent) +
         "; t = time.perf_counter(); bpy.ops.render.render(); "
         "print('BNR_SPEED_TEST %.6f' % (time.perf_counter() - t))";
}

// ------------------------------------------------------------------ results

struct AgentResult {
  std::string name;
  std::string work;          // "columns 0-479" or "61.3% in 14 regions"
  double finish = -1;        // seconds since the scheme started
  double busy = -1;          // percent
  double cpu = -1;           // static: CPU seconds of its Blender; -1 unknown
  std::size_t duplicates_lost = 0;
};

struct SchemeResult {
  std::string name;
  double makespan = 0;  // seconds, from starting the first program to the last one's exit
  std::vector<AgentResult> agents;
  std::string image_check;
  bool image_matches = false;

  [[nodiscard]] double spread() const {
    double lo = 1e300, hi = -1e300;
    for (const AgentResult& a : agents)
      if (a.finish >= 0) lo = std::min(lo, a.finish), hi = std::max(hi, a.finish);
    return hi >= lo ? hi - lo : 0.0;
  }
};

std::string check_image(const bnr::tools::Image16& ours, const bnr::tools::Image16& ref, bool& matches) {
  const auto d = bnr::tools::compare(ours, ref, kTolerance);
  matches = d.same_size && d.pixels_over == 0;
  return bnr::tools::describe(d, kTolerance);
}

// ------------------------------------------------------------------ static strips

// One fresh Blender per strip, all started at once, each on its agent's budget: what a tool
// that sends one strip to each machine (over SSH) does.
SchemeResult static_strips(const Config& c, const std::string& name, const std::vector<Budget>& budgets,
                           const std::vector<int>& edges, const fs::path& scene, const fs::path& dir,
                           const bnr::tools::Image16& ref) {
  std::vector<std::vector<std::string>> commands;
  for (std::size_t i = 0; i < budgets.size(); ++i) {
    const fs::path prefix = dir / (name + "_" + budgets[i].name + "_");
    commands.push_back(budgets[i].wrap({c.blender, "-b", "--factory-startup", "-t", "1", scene.string(),
                                        "--python-exit-code", "2", "--python-expr",
                                        strip_expr(edges[i], edges[i + 1], c.width, c.height), "-o",
                                        prefix.string(), "-f", "1"}));
  }
  const std::vector<Ended> ended = run_together(commands);
  SchemeResult s;
  s.name = name;
  bnr::tools::Image16 frame(c.width, c.height);
  for (std::size_t i = 0; i < budgets.size(); ++i) {
    const fs::path png = dir / (name + "_" + budgets[i].name + "_0001.png");
    if (ended[i].exit_code != 0 || !fs::exists(png))
      throw std::runtime_error(name + " strip on " + budgets[i].name + " failed (" +
                               std::to_string(ended[i].exit_code) + "): " + tail(ended[i].output));
    const bnr::tools::Image16 strip = bnr::tools::read_png(png);
    if (strip.width != edges[i + 1] - edges[i] || strip.height != c.height)
      throw std::runtime_error(name + " strip on " + budgets[i].name + " came out " + std::to_string(strip.width) +
                               "x" + std::to_string(strip.height) + ", wanted " +
                               std::to_string(edges[i + 1] - edges[i]) + "x" + std::to_string(c.height));
    for (int y = 0; y < c.height; ++y)
      std::copy_n(strip.pixel(0, y), static_cast<std::size_t>(strip.width) * 4, frame.pixel(edges[i], y));
    s.makespan = std::max(s.makespan, ended[i].at.count());
  }
  for (std::size_t i = 0; i < budgets.size(); ++i) {
    AgentResult a;
    a.name = budgets[i].name;
    a.work = "columns " + std::to_string(edges[i]) + "-" + std::to_string(edges[i + 1] - 1);
    a.finish = ended[i].at.count();
    a.busy = 100.0 * a.finish / s.makespan;  // its one Blender ran from the start to here
    if (const std::size_t at = ended[i].output.find("BNR_STRIP_CPU "); at != std::string::npos)
      a.cpu = std::atof(ended[i].output.c_str() + at + 14);
    s.agents.push_back(a);
  }
  s.image_check = check_image(frame, ref, s.image_matches);
  return s;
}

// ------------------------------------------------------------------ ours, with a region trace

// What the agents' working directories show while the broker runs: each agent renders region
// N in <TMPDIR>/bnr-agent-*/job-*/rN, created when the render starts and removed once the
// pixels are sent. Times are seconds since the scheme started, to kPollInterval. The width is
// read from Blender's PNG header when a poll catches the file (not always).
struct TracedRegion {
  long id = 0;
  double start = 0, end = -1;
  int width = -1;
};

class RegionTrace {
 public:
  explicit RegionTrace(std::vector<fs::path> agent_tmpdirs) : dirs_(std::move(agent_tmpdirs)), seen_(dirs_.size()) {}

  void poll(double t) {
    for (std::size_t a = 0; a < dirs_.size(); ++a) {
      std::map<long, fs::path> now;
      for_each_dir(dirs_[a], "bnr-agent-", [&](const fs::path& agent_dir) {
        for_each_dir(agent_dir, "job-", [&](const fs::path& job_dir) {
          for_each_dir(job_dir, "r", [&](const fs::path& region_dir) {
            const std::string n = region_dir.filename().string().substr(1);
            if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos)
              now[std::stol(n)] = region_dir;
          });
        });
      });
      auto& regions = seen_[a];
      for (const auto& [id, path] : now) {
        auto it = std::find_if(regions.begin(), regions.end(), [&](const TracedRegion& r) { return r.id == id; });
        if (it == regions.end()) {
          regions.push_back({id, t, -1, -1});
          it = std::prev(regions.end());
        }
        if (it->width < 0) it->width = png_width(path / ("region" + std::to_string(id) + ".png"));
      }
      for (TracedRegion& r : regions)
        if (r.end < 0 && now.count(r.id) == 0) r.end = t;
    }
  }

  // Regions still open at `t` end there.
  std::vector<std::vector<TracedRegion>> finish(double t) {
    for (auto& regions : seen_)
      for (TracedRegion& r : regions)
        if (r.end < 0) r.end = t;
    return seen_;
  }

 private:
  static void for_each_dir(const fs::path& dir, const std::string& prefix, const std::function<void(const fs::path&)>& f) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename().string().rfind(prefix, 0) == 0 && it->is_directory(ec)) f(it->path());
  }
  static int png_width(const fs::path& png) {
    std::ifstream in(png, std::ios::binary);
    std::array<unsigned char, 24> h{};
    if (!in.read(reinterpret_cast<char*>(h.data()), h.size())) return -1;
    if (h[1] != 'P' || h[2] != 'N' || h[3] != 'G') return -1;
    return (h[16] << 24) | (h[17] << 16) | (h[18] << 8) | h[19];
  }

  std::vector<fs::path> dirs_;
  std::vector<std::vector<TracedRegion>> seen_;
};


// N bnr-agents, each on its budget with its own TMPDIR (for the trace); ended (SIGTERM, then
// SIGKILL) with the object.
class Agents {
 public:
  Agents(const Config& c, const std::vector<Budget>& budgets, const fs::path& dir) {
    ChildProcess::Options options;
    options.capture_stdout = true;
    const std::string broker_key = bnr::bench::broker_public_key(BNR_BROKER_EXE);
    for (const Budget& b : budgets) {
      tmpdirs_.push_back(dir / ("agent-" + b.name));
      fs::create_directories(tmpdirs_.back());
      children_.push_back(std::make_unique<ChildProcess>(
          b.wrap({BNR_AGENT_EXE, "--port", "0", "--bind", "127.0.0.1", "--no-mdns", "-q", "--threads", "1", "--name",
                  b.name, "--blender", c.blender, "--authorize", broker_key},
                 {"TMPDIR=" + tmpdirs_.back().string()}),
          options));
    }
    for (auto& child : children_) {
      const bnr::tools::AgentListening agent =
          bnr::tools::wait_for_agent(*child, kAgentStartTimeout, [] { return g_stop != 0; });
      endpoints_.push_back("127.0.0.1:" + std::to_string(agent.port) + "@" + agent.key);
    }
  }
  ~Agents() {
    for (auto& child : children_)
      if (child->running()) child->send_signal(SIGTERM);
    for (auto& child : children_) (void)child->wait_or_kill(kAgentStopTimeout);
  }
  Agents(const Agents&) = delete;
  Agents& operator=(const Agents&) = delete;
  [[nodiscard]] const std::vector<std::string>& endpoints() const { return endpoints_; }
  [[nodiscard]] const std::vector<fs::path>& tmpdirs() const { return tmpdirs_; }

 private:

  std::vector<std::unique_ptr<ChildProcess>> children_;
  std::vector<std::string> endpoints_;
  std::vector<fs::path> tmpdirs_;
};

// One row of the broker's closing table ("  NAME (HOST:PORT)  regions pixels share% load busy
// idle busy% finish vs-frame  [N copies cancelled ...]"), found by the agent's address.
std::optional<AgentResult> broker_row(const std::string& log, const std::string& endpoint) {
  const std::size_t table = log.find("bnr-broker: wrote");
  if (table == std::string::npos) return std::nullopt;
  std::istringstream lines(log.substr(table));
  std::string line;
  while (std::getline(lines, line)) {
    // The summary names agents by address only ("@KEY" is how --agent takes them).
    // An agent that never became ready (a frame done before it loaded the scene) has no
    // name there: its row starts with the address.
    const std::string address = endpoint.substr(0, endpoint.find('@'));
    const bool named = line.find("(" + address + ")") != std::string::npos;
    const bool unnamed = line.compare(0, address.size() + 3, "  " + address + " ") == 0;
    if (!(named || unnamed) || line.size() < 30) continue;
    AgentResult a;
    std::size_t regions = 0;
    long long pixels = 0;
    double share = 0, load = 0, busy_s = 0, idle_s = 0, busy = 0, finish = 0, vs = 0;
    // Columns: regions pixels share load busy idle busy% finish vs-frame (broker/progress.cpp).
    const int n = std::sscanf(line.c_str() + 30, "%zu %lld %lf%% %lfs %lfs %lfs %lf%% %lfs %lfs", &regions, &pixels,
                              &share, &load, &busy_s, &idle_s, &busy, &finish, &vs);
    if (n < 7) continue;
    char work[64];
    std::snprintf(work, sizeof work, "%.1f%% in %zu regions", share, regions);
    a.work = work;
    a.busy = busy;
    a.finish = n == 9 ? finish : -1;
    if (const std::size_t d = line.find(" copies cancelled"); d != std::string::npos) {
      std::size_t b = d;
      while (b > 0 && std::isdigit(static_cast<unsigned char>(line[b - 1]))) --b;
      a.duplicates_lost = std::stoul(line.substr(b, d - b));
    }
    return a;
  }
  return std::nullopt;
}

struct OursResult {
  SchemeResult scheme;
  std::vector<std::vector<TracedRegion>> trace;
  double broker_started = 0;  // since the scheme started
  double agents_up = 0;       // since the scheme started: when every agent listened
  fs::path image;             // the broker's PNG; the caller checks it (check_ours)
};

// Agents on their budgets plus the broker, in `dir` (a directory of this run's own: the trace
// reads the agents' working directories there). `settle`: how long the agents are left idle
// between listening and the broker's start, as services started before a render would be.
OursResult ours(const Config& c, const std::vector<Budget>& budgets, const fs::path& scene, const fs::path& dir,
                Seconds settle = Seconds(0)) {
  fs::create_directories(dir);
  const fs::path out = dir / "ours.png";
  const auto start = Clock::now();
  Agents agents(c, budgets, dir);
  const double agents_up = Seconds(Clock::now() - start).count();
  std::this_thread::sleep_for(settle);
  std::vector<std::string> argv = {BNR_BROKER_EXE, scene.string(), "--no-mdns", "--no-local", "-o", out.string()};
  for (const std::string& e : agents.endpoints()) argv.insert(argv.end(), {"--agent", e});
  RegionTrace trace(agents.tmpdirs());
  const double offset = Seconds(Clock::now() - start).count();
  const Ended broker = run_together({argv}, [&](Seconds t) { trace.poll(offset + t.count()); }).front();
  if (broker.exit_code != 0 || !fs::exists(out))
    throw std::runtime_error("bnr-broker failed (" + std::to_string(broker.exit_code) + "): " + tail(broker.output));
  if (c.verbose) {
    const std::size_t wrote = broker.output.find("bnr-broker: wrote");
    std::printf("%s\n", wrote == std::string::npos ? broker.output.c_str() : broker.output.substr(wrote).c_str());
  }

  OursResult r;
  r.broker_started = offset;
  r.agents_up = agents_up;
  r.scheme.name = "ours";
  r.scheme.makespan = offset + broker.at.count();
  r.trace = trace.finish(r.scheme.makespan);
  for (std::size_t i = 0; i < budgets.size(); ++i) {
    auto row = broker_row(broker.output, agents.endpoints()[i]);
    if (!row) throw std::runtime_error("no summary row for " + budgets[i].name + " in the broker's log: " +
                                       tail(broker.output));
    row->name = budgets[i].name;
    if (row->finish >= 0) row->finish += offset;
    r.scheme.agents.push_back(*row);
  }
  r.image = out;
  return r;
}

// `o` with its image compared with `ref`.
OursResult checked(OursResult o, const bnr::tools::Image16& ref) {
  o.scheme.image_check = check_image(bnr::tools::read_png(o.image), ref, o.scheme.image_matches);
  return o;
}

// ------------------------------------------------------------------ report

void print_scheme(const SchemeResult& s) {
  for (std::size_t i = 0; i < s.agents.size(); ++i) {
    const AgentResult& a = s.agents[i];
    char finish[32] = "-";
    if (a.finish >= 0) std::snprintf(finish, sizeof finish, "%.1f", a.finish);
    std::printf("%-14s %-5s %-22s %8s %6.0f%%", i == 0 ? s.name.c_str() : "", a.name.c_str(), a.work.c_str(), finish,
                a.busy);
    if (a.duplicates_lost > 0) std::printf("  %zu duplicate(s) lost", a.duplicates_lost);
    std::printf("\n");
  }
  std::printf("%-14s makespan %.1f s, finish spread %.1f s; image %s (%s)\n", "", s.makespan, s.spread(),
              s.image_matches ? "matches" : "DIFFERS", s.image_check.c_str());
}

void print_trace(const std::vector<Budget>& budgets, const std::vector<std::vector<TracedRegion>>& trace,
                 double makespan, bool verbose) {
  std::printf("\nours, traced from the agents' working directories (+-%lld ms):\n",
              static_cast<long long>(kPollInterval.count()));
  for (std::size_t a = 0; a < budgets.size(); ++a) {
    std::vector<TracedRegion> regions = trace[a];
    std::sort(regions.begin(), regions.end(), [](const auto& x, const auto& y) { return x.start < y.start; });
    if (regions.empty()) {
      std::printf("  %-5s no regions seen\n", budgets[a].name.c_str());
      continue;
    }
    double rendering = 0, gaps = 0;
    for (std::size_t i = 0; i < regions.size(); ++i) {
      rendering += regions[i].end - regions[i].start;
      if (i > 0) gaps += std::max(0.0, regions[i].start - regions[i - 1].end);
    }
    const TracedRegion& last = regions.back();
    std::printf("  %-5s %zu regions; first starts at %.1f s; rendering %.1f s, gaps between regions %.2f s; "
                "last one %.1f s long (%s px), ends %.1f s before the frame\n",
                budgets[a].name.c_str(), regions.size(), regions.front().start, rendering, gaps, last.end - last.start,
                last.width > 0 ? std::to_string(last.width).c_str() : "?", makespan - last.end);
    std::string seq;
    for (const TracedRegion& r : regions) {
      const std::string width = r.width > 0 ? "/" + std::to_string(r.width) : "";
      char buf[64];
      if (verbose)
        std::snprintf(buf, sizeof buf, " #%ld %.1f-%.1f%s", r.id, r.start, r.end, width.c_str());
      else
        std::snprintf(buf, sizeof buf, " %.1f%s", r.end - r.start, width.c_str());
      seq += buf;
    }
    std::printf("        %s:%s\n", verbose ? "regions (#id start-end s[/px when caught])" : "s[/px when caught]",
                seq.c_str());
  }
}

double load_average() {
  const auto text = read_text("/proc/loadavg");
  return text ? std::atof(text->c_str()) : -1.0;
}

// The slow agent's handicap: a quota group, else a busy loop on its core (started only once
// the large frame's unpinned reference render is done).
struct Slowdown {
  std::unique_ptr<CpuQuota> quota;
  std::unique_ptr<CoreHog> hog;
  std::string how;  // for the header line

  void start_hog_if_needed() {
    if (!quota && !hog) hog = std::make_unique<CoreHog>(1);
  }
};

Slowdown make_slowdown(const Config& c) {
  Slowdown s;
  if (c.slowdown == "hog") {
    s.how = "busy loop sharing core 1";
    return s;
  }
  std::string why;
  s.quota = CpuQuota::create(c.slow_share, why);
  if (!s.quota && c.slowdown == "cgroup") throw std::runtime_error("no CPU quota: " + why);
  if (s.quota) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s, %.0f%% of core 1", s.quota->kind().c_str(), 100 * c.slow_share);
    s.how = buf;
  } else {
    s.how = "busy loop sharing core 1 (" + why + ")";
  }
  return s;
}

// The large frame: ours against static strips in both orders. True when every image matched.
bool large_frame(const Config& c, const std::vector<Budget>& budgets, Slowdown& slowdown, const fs::path& dir) {
  fs::create_directories(dir);
  std::printf("\nlarge frame: hot-left demo %dx%d, %d samples\n", c.width, c.height, c.samples);
  std::fflush(stdout);
  const fs::path scene = dir / "scene.blend";
  make_scene(c, scene, c.width, c.height, c.samples);

  // Plain Blender's frame first, untimed: every scheme is checked against it. Unpinned, all
  // cores; nothing else runs meanwhile (the busy loop starts after it).
  const fs::path ref_prefix = dir / "ref_";
  const auto ref_start = Clock::now();
  const Ended ref_run =
      run_together({{c.blender, "-b", "--factory-startup", "-t", "2", scene.string(), "-o", ref_prefix.string(), "-f",
                     "1"}})
          .front();
  const Seconds ref_time = Clock::now() - ref_start;
  if (ref_run.exit_code != 0 || !fs::exists(ref_prefix.string() + "0001.png"))
    throw std::runtime_error("plain Blender render failed (" + std::to_string(ref_run.exit_code) + "): " +
                             tail(ref_run.output));
  const bnr::tools::Image16 ref = bnr::tools::read_png(ref_prefix.string() + "0001.png");
  slowdown.start_hog_if_needed();

  // Speed test on each budget, both at once (separate cores).
  std::vector<std::vector<std::string>> tests;
  for (const Budget& b : budgets)
    tests.push_back(b.wrap({c.blender, "-b", "--factory-startup", "-t", "1", scene.string(), "--python-exit-code",
                            "2", "--python-expr", speed_test_expr()}));
  std::vector<double> test_seconds;
  const std::vector<Ended> tested = run_together(tests);
  for (std::size_t i = 0; i < budgets.size(); ++i) {
    const std::size_t at = tested[i].output.find("BNR_SPEED_TEST ");
    if (tested[i].exit_code != 0 || at == std::string::npos)
      throw std::runtime_error("speed test on " + budgets[i].name + " failed (" +
                               std::to_string(tested[i].exit_code) + "): " + tail(tested[i].output));
    test_seconds.push_back(std::atof(tested[i].output.c_str() + at + 15));
    if (!(test_seconds.back() > 0)) throw std::runtime_error("speed test on " + budgets[i].name + " took no time");
  }
  // Strip edges: equal, and proportional to speed (1 / test time), for agents in `order`.
  const auto edges_for = [&](const std::vector<double>& seconds, bool by_speed) {
    std::vector<int> edges = {0};
    double speed_sum = 0, speed_acc = 0;
    for (double t : seconds) speed_sum += 1.0 / t;
    for (std::size_t i = 1; i <= seconds.size(); ++i) {
      speed_acc += 1.0 / seconds[i - 1];
      edges.push_back(static_cast<int>(by_speed ? std::lround(c.width * speed_acc / speed_sum)
                                                : std::lround(static_cast<double>(c.width) * i / seconds.size())));
    }
    return edges;
  };
  const std::vector<int> equal = edges_for(test_seconds, false);
  const std::vector<int> tested_edges = edges_for(test_seconds, true);
  // The old tool's strip order was arbitrary; with a lopsided scene it decides who gets the
  // costly side. Both orders are measured.
  const std::vector<Budget> flipped(budgets.rbegin(), budgets.rend());
  const std::vector<double> flipped_seconds(test_seconds.rbegin(), test_seconds.rend());
  const std::vector<int> flipped_tested = edges_for(flipped_seconds, true);
  std::printf("plain blender -t 2 (reference image, unpinned): %.1f s\n", ref_time.count());
  std::printf("speed test (the scene at %d%% size, timed inside Blender):", kSpeedTestPercent);
  for (std::size_t i = 0; i < budgets.size(); ++i)
    std::printf(" %s %.2f s%s", budgets[i].name.c_str(), test_seconds[i], i + 1 < budgets.size() ? "," : "");
  std::printf(" -> speed-tested strips");
  for (std::size_t i = 0; i < budgets.size(); ++i) std::printf(" %d", tested_edges[i + 1] - tested_edges[i]);
  std::printf(" px\n");
  std::fflush(stdout);

  const OursResult o = checked(ours(c, budgets, scene, dir / "ours"), ref);
  const SchemeResult eq = static_strips(c, "static-equal", budgets, equal, scene, dir, ref);
  const SchemeResult st = static_strips(c, "static-speed", budgets, tested_edges, scene, dir, ref);
  const SchemeResult eq_flipped = static_strips(c, "equal-flipped", flipped, equal, scene, dir, ref);
  const SchemeResult st_flipped = static_strips(c, "speed-flipped", flipped, flipped_tested, scene, dir, ref);

  std::printf("\n%-14s %-5s %-22s %8s %7s\n", "scheme", "agent", "work", "finish s", "busy");
  for (const SchemeResult* s : {&o.scheme, &eq, &st, &eq_flipped, &st_flipped}) print_scheme(*s);
  std::printf("(finish: seconds since the scheme's first program started. busy: ours, the broker's figure, time\n"
              " inside Blender's render call over the time since the agent loaded the scene; static, its\n"
              " Blender's lifetime over the makespan)\n");

  // What the equal strips say about the scene: each half's cost in fast-agent seconds.
  // The strips' CPU seconds say what each strip cost; CPU over wall time says how much of a
  // core each budget really got (fast should be ~1, slow ~--slow-share; less means other load).
  std::printf("\n");
  for (const SchemeResult* s : {&eq, &st, &eq_flipped, &st_flipped}) {
    std::printf("%-14s strip CPU s (start-up included):", s->name.c_str());
    for (const AgentResult& a : s->agents) std::printf(" %s %.1f", a.name.c_str(), a.cpu);
    std::printf("; core share received:");
    for (const AgentResult& a : s->agents) std::printf(" %s %.2f", a.name.c_str(), a.cpu / a.finish);
    std::printf("\n");
  }

  print_trace(budgets, o.trace, o.scheme.makespan, c.verbose);

  const double ours_s = o.scheme.makespan;
  std::printf("\nratio ours/static-equal: %.3f (strips in the other order: %.3f; mean of both orders %.3f)\n",
              ours_s / eq.makespan, ours_s / eq_flipped.makespan,
              ours_s / ((eq.makespan + eq_flipped.makespan) / 2));
  std::printf("ratio ours/static-speed: %.3f (strips in the other order: %.3f; mean of both orders %.3f)\n",
              ours_s / st.makespan, ours_s / st_flipped.makespan,
              ours_s / ((st.makespan + st_flipped.makespan) / 2));
  return o.scheme.image_matches && eq.image_matches && st.image_matches && eq_flipped.image_matches &&
         st_flipped.image_matches;
}

// Plain `blender -b -t 1` on the fast agent's core (no quota): the small frame's single-core
// time, Blender's start-up included as a user would wait for it.
Seconds plain_single(const Config& c, const Budget& fast, const fs::path& scene, const fs::path& prefix) {
  const Ended r = run_together({fast.wrap({c.blender, "-b", "--factory-startup", "-t", "1", scene.string(), "-o",
                                           prefix.string(), "-f", "1"})})
                      .front();
  if (r.exit_code != 0 || !fs::exists(prefix.string() + "0001.png"))
    throw std::runtime_error("plain single-thread render failed (" + std::to_string(r.exit_code) + "): " +
                             tail(r.output));
  return r.at;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

// The small frame: ours against the ideal for these two budgets, plain single-core time /
// (1 + slow share), both measured in every repetition (alternating which goes first). True
// when every image matched.
bool small_frame(const Config& c, const std::vector<Budget>& budgets, Slowdown& slowdown, const fs::path& dir) {
  fs::create_directories(dir);
  const double cores = 1.0 + c.slow_share;
  std::printf("\nsmall frame: hot-left demo %dx%d, %d samples; ideal = plain -t 1 on core 0 / %.2f cores; %d reps\n",
              c.small_width, c.small_height, c.small_samples, cores, c.reps);
  std::fflush(stdout);
  const fs::path scene = dir / "scene.blend";
  make_scene(c, scene, c.small_width, c.small_height, c.small_samples);
  slowdown.start_hog_if_needed();

  // bnr-agent runs as a service: the user waits from starting bnr-broker, on agents started
  // (idle, caches empty) a moment before. The agents' own start-up is added for the case
  // where they are started for this render.
  std::vector<double> plain_s, ours_s, with_start_up_s;
  bool all_match = true;
  for (int rep = 0; rep < c.reps; ++rep) {
    const std::string tag = std::to_string(rep + 1);
    const fs::path ref_prefix = dir / ("plain" + tag + "_");
    // Which goes first alternates, so slow drift in the machine hits both alike.
    std::optional<OursResult> unchecked;
    if (rep % 2 == 1) unchecked = ours(c, budgets, scene, dir / ("ours" + tag), bnr::bench::kAgentSettle);
    plain_s.push_back(plain_single(c, budgets.front(), scene, ref_prefix).count());
    if (rep % 2 == 0) unchecked = ours(c, budgets, scene, dir / ("ours" + tag), bnr::bench::kAgentSettle);
    const OursResult o = checked(std::move(*unchecked), bnr::tools::read_png(ref_prefix.string() + "0001.png"));
    all_match = all_match && o.scheme.image_matches;
    ours_s.push_back(o.scheme.makespan - o.broker_started);
    with_start_up_s.push_back(o.agents_up + ours_s.back());
    std::printf("\nrep %d: plain -t 1 %.2f s (ideal %.2f s), ours %.2f s from the broker's start: makespan / ideal "
                "%.3f (%.2f s, %.3f with the agents' start-up)\n",
                rep + 1, plain_s.back(), plain_s.back() / cores, ours_s.back(), ours_s.back() * cores / plain_s.back(),
                with_start_up_s.back(), with_start_up_s.back() * cores / plain_s.back());
    std::printf("(times below are since the agents were started; the broker started at %.1f s)\n", o.broker_started);
    print_scheme(o.scheme);
    print_trace(budgets, o.trace, o.scheme.makespan, c.verbose);
    std::fflush(stdout);
  }
  const double ideal = median(plain_s) / cores;
  const double ratio = median(ours_s) / ideal;
  std::printf("\nsmall frame: plain -t 1 %.2f s (median), ideal %.2f s, ours %.2f s (median, from the broker's start; "
              "%.2f s with the agents' start-up)\n",
              median(plain_s), ideal, median(ours_s), median(with_start_up_s));
  std::printf("ratio makespan/ideal (small frame): %.3f  (%.3f with the agents' start-up)  target <= %.2f: %s\n", ratio,
              median(with_start_up_s) / ideal, kSmallFrameTarget, ratio <= kSmallFrameTarget ? "met" : "NOT met");
  return all_match;
}

int run(const Config& c) {
  TempDir dir(c.keep);
  if (c.keep) std::printf("temporary directory: %s\n", dir.path().c_str());
  if (std::thread::hardware_concurrency() < 2) throw std::runtime_error("needs at least 2 cores");
  Slowdown slowdown = make_slowdown(c);
  const std::vector<Budget> budgets = {{"fast", 0, nullptr}, {"slow", 1, slowdown.quota.get()}};

  const double load = load_average();
  std::printf("agents: fast = core 0, slow = core 1 slowed by %s; 1 Blender thread each\n", slowdown.how.c_str());
  if (load > 0.5) std::printf("warning: the machine is not idle (load average %.2f); times will be noisy\n", load);
  std::fflush(stdout);

  bool all_match = true;
  if (c.large) all_match = large_frame(c, budgets, slowdown, dir.path() / "large") && all_match;
  if (c.small) all_match = small_frame(c, budgets, slowdown, dir.path() / "small") && all_match;
  std::printf("\nall images equal plain Blender's (within 3/255): %s\n", all_match ? "yes" : "NO");
  std::printf("load average at the start %.2f, at the end %.2f\n", load, load_average());
  return all_match ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return bnr::bench::bench_main("bnr-bench-real-balance", kUsage, argc, argv, parse, run, on_signal);
}
