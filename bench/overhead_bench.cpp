// bnr-bench-overhead: the system's own overhead on one machine. N agents with one Blender
// thread each (plus the broker) against one plain `blender -b -t N` on the same scene, for
// each case (a scene with adaptive sampling on, as Blender's defaults have it, or off),
// measured side by side; prints each case's wall-time ratio ours / plain. Target: <= 1.05.
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
#include <string_view>
#include <thread>
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

constexpr double kTarget = 1.05;
constexpr double kTolerance = 3 * 257;  // 3/255 in 16-bit units: Blender's 8-bit dither
constexpr std::chrono::minutes kRenderTimeout{30};
constexpr std::chrono::seconds kAgentStartTimeout{60};
constexpr std::chrono::seconds kAgentStopTimeout{10};

constexpr const char* kUsage =
    "usage: bnr-bench-overhead [options]\n"
    "\n"
    "Renders generated scenes with plain `blender -b -t N` and with N bnr agents of one thread\n"
    "each plus bnr-broker (--no-local), side by side (every case in every repetition, plain and\n"
    "ours alternating which goes first), and prints each case's wall-time ratio ours / plain\n"
    "(median over repetitions). Our time includes starting the agents.\n"
    "With --local, also bnr-broker alone with its own local agent of N threads (the one-machine\n"
    "case: a user who runs no agent service), timed from the broker's start to its exit.\n"
    "\n"
    "Cases: a scene (demo: glass spheres on a checkerboard, tools/scenes/make_scene.py --demo;\n"
    "artist: procedural wood and marble node groups, glass, depth of field,\n"
    "tools/scenes/make_artist_scene.py) x a sampling (default: adaptive sampling on with\n"
    "Blender's default threshold, as a new Cycles scene has; fixed: adaptive sampling off).\n"
    "\n"
    "options:\n"
    "  --scene S          demo, artist or all (default demo)\n"
    "  --sampling M       default, fixed or both (default both)\n"
    "  --agents N         agents, and Blender threads of the plain render (default 2)\n"
    "  --reps R           repetitions of each case (default 2)\n"
    "  --local            also render each case with bnr-broker's local agent (see above)\n"
    "  --size WxH         demo resolution (default 960x540)\n"
    "  --samples S        demo's (maximum) Cycles samples (default 64; ~20 s plain on 2 idle cores)\n"
    "  --artist-size WxH  artist resolution (default 640x360)\n"
    "  --artist-samples S artist's maximum samples (default 20; ~25 CPU s single-threaded)\n"
    "  --blender PATH     Blender executable (default: blender from PATH)\n"
    "  --verbose          print the broker's log (its per-agent summary) after each run\n"
    "  --keep             keep the temporary directory and print its path\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 measured (met or not), 1 error or image mismatch, 2 bad flags.\n";

struct Config {
  std::vector<std::string> scenes = {"demo"};
  std::vector<std::string> samplings = {"default", "fixed"};
  int agents = 2;
  int reps = 2;
  std::string size = "960x540";
  int samples = 64;
  std::string artist_size = "640x360";
  int artist_samples = 20;
  std::string blender = "blender";
  bool local = false;
  bool verbose = false;
  bool keep = false;
  bool help = false;
};

using bnr::bench::positive_int;

// "WxH" with positive numbers, as given.
std::string size_flag(const std::string& flag, const std::string& value) {
  const std::size_t x = value.find('x');
  if (x == std::string::npos) throw bnr::bench::UsageError(flag + " wants WxH, got '" + value + "'");
  (void)positive_int(flag, value.substr(0, x));
  (void)positive_int(flag, value.substr(x + 1));
  return value;
}

