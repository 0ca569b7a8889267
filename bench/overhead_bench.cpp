// bnr-bench-overhead: the system's own overhead on one machine. N agents with one Blender
// thread each (plus the broker) against one plain `blender -b -t N` on the same scene; prints
// the wall-time ratio ours / plain. Target: <= 1.10.
//
// Exit status: 0 when the measurements ran (whatever the ratio), 1 on an error or when our
// image differs from Blender's, 2 on bad flags.
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_cli.h"
#include "child_process.h"
#include "cli_flags.h"
#include "image_compare.h"
#include "png_file.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using bnr::tools::ChildProcess;
using bnr::tools::RunResult;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr double kTarget = 1.10;
constexpr double kTolerance = 3 * 257;  // 3/255 in 16-bit units: Blender's 8-bit dither
constexpr std::chrono::minutes kRenderTimeout{30};
constexpr std::chrono::seconds kAgentStartTimeout{60};
constexpr std::chrono::seconds kAgentStopTimeout{10};

constexpr const char* kUsage =
    "usage: bnr-bench-overhead [options]\n"
    "\n"
    "Renders one generated demo scene with plain `blender -b -t N` and with N bnr agents of one\n"
    "thread each plus bnr-broker (--no-local), alternating, and prints the wall-time ratio\n"
    "ours / plain (median over repetitions). Our time includes starting the agents.\n"
    "\n"
    "options:\n"
    "  --agents N      agents, and Blender threads of the plain render (default 2)\n"
    "  --reps R        repetitions of each (default 2)\n"
    "  --size WxH      scene resolution (default 960x540)\n"
    "  --samples S     Cycles samples (default 64; with 960x540, ~20 s plain on 2 idle cores)\n"
    "  --blender PATH  Blender executable (default: blender from PATH)\n"
    "  --verbose       print the broker's log (its per-agent summary) after each run\n"
    "  --keep          keep the temporary directory and print its path\n"
    "  -h, --help      show this help\n"
    "\n"
    "Exit status: 0 measured (met or not), 1 error or image mismatch, 2 bad flags.\n";

struct Config {
  int agents = 2;
  int reps = 2;
  std::string size = "960x540";
  int samples = 64;
  std::string blender = "blender";
  bool verbose = false;
  bool keep = false;
  bool help = false;
};

using bnr::bench::positive_int;

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw bnr::bench::UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") c.help = true;
    else if (arg == "--agents") c.agents = positive_int(arg, value());
    else if (arg == "--reps") c.reps = positive_int(arg, value());
    else if (arg == "--size") c.size = value();
    else if (arg == "--samples") c.samples = positive_int(arg, value());
    else if (arg == "--blender") c.blender = value();
    else if (arg == "--verbose") c.verbose = true;
    else if (arg == "--keep") c.keep = true;
    else throw bnr::bench::UsageError("unknown option '" + arg + "'");
  }
  return c;
}

// A fresh directory under the system temp dir, removed with the object unless kept.
struct TempDir : bnr::tools::TempDir {
  explicit TempDir(bool keep) : bnr::tools::TempDir("bnr-bench", keep) {}
};

std::string tail(const std::string& text, std::size_t chars = 2000) {
  return text.size() <= chars ? text : "..." + text.substr(text.size() - chars);
}

void make_scene(const Config& c, const fs::path& out) {
  const RunResult r = bnr::tools::run_command(
      {c.blender, "-b", "--factory-startup", "--python-exit-code", "2", "--python",
       std::string(BNR_SOURCE_DIR) + "/tools/scenes/make_scene.py", "--", "--out", out.string(), "--demo", "--size",
       c.size, "--samples", std::to_string(c.samples)},
      std::chrono::minutes(2));
  if (r.exit_code != 0 || !fs::exists(out))
    throw std::runtime_error("make_scene.py failed (" + std::to_string(r.exit_code) + "): " + tail(r.output));
}

// CPU time (user + system) of every descendant this process has waited for, grandchildren
// their parents waited for included. Unlike wall time it hardly moves when other programs
// share the cores, so it tells extra work apart from waiting.
Seconds children_cpu() {
  rusage u{};
  if (getrusage(RUSAGE_CHILDREN, &u) != 0) throw std::runtime_error("getrusage failed");
  auto s = [](const timeval& t) { return Seconds(static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6); };
  return s(u.ru_utime) + s(u.ru_stime);
}

