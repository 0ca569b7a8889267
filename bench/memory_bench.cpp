// bnr-bench-memory: the broker's memory against the frame it assembles, for the three ways a
// frame leaves it, side by side in one run on the same two loopback agents (1 thread each):
//   pixel-local   the passes scene written as PNG, no compositor: display pixels merged only;
//   multilayer    the same scene as OpenEXR multilayer: every pass of both view layers merged;
//   post-process  PNG with a fog-glow Glare: raw passes merged, then composited once by the
//                 broker's own Blender.
// Every frame is rendered at 1 sample (the renders are cheap; memory is the point). For each
// it prints the broker's peak RSS (the bnr-broker process alone), the compositor Blender's
// peak RSS apart, the frame's bytes (width x height x views x (8 display + 4 per merged pass
// channel)), RSS / frame bytes and the wall time, and checks the file against Blender's own
// render of the same scene (PNG within 3/255, multilayer channels, metadata and values).
//
// Exit status: 0 when measured and every file matched, 1 on an error or a file that differs,
// 2 on bad flags.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_cli.h"
#include "bench_render.h"
#include "child_process.h"
#include "exr_layers.h"
#include "layers_compare.h"
#include "proc_memory.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using bnr::tools::ChildProcess;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr std::chrono::milliseconds kSampleInterval{20};
constexpr std::chrono::minutes kBrokerTimeout{60};
constexpr double kMiB = 1 << 20;

constexpr const char* kUsage = R"(usage: bnr-bench-memory [options]

Renders the passes scene (two view layers, ~126 pass channels) at 1 sample on 2 loopback
agents three ways: PNG without compositor (pixel-local), OpenEXR multilayer (every pass
merged), PNG with a Glare node (every pass merged, composited once by the broker's Blender).
Prints the broker's peak RSS against the frame's bytes, the compositor Blender's peak RSS and
the wall time of each, and whether each file equals Blender's own render.

options:
  --size WxH       frame size (default 1920x1080)
  --keep           keep the temporary directory
  -h, --help       show this help
)";

struct Config {
  std::string size = "1920x1080";
  bool keep = false;
  bool help = false;
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw bnr::bench::UsageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") c.help = true;
    else if (a == "--size") c.size = value();
    else if (a == "--keep") c.keep = true;
    else throw bnr::bench::UsageError("unknown option '" + a + "'");
  }
  const std::size_t x = c.size.find('x');
  if (x == std::string::npos) throw bnr::bench::UsageError("--size wants WxH, e.g. 1920x1080");
  (void)bnr::bench::int_flag("--size", c.size.substr(0, x), 16, 16384);
  (void)bnr::bench::int_flag("--size", c.size.substr(x + 1), 16, 16384);
  return c;
}

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// One way the frame leaves the broker.
struct Path {
  const char* name;
  const char* format;      // make_passes_scene.py --format
  const char* compositor;  // make_passes_scene.py --compositor
  const char* extension;   // of the file the broker and Blender write
  bool merges_passes;
};

constexpr Path kPaths[] = {
    {"pixel-local (PNG)", "PNG", "none", ".png", false},
    {"multilayer EXR", "OPEN_EXR_MULTILAYER", "none", ".exr", true},
    {"post-process (PNG, glare)", "PNG", "glare", ".png", true},
};

struct Measured {
  double seconds = 0;                  // starting bnr-broker to its exit
  std::uint64_t broker_peak = 0;       // the bnr-broker process's VmHWM
  std::uint64_t compositor_peak = 0;   // its Blender running composite.py, 0 when none ran
  std::string output;
};

// Drains what `fd` holds, so that a chatty child never blocks on a full pipe.
void drain(int fd) {
  std::string ignored;
  (void)bnr::tools::read_available(fd, ignored);
}

// One bnr-broker run, sampling its peak memory and its compositing Blender's.
Measured run_broker(const std::vector<std::string>& argv, const std::vector<bnr::bench::LocalAgent>& agents) {
  ChildProcess::Options o;
  o.capture_stdout = true;
  o.stderr_to_stdout = true;
  Measured m;
  bnr::bench::PeakWatch watch;
  std::vector<pid_t> compositors;
  const auto start = Clock::now();
  ChildProcess broker(argv, o);
  std::vector<pollfd> fds = {{broker.stdout_fd(), POLLIN, 0}};
  for (const auto& a : agents) fds.push_back({a.process->stdout_fd(), POLLIN, 0});
  std::optional<int> status;
  while (!(status = broker.try_wait())) {
    if (g_stop != 0) throw std::runtime_error("interrupted");
    if (Clock::now() - start > kBrokerTimeout) throw std::runtime_error("bnr-broker took too long:\n" + m.output);
    watch.sample(broker.pid());
    for (pid_t d : bnr::bench::descendants(broker.pid())) {
      if (std::find(compositors.begin(), compositors.end(), d) == compositors.end() &&
          bnr::bench::command_line(d).find("composite.py") != std::string::npos)
        compositors.push_back(d);
      watch.sample(d);
    }
    (void)poll(fds.data(), fds.size(), static_cast<int>(kSampleInterval.count()));
    (void)bnr::tools::read_available(broker.stdout_fd(), m.output);
    for (const auto& a : agents) {
      drain(a.process->stdout_fd());
      if (!a.process->running()) throw std::runtime_error("bnr-agent " + a.endpoint + " exited during the run");
    }
  }
  m.seconds = Seconds(Clock::now() - start).count();
  while (bnr::tools::read_available(broker.stdout_fd(), m.output)) {
  }
  if (*status != 0) throw std::runtime_error("bnr-broker failed (" + std::to_string(*status) + "):\n" + m.output);
  m.broker_peak = watch.peak(broker.pid());
  for (pid_t p : compositors) m.compositor_peak = std::max(m.compositor_peak, watch.peak(p));
  return m;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += "\n    " + l;
  return out;
}