// One of `names`, or "all"/"both" for every one of them.
std::vector<std::string> choice_flag(const std::string& flag, const std::string& value,
                                     const std::vector<std::string>& names, const std::string& every) {
  if (value == every) return names;
  if (std::find(names.begin(), names.end(), value) != names.end()) return {value};
  std::string wanted;
  for (const std::string& n : names) wanted += n + ", ";
  throw bnr::bench::UsageError(flag + " wants " + wanted + "or " + every + ", got '" + value + "'");
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw bnr::bench::UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") c.help = true;
    else if (arg == "--scene") c.scenes = choice_flag(arg, value(), {"demo", "artist"}, "all");
    else if (arg == "--sampling") c.samplings = choice_flag(arg, value(), {"default", "fixed"}, "both");
    else if (arg == "--agents") c.agents = positive_int(arg, value());
    else if (arg == "--reps") c.reps = positive_int(arg, value());
    else if (arg == "--size") c.size = size_flag(arg, value());
    else if (arg == "--samples") c.samples = positive_int(arg, value());
    else if (arg == "--artist-size") c.artist_size = size_flag(arg, value());
    else if (arg == "--artist-samples") c.artist_samples = positive_int(arg, value());
    else if (arg == "--blender") c.blender = value();
    else if (arg == "--local") c.local = true;
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

// One scene file with one sampling setting, rendered both ways in every repetition.
struct Case {
  std::string name;         // "demo/default"
  std::string description;  // for the header line
  fs::path scene;
};

// Writes the case's .blend with its generator script.
Case make_case(const Config& c, const std::string& scene, const std::string& sampling, const fs::path& dir) {
  Case k;
  k.name = scene + "/" + sampling;
  k.scene = dir / (scene + "-" + sampling + ".blend");
  const bool adaptive = sampling == "default";
  const std::string scripts = std::string(BNR_SOURCE_DIR) + "/tools/scenes/";
  std::vector<std::string> argv = {c.blender, "-b", "--factory-startup", "--python-exit-code", "2", "--python"};
  if (scene == "demo") {
    argv.insert(argv.end(), {scripts + "make_scene.py", "--", "--out", k.scene.string(), "--demo", "--size", c.size,
                             "--samples", std::to_string(c.samples)});
    if (adaptive) argv.push_back("--adaptive");
    k.description = "demo " + c.size + ", " + std::to_string(c.samples);
  } else {
    argv.insert(argv.end(), {scripts + "make_artist_scene.py", "--", "--out", k.scene.string(), "--size",
                             c.artist_size, "--samples", std::to_string(c.artist_samples)});
    if (!adaptive) argv.push_back("--no-adaptive");
    k.description = "artist " + c.artist_size + ", " + std::to_string(c.artist_samples);
  }
  k.description += adaptive ? " max samples, adaptive sampling on (Blender's default threshold)"
                            : " samples, adaptive sampling off";
  const RunResult r = bnr::tools::run_command(argv, std::chrono::minutes(2));
  if (r.exit_code != 0 || !fs::exists(k.scene))
    throw std::runtime_error("scene generator failed for " + k.name + " (" + std::to_string(r.exit_code) +
                             "): " + tail(r.output));
  return k;
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
  Seconds wall{0};       // ours: agents' start-up + broker
  Seconds broker{0};     // ours: the broker alone; plain: unused
  Seconds cpu{0};        // all processes involved, user + system
  double overdraw = -1;  // ours: pixels rendered / frame pixels, when the broker says; else -1
};

// Plain Blender, frame 1 to `prefix`0001.png.
// `threads` 0: as many as there are agents (the timed comparison).
Times plain_render(const Config& c, const fs::path& scene, const fs::path& prefix, int threads = 0) {
  const Seconds cpu_start = children_cpu();
  const auto start = Clock::now();
  const RunResult r = bnr::tools::run_command({c.blender, "-b", "--factory-startup", "-t",
                                               std::to_string(threads > 0 ? threads : c.agents), scene.string(),
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

// "rendered 1.04x the frame's pixels" from the broker's summary, when it prints one (the
// overlap margins rendered twice); -1 otherwise.
double overdraw_in(const std::string& broker_log) {
  const std::string key = "rendered ";
  for (std::size_t at = broker_log.find(key); at != std::string::npos; at = broker_log.find(key, at + 1)) {
    char* end = nullptr;
    const double x = std::strtod(broker_log.c_str() + at + key.size(), &end);
    if (end != broker_log.c_str() + at + key.size() && std::string_view(end).starts_with("x the frame")) return x;
  }
  return -1.0;
}

// One bnr-broker run that must write `out`; with --verbose its summary is printed.
RunResult run_broker(const Config& c, const std::vector<std::string>& argv, const fs::path& out) {
  RunResult r = bnr::tools::run_command(argv, kRenderTimeout);
  if (r.exit_code != 0 || !fs::exists(out))
    throw std::runtime_error("bnr-broker failed (" + std::to_string(r.exit_code) + "): " + tail(r.output));
  if (c.verbose) {
    // Keep the summary, not the progress lines.
    const std::size_t wrote = r.output.find("bnr-broker: wrote");
    std::printf("%s", wrote == std::string::npos ? r.output.c_str() : r.output.substr(wrote).c_str());
  }
  return r;
}

// Agents + broker. bnr-agent runs as a service on every machine, so a user waits from starting
// bnr-broker to its exit: `broker` is that time, on agents just started (idle, with empty
// caches, never given this scene) and left a moment to finish starting; `wall` adds the
// agents' own start-up (starting them until they listen) for the case where they are started
// for this render. The CPU time counts everything, the agents' start-up and shutdown included
// (it is read after they are reaped).
Times our_render(const Config& c, const fs::path& scene, const fs::path& out) {
  const Seconds cpu_start = children_cpu();
  const auto start = Clock::now();
  Clock::time_point agents_up;
  Clock::time_point broker_start;
  Clock::time_point end;
  RunResult r;
  {
    Agents agents(c);
    agents_up = Clock::now();
    std::this_thread::sleep_for(bnr::bench::kAgentSettle);
    std::vector<std::string> argv = {BNR_BROKER_EXE, scene.string(), "--no-mdns", "--no-local", "-o", out.string()};
    for (const std::string& e : agents.endpoints()) argv.insert(argv.end(), {"--agent", e});
    broker_start = Clock::now();
    r = run_broker(c, argv, out);
    end = Clock::now();
  }
  Times t{(agents_up - start) + (end - broker_start), end - broker_start, children_cpu() - cpu_start};
  t.overdraw = overdraw_in(r.output);
  return t;
}

// bnr-broker alone: it starts its local agent with `agents` threads and no other.
Times local_render(const Config& c, const fs::path& scene, const fs::path& out) {
  const Seconds cpu_start = children_cpu();
  const auto start = Clock::now();
  const RunResult r = run_broker(c, {BNR_BROKER_EXE, scene.string(), "--no-mdns", "--local-threads",
                                     std::to_string(c.agents), "-o", out.string()}, out);
  const Seconds took = Clock::now() - start;
  Times t{took, took, children_cpu() - cpu_start};
  t.overdraw = overdraw_in(r.output);
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double median_of(const std::vector<Times>& v, Seconds Times::*field) {
  std::vector<double> x;
  for (const Times& t : v) x.push_back((t.*field).count());
  return median(x);
}

// Every repetition of one case.
struct CaseResult {
  std::vector<Times> plain, ours, local;
  std::vector<fs::path> plain_pngs, our_pngs;  // our_pngs: the agents' runs, then the local ones
  bool all_match = true;

  // The user's wait on running agents, against plain Blender's.
  [[nodiscard]] double ratio() const { return median_of(ours, &Times::broker) / median_of(plain, &Times::wall); }
  // The same with the agents' start-up added.
  [[nodiscard]] double ratio_with_start_up() const {
    return median_of(ours, &Times::wall) / median_of(plain, &Times::wall);
  }
  // bnr-broker with its local agent, against plain Blender's.
  [[nodiscard]] double local_ratio() const { return median_of(local, &Times::wall) / median_of(plain, &Times::wall); }
};

// One repetition of one case: plain and ours (in the order given), then the image check.
void run_once(const Config& c, const Case& k, const fs::path& dir, int rep, bool plain_first, CaseResult& into) {
  const std::string tag = k.scene.stem().string() + "-" + std::to_string(rep);
  const fs::path ref_prefix = dir / ("ref-" + tag + "_");
  const fs::path our_png = dir / ("ours-" + tag + ".png");
  // A fresh, empty speed-profile directory: every run is the broker's first job with these
  // agents, and nothing is left in the user's ~/.config.
  const fs::path config_dir = dir / ("config-" + tag);
  fs::create_directories(config_dir);
  if (setenv("BNR_CONFIG_DIR", config_dir.c_str(), 1) != 0) throw std::runtime_error("setenv failed");
  if (plain_first) into.plain.push_back(plain_render(c, k.scene, ref_prefix));
  into.ours.push_back(our_render(c, k.scene, our_png));
  if (!plain_first) into.plain.push_back(plain_render(c, k.scene, ref_prefix));
  into.plain_pngs.push_back(ref_prefix.string() + "0001.png");
  into.our_pngs.push_back(our_png);
  const auto d = bnr::tools::compare(bnr::tools::read_png(our_png), bnr::tools::read_png(into.plain_pngs.back()),
                                     kTolerance);
  const bool match = d.same_size && d.pixels_over == 0;
  const Times& ours = into.ours.back();
  std::printf("rep %d %-15s plain %6.2f s, ours %6.2f s (%.3f; %.2f s, %.3f with the agents' start-up)", rep + 1,
              k.name.c_str(), into.plain.back().wall.count(), ours.broker.count(), ours.broker / into.plain.back().wall,
              ours.wall.count(), ours.wall / into.plain.back().wall);
  if (ours.overdraw > 0) std::printf(", rendered %.3fx the pixels", ours.overdraw);
  std::printf("; image %s Blender's (%s)\n", match ? "equals" : "DIFFERS FROM",
              bnr::tools::describe(d, kTolerance).c_str());
  if (c.local) {
    const fs::path local_png = dir / ("local-" + tag + ".png");
    into.local.push_back(local_render(c, k.scene, local_png));
    into.our_pngs.push_back(local_png);
    std::printf("rep %d %-15s local agent %6.2f s (%.3f)\n", rep + 1, k.name.c_str(),
                into.local.back().wall.count(), into.local.back().wall / into.plain.back().wall);
  }
  std::fflush(stdout);
}

// Blender itself does not render every pixel the same way with another thread count (seen
// on the artist scene's glass rim: -t 1 and -t 2 are 14/255 apart in one pixel), and our
// agents render with one thread each. So each of our images must equal one of the case's
// plain renders, or, when none does, Blender's own render with one thread (made then,
// untimed).
void check_images(const Config& c, const Case& k, const fs::path& dir, CaseResult& r) {
  std::vector<bnr::tools::Image16> plains;
  for (const fs::path& p : r.plain_pngs) plains.push_back(bnr::tools::read_png(p));
  const auto equals_one = [&](const bnr::tools::Image16& image) {
    return std::any_of(plains.begin(), plains.end(), [&](const bnr::tools::Image16& plain) {
      const auto d = bnr::tools::compare(image, plain, kTolerance);
      return d.same_size && d.pixels_over == 0;
    });
  };
  std::vector<bnr::tools::Image16> ours;
  for (const fs::path& p : r.our_pngs) ours.push_back(bnr::tools::read_png(p));
  if (!std::all_of(ours.begin(), ours.end(), equals_one) && c.agents > 1) {
    const fs::path prefix = dir / ("ref-one-thread-" + k.scene.stem().string() + "_");
    (void)plain_render(c, k.scene, prefix, 1);
    plains.push_back(bnr::tools::read_png(prefix.string() + "0001.png"));
    const auto d = bnr::tools::compare(plains.back(), plains.front(), kTolerance);
    std::printf("%s: Blender with 1 thread against %d threads: %s\n", k.name.c_str(), c.agents,
                bnr::tools::describe(d, kTolerance).c_str());
  }
  for (std::size_t i = 0; i + 1 < plains.size(); ++i) {
    const auto d = bnr::tools::compare(plains[i], plains.back(), kTolerance);
    if (d.pixels_over > 0)
      std::printf("%s: Blender's own renders differ from each other (%s)\n", k.name.c_str(),
                  bnr::tools::describe(d, kTolerance).c_str());
  }
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const bool any = equals_one(ours[i]);
    if (!any)
      std::printf("%s: %s equals none of Blender's renders\n", k.name.c_str(), r.our_pngs[i].filename().c_str());
    r.all_match = r.all_match && any;
  }
}

void print_case_table(const Case& k, const CaseResult& r) {
  std::printf("\n%s: %s\n", k.name.c_str(), k.description.c_str());
  std::printf("%-7s %8s %8s %7s   %14s %7s   %9s %8s\n", "rep", "plain s", "ours s", "ratio", "+ agent start", "ratio",
              "plain cpu", "ours cpu");
  for (std::size_t rep = 0; rep < r.plain.size(); ++rep)
    std::printf("%-7zu %8.2f %8.2f %7.3f   %14.2f %7.3f   %9.2f %8.2f\n", rep + 1, r.plain[rep].wall.count(),
                r.ours[rep].broker.count(), r.ours[rep].broker / r.plain[rep].wall, r.ours[rep].wall.count(),
                r.ours[rep].wall / r.plain[rep].wall, r.plain[rep].cpu.count(), r.ours[rep].cpu.count());
  std::printf("%-7s %8.2f %8.2f %7.3f   %14.2f %7.3f   %9.2f %8.2f\n", "median", median_of(r.plain, &Times::wall),
              median_of(r.ours, &Times::broker), r.ratio(), median_of(r.ours, &Times::wall), r.ratio_with_start_up(),
              median_of(r.plain, &Times::cpu), median_of(r.ours, &Times::cpu));
  if (!r.local.empty())
    std::printf("local agent (bnr-broker alone): median %.2f s, ratio %.3f, cpu %.2f\n", median_of(r.local, &Times::wall),
                r.local_ratio(), median_of(r.local, &Times::cpu));
}

void warn_if_busy() {
  const double idle = idle_share(std::chrono::seconds(2));
  if (idle >= 0 && idle < 0.9)
    std::printf("warning: the CPUs were only %.0f%% idle before starting: other programs share the cores, wall "
                "times are noisy (CPU times less so)\n", 100.0 * idle);
}

int run(const Config& c) {
  TempDir dir(c.keep);
  if (c.keep) std::printf("temporary directory: %s\n", dir.path().c_str());
  std::vector<Case> cases;
  for (const std::string& scene : c.scenes)
    for (const std::string& sampling : c.samplings) cases.push_back(make_case(c, scene, sampling, dir.path()));
  std::printf("%d agents x 1 thread vs blender -t %d; %d reps of each case, interleaved:\n", c.agents, c.agents,
              c.reps);
  for (const Case& k : cases) std::printf("  %-15s %s\n", k.name.c_str(), k.description.c_str());
  warn_if_busy();
  std::fflush(stdout);

  // Side by side: every case in every repetition, so slow drift in the machine (other
  // programs starting, thermal limits) hits all cases alike; which of plain and ours goes
  // first alternates over cases and repetitions.
  std::vector<CaseResult> results(cases.size());
  for (int rep = 0; rep < c.reps; ++rep)
    for (std::size_t i = 0; i < cases.size(); ++i)
      run_once(c, cases[i], dir.path(), rep, (rep + static_cast<int>(i)) % 2 == 0, results[i]);

  bool all_match = true;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    check_images(c, cases[i], dir.path(), results[i]);
    print_case_table(cases[i], results[i]);
    all_match = all_match && results[i].all_match;
  }
  std::printf("\n");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const CaseResult& r = results[i];
    std::printf("ratio ours/plain %-15s %.3f  (%.3f with the agents' start-up; CPU time %.3f)  target <= %.2f: %s\n",
                cases[i].name.c_str(), r.ratio(), r.ratio_with_start_up(),
                median_of(r.ours, &Times::cpu) / median_of(r.plain, &Times::cpu), kTarget,
                r.ratio() <= kTarget ? "met" : "NOT met");
    if (!r.local.empty())
      std::printf("ratio ours/plain %-15s %.3f  with bnr-broker's local agent of %d threads (CPU time %.3f)\n",
                  cases[i].name.c_str(), r.local_ratio(), c.agents,
                  median_of(r.local, &Times::cpu) / median_of(r.plain, &Times::cpu));
  }
  std::printf("output equals one of Blender's own renders (within 3/255) in every run: %s\n",
              all_match ? "yes" : "NO");
  return all_match ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return bnr::bench::bench_main("bnr-bench-overhead", kUsage, argc, argv, parse, run);
}