// The share of all CPUs left idle over `span` (0..1), from /proc/stat; -1 when unknown.
double idle_share(std::chrono::milliseconds span) {
  auto sample = []() -> std::pair<double, double> {  // {idle + iowait, total} jiffies
    std::ifstream in("/proc/stat");
    std::string cpu;
    double v[8] = {};
    in >> cpu;
    for (double& x : v) in >> x;
    if (!in || cpu != "cpu") return {-1.0, -1.0};
    double total = 0.0;
    for (double x : v) total += x;
    return {v[3] + v[4], total};
  };
  const auto a = sample();
  ::usleep(static_cast<useconds_t>(span.count() * 1000));
  const auto b = sample();
  if (a.second < 0 || b.second <= a.second) return -1.0;
  return (b.first - a.first) / (b.second - a.second);
}

struct Times {
  Seconds wall{0};    // ours: agents' start-up + broker
  Seconds broker{0};  // ours: the broker alone; plain: unused
  Seconds cpu{0};     // all processes involved, user + system
};

// Plain Blender, frame 1 to `prefix`0001.png.
Times plain_render(const Config& c, const fs::path& scene, const fs::path& prefix) {
  const Seconds cpu_start = children_cpu();
  const auto start = Clock::now();
  const RunResult r =
      bnr::tools::run_command({c.blender, "-b", "--factory-startup", "-t", std::to_string(c.agents), scene.string(),
                               "-o", prefix.string(), "-f", "1"},
                              kRenderTimeout);
  const Seconds took = Clock::now() - start;
  if (r.exit_code != 0 || !fs::exists(prefix.string() + "0001.png"))
    throw std::runtime_error("plain Blender render failed (" + std::to_string(r.exit_code) + "): " + tail(r.output));
  return {took, Seconds(0), children_cpu() - cpu_start};
}