// MATCH, or DIFFER and how; `channels` gets the channel count of Blender's multilayer file.
std::string check(const Path& p, const fs::path& ours, const fs::path& reference, std::size_t* channels) {
  if (!fs::exists(ours)) return "DIFFER: the broker wrote no " + ours.filename().string();
  if (std::string(p.extension) == ".png") {
    const auto d = bnr::bench::png_difference(ours, reference);
    return d ? "DIFFER: " + *d : "MATCH";
  }
  const bnr::tools::ExrLayers a = bnr::tools::read_exr_layers(ours);
  const bnr::tools::ExrLayers b = bnr::tools::read_exr_layers(reference);
  *channels = b.channels.size();
  const std::vector<std::string> d = bnr::tools::compare_layers(a, b);
  return d.empty() ? "MATCH" : "DIFFER: " + std::to_string(d.size()) + " differences" + joined(d);
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / kMiB; }

int run(const Config& c) {
  bnr::tools::TempDir root("bnr-bench-memory", c.keep);
  // Keys, known agents and speeds of this run only; every child inherits it.
  setenv("BNR_CONFIG_DIR", (root.path() / "config").c_str(), 1);
  const std::string key = bnr::bench::broker_public_key(BNR_BROKER_EXE);
  const int width = std::stoi(c.size.substr(0, c.size.find('x')));
  const int height = std::stoi(c.size.substr(c.size.find('x') + 1));
  constexpr int kViews = 1;  // the passes scene is mono

  std::vector<bnr::bench::LocalAgent> agents;
  for (int i = 0; i < 2; ++i)
    agents.push_back(bnr::bench::start_local_agent(root.path() / ("cache" + std::to_string(i)), key));

  std::vector<Measured> measured;
  std::vector<std::string> verdicts;
  std::size_t channels = 0;  // pass channels per view, from Blender's own multilayer file
  for (const Path& p : kPaths) {
    const std::string stem = std::string(p.format) + "-" + p.compositor;
    const fs::path scene = root.path() / (stem + ".blend");
    bnr::bench::make_scene("make_passes_scene.py", scene,
                           {"--size", c.size, "--samples", "1", "--format", p.format, "--depth",
                            std::string(p.extension) == ".png" ? "8" : "16", "--compositor", p.compositor});
    const fs::path ours = root.path() / (stem + "-ours.png");
    // mDNS off: loopback agents given by --agent only, nothing on the real interface.
    std::vector<std::string> argv = {BNR_BROKER_EXE, scene.string(), "--no-mdns", "--no-local", "-o", ours.string()};
    for (const auto& a : agents) argv.insert(argv.end(), {"--agent", a.endpoint});
    std::printf("%s: rendering %s ...\n", p.name, c.size.c_str());
    std::fflush(stdout);
    measured.push_back(run_broker(argv, agents));
    const fs::path reference = bnr::bench::blender_render(scene, root.path() / (stem + "-ref_"), p.extension);
    verdicts.push_back(check(p, fs::path(ours).replace_extension(p.extension), reference, &channels));
  }
  bnr::bench::stop_local_agents(agents);
  if (channels == 0) throw std::runtime_error("internal: no channel count from the multilayer render");

  std::printf("\nframe %dx%d, %d view, 1 sample, 2 agents x 1 thread on 127.0.0.1 (bnr-broker --no-local); "
              "%zu pass channels per view\n",
              width, height, kViews, channels);
  std::printf("%-27s %10s %10s %9s %12s %8s  %s\n", "path", "frame MiB", "broker MiB", "RSS/frame",
              "compositor", "wall s", "result");
  bool all_match = true;
  for (std::size_t i = 0; i < measured.size(); ++i) {
    const Path& p = kPaths[i];
    const std::uint64_t per_pixel = 8 + (p.merges_passes ? 4 * channels : 0);
    const std::uint64_t frame = static_cast<std::uint64_t>(width) * height * kViews * per_pixel;
    const Measured& m = measured[i];
    const std::string compositor = m.compositor_peak == 0 ? "-" : std::to_string(static_cast<long>(mib(m.compositor_peak))) + " MiB";
    std::printf("%-27s %10.1f %10.1f %9.2f %12s %8.1f  %s\n", p.name, mib(frame), mib(m.broker_peak),
                static_cast<double>(m.broker_peak) / static_cast<double>(frame), compositor.c_str(), m.seconds,
                verdicts[i].c_str());
    all_match = all_match && verdicts[i] == "MATCH";
  }
  std::printf("broker MiB: peak RSS of the bnr-broker process; compositor: peak RSS of the Blender it runs to "
              "composite (post-process only); frame MiB: width x height x views x (8 + 4 x channels when passes "
              "are merged)\n");
  if (c.keep) std::printf("kept %s\n", root.path().c_str());
  return all_match ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return bnr::bench::bench_main("bnr-bench-memory", kUsage, argc, argv, parse, run, on_signal);
}