// N bnr-agents on free loopback ports, started together; ended (SIGTERM, then SIGKILL) with
// the object.
class Agents {
 public:
  explicit Agents(const Config& c) {
    ChildProcess::Options options;
    options.capture_stdout = true;
    const std::string broker_key = bnr::bench::broker_public_key(BNR_BROKER_EXE);
    for (int i = 0; i < c.agents; ++i)
      children_.push_back(std::make_unique<ChildProcess>(
          std::vector<std::string>{BNR_AGENT_EXE, "--port", "0", "--bind", "127.0.0.1", "--no-mdns", "-q", "--threads",
                                   "1", "--blender", c.blender, "--authorize", broker_key},
          options));
    for (auto& child : children_) {
      const bnr::tools::AgentListening agent = bnr::tools::wait_for_agent(*child, kAgentStartTimeout);
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

 private:

  std::vector<std::unique_ptr<ChildProcess>> children_;
  std::vector<std::string> endpoints_;
};

// Agents + broker. The wall time stops when the broker exits; the CPU time also counts the
// agents' (and their Blenders') shutdown, since it is read after they are reaped.
Times our_render(const Config& c, const fs::path& scene, const fs::path& out) {
  const Seconds cpu_start = children_cpu();
  const auto start = Clock::now();
  Clock::time_point broker_start;
  Clock::time_point end;
  RunResult r;
  {
    Agents agents(c);
    std::vector<std::string> argv = {BNR_BROKER_EXE, scene.string(), "--no-mdns", "--no-local", "-o", out.string()};
    for (const std::string& e : agents.endpoints()) argv.insert(argv.end(), {"--agent", e});
    if (!c.verbose) argv.push_back("-q");
    broker_start = Clock::now();
    r = bnr::tools::run_command(argv, kRenderTimeout);
    end = Clock::now();
  }
  if (r.exit_code != 0 || !fs::exists(out))
    throw std::runtime_error("bnr-broker failed (" + std::to_string(r.exit_code) + "): " + tail(r.output));
  if (c.verbose) {
    // Keep the summary, not the progress lines.
    const std::size_t wrote = r.output.find("bnr-broker: wrote");
    std::printf("%s", wrote == std::string::npos ? r.output.c_str() : r.output.substr(wrote).c_str());
  }
  return {end - start, end - broker_start, children_cpu() - cpu_start};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int run(const Config& c) {
  TempDir dir(c.keep);
  if (c.keep) std::printf("temporary directory: %s\n", dir.path().c_str());
  const fs::path scene = dir.path() / "scene.blend";
  make_scene(c, scene);
  std::printf("scene: demo %s, %d samples; %d agents x 1 thread vs blender -t %d; %d reps\n", c.size.c_str(),
              c.samples, c.agents, c.agents, c.reps);
  const double idle = idle_share(std::chrono::seconds(2));
  if (idle >= 0 && idle < 0.9)
    std::printf("warning: the CPUs were only %.0f%% idle before starting: other programs share the cores, wall "
                "times are noisy (CPU times less so)\n", 100.0 * idle);
  std::fflush(stdout);

  std::vector<Times> plain, ours;
  bool all_match = true;
  for (int rep = 0; rep < c.reps; ++rep) {
    const fs::path ref_prefix = dir.path() / ("ref" + std::to_string(rep) + "_");
    const fs::path our_png = dir.path() / ("ours" + std::to_string(rep) + ".png");
    // A fresh, empty speed-profile directory: every repetition is the broker's first job with
    // these agents, and nothing is left in the user's ~/.config.
    const fs::path config_dir = dir.path() / ("config" + std::to_string(rep));
    fs::create_directories(config_dir);
    if (setenv("BNR_CONFIG_DIR", config_dir.c_str(), 1) != 0) throw std::runtime_error("setenv failed");
    // Alternate which goes first so slow drift in the machine hits both alike.
    if (rep % 2 == 0) {
      plain.push_back(plain_render(c, scene, ref_prefix));
      ours.push_back(our_render(c, scene, our_png));
    } else {
      ours.push_back(our_render(c, scene, our_png));
      plain.push_back(plain_render(c, scene, ref_prefix));
    }
    const auto d = bnr::tools::compare(bnr::tools::read_png(our_png),
                                       bnr::tools::read_png(ref_prefix.string() + "0001.png"), kTolerance);
    const bool match = d.same_size && d.pixels_over == 0;
    all_match = all_match && match;
    std::printf("rep %d: plain %.2f s, ours %.2f s; image %s Blender's (%s)\n", rep + 1, plain.back().wall.count(),
                ours.back().wall.count(), match ? "equals" : "DIFFERS FROM", bnr::tools::describe(d, kTolerance).c_str());
    std::fflush(stdout);
  }

  auto med = [](const std::vector<Times>& v, Seconds Times::*field) {
    std::vector<double> x;
    for (const Times& t : v) x.push_back((t.*field).count());
    return median(x);
  };
  std::printf("\n%-7s %8s %8s %9s %7s   %9s %8s\n", "rep", "plain s", "ours s", "broker s", "ratio", "plain cpu",
              "ours cpu");
  for (int rep = 0; rep < c.reps; ++rep)
    std::printf("%-7d %8.2f %8.2f %9.2f %7.3f   %9.2f %8.2f\n", rep + 1, plain[rep].wall.count(),
                ours[rep].wall.count(), ours[rep].broker.count(), ours[rep].wall / plain[rep].wall,
                plain[rep].cpu.count(), ours[rep].cpu.count());
  const double plain_wall = med(plain, &Times::wall);
  const double ratio = med(ours, &Times::wall) / plain_wall;
  std::printf("%-7s %8.2f %8.2f %9.2f %7.3f   %9.2f %8.2f\n", "median", plain_wall, med(ours, &Times::wall),
              med(ours, &Times::broker), ratio, med(plain, &Times::cpu), med(ours, &Times::cpu));
  std::printf("\nratio ours/plain (median wall): %.3f  (broker only %.3f, CPU time %.3f)\n", ratio,
              med(ours, &Times::broker) / plain_wall, med(ours, &Times::cpu) / med(plain, &Times::cpu));
  std::printf("target <= %.2f: %s\n", kTarget, ratio <= kTarget ? "met" : "NOT met");
  std::printf("output equals Blender's (within 3/255): %s\n", all_match ? "yes" : "NO");
  return all_match ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return bnr::bench::bench_main("bnr-bench-overhead", kUsage, argc, argv, parse, run);
}
