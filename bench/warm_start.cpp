// bnr-bench-warm-start: what warm Blenders save, measured side by side in one run on the
// same agents. Renders one frame with bnr-broker on N agents (started separately, --threads 1,
// --no-local) four times:
//   fresh    agents just started, no Blender yet: the time a first job costs;
//   warm     the same scene again as another job: the agents' Blenders are warm;
//   killed   again, SIGKILLed once --kill-at of the frame is journaled;
//   resumed  the same command again: takes the job over on every agent and resumes.
// It prints each run's wall time (from starting bnr-broker to its exit) and broker start to
// the first region sent (watched from outside: the broker's "first region sent" log line),
// then resumed / fresh and resumed / warm. Every written image is checked against Blender's
// own render of the frame (3/255).
//
// Exit status: 0 when the measurements ran (whatever the figures), 1 on an error or a wrong
// image, 2 on bad flags.
#include <poll.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_cli.h"
#include "bench_render.h"
#include "child_process.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using bnr::tools::ChildProcess;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr const char* kUsage = R"(usage: bnr-bench-warm-start [options]

Measures warm start and resume on loopback agents: a fresh render, the same frame again on
warm agents, a broker SIGKILLed part-way and run again. Prints wall times, broker start to
first region, and resumed / fresh.

options:
  --agents N       agents, one Blender thread each (default 2)
  --size WxH       frame size (default 320x180)
  --samples N      Cycles samples (default 96: about 6 s on 2 agents of a 2-core machine)
  --kill-at PCT    kill the broker once this share of the frame is journaled (default 60)
  --keep           keep the temporary directory
  -h, --help       show this help
)";

struct Config {
  int agents = 2;
  std::string size = "320x180";
  int samples = 96;
  int kill_at = 60;
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
    else if (a == "--agents") c.agents = bnr::bench::int_flag(a, value(), 1, 16);
    else if (a == "--size") c.size = value();
    else if (a == "--samples") c.samples = bnr::bench::positive_int(a, value());
    else if (a == "--kill-at") c.kill_at = bnr::bench::int_flag(a, value(), 1, 99);
    else if (a == "--keep") c.keep = true;
    else throw bnr::bench::UsageError("unknown option '" + a + "'");
  }
  return c;
}

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

using bnr::bench::LocalAgent;

struct Run {
  double seconds = 0;                  // starting bnr-broker to its exit (or the kill)
  std::optional<double> first_region;  // starting bnr-broker to its "first region sent" line
  std::string output;
  int status = -1;
};

// One bnr-broker run; with `kill_at_bytes`, SIGKILLed once its journal holds that much.
Run run_broker(const std::vector<std::string>& argv, const fs::path& journal,
               std::optional<std::uintmax_t> kill_at_bytes) {
  ChildProcess::Options o;
  o.capture_stdout = true;
  o.stderr_to_stdout = true;
  Run run;
  const auto start = Clock::now();
  ChildProcess broker(argv, o);
  const auto deadline = start + std::chrono::minutes(10);
  for (bool open = true; open && Clock::now() < deadline && g_stop == 0;) {
    pollfd p{broker.stdout_fd(), POLLIN, 0};
    (void)poll(&p, 1, 10);
    open = bnr::tools::read_available(broker.stdout_fd(), run.output);
    if (!run.first_region && run.output.find("first region sent") != std::string::npos)
      run.first_region = Seconds(Clock::now() - start).count();
    std::error_code ec;
    if (kill_at_bytes && fs::file_size(journal, ec) >= *kill_at_bytes && !ec) {
      broker.send_signal(SIGKILL);
      break;
    }
  }
  run.status = broker.wait_or_kill(std::chrono::seconds(10));
  run.seconds = Seconds(Clock::now() - start).count();
  (void)bnr::tools::read_available(broker.stdout_fd(), run.output);
  if (g_stop != 0) throw std::runtime_error("interrupted");
  return run;
}

void check_image(const fs::path& ours, const fs::path& reference) {
  if (const auto d = bnr::bench::png_difference(ours, reference))
    throw std::runtime_error(ours.filename().string() + " differs from Blender's render: " + *d);
}

void print_run(const char* what, const Run& r) {
  std::printf("  %-36s %6.2f s", what, r.seconds);
  if (r.first_region) std::printf("   first region at %5.2f s", *r.first_region);
  std::printf("\n");
}

int run(const Config& c) {
  bnr::tools::TempDir root("bnr-bench-warm", c.keep);
  // Keys, known agents and speeds of this run only; every child inherits it.
  setenv("BNR_CONFIG_DIR", (root.path() / "config").c_str(), 1);
  const std::string key = bnr::bench::broker_public_key(BNR_BROKER_EXE);
  const fs::path scene = root.path() / "warm.blend";
  bnr::bench::make_scene("make_scene.py", scene, {"--size", c.size, "--samples", std::to_string(c.samples)});
  const fs::path reference = bnr::bench::blender_render(scene, root.path() / "ref_", ".png");

  std::vector<LocalAgent> agents;
  for (int i = 0; i < c.agents; ++i) agents.push_back(bnr::bench::start_local_agent(root.path() / ("cache" + std::to_string(i)), key));
  auto broker_argv = [&](const fs::path& png) {
    // mDNS stays on: with --agent given, the broker must not wait out its browse window.
    std::vector<std::string> argv = {BNR_BROKER_EXE, scene.string(), "--no-local", "-o", png.string()};
    for (const LocalAgent& a : agents) argv.insert(argv.end(), {"--agent", a.endpoint});
    return argv;
  };
  const fs::path fresh_png = root.path() / "fresh.png";
  const fs::path warm_png = root.path() / "warm.png";
  const fs::path resumed_png = root.path() / "resumed.png";
  const fs::path journal = root.path() / "resumed.png.bnr-spool" / "journal";

  const Run fresh = run_broker(broker_argv(fresh_png), {}, std::nullopt);
  if (fresh.status != 0) throw std::runtime_error("the fresh render failed:\n" + fresh.output);
  const Run warm = run_broker(broker_argv(warm_png), {}, std::nullopt);
  if (warm.status != 0) throw std::runtime_error("the warm render failed:\n" + warm.output);
  // A journaled region is its rendered pixels (16-bit RGBA) and a small header: the frame's
  // share is close to the journal's share of the frame's pixel bytes.
  const int width = std::stoi(c.size.substr(0, c.size.find('x')));
  const int height = std::stoi(c.size.substr(c.size.find('x') + 1));
  const auto frame_bytes = static_cast<std::uintmax_t>(width) * height * 8;
  const Run killed = run_broker(broker_argv(resumed_png), journal, frame_bytes * c.kill_at / 100);
  if (fs::exists(resumed_png)) throw std::runtime_error("the broker finished before it was killed: use more --samples");
  const Run resumed = run_broker(broker_argv(resumed_png), {}, std::nullopt);
  if (resumed.status != 0) throw std::runtime_error("the resumed render failed:\n" + resumed.output);
  for (const fs::path& png : {fresh_png, warm_png, resumed_png}) check_image(png, reference);

  std::printf("scene %s, %d samples, %d agents x 1 thread (bnr-agent started separately, bnr-broker --no-local)\n",
              c.size.c_str(), c.samples, c.agents);
  print_run("fresh (agents without a Blender)", fresh);
  print_run("warm (same frame again, other -o)", warm);
  print_run(("killed at " + std::to_string(c.kill_at) + "% journaled").c_str(), killed);
  print_run("resumed (same command again)", resumed);
  const bool took_over = resumed.output.find("took the job over") != std::string::npos;
  const bool busy = resumed.output.find("is busy with") != std::string::npos;
  std::printf("  resumed run: %s%s\n", took_over ? "took the job over on the agents" : "did NOT take the job over",
              busy ? "; some agent answered busy" : "");
  std::printf("ratio resumed/fresh %.2f (target < 0.5)\n", resumed.seconds / fresh.seconds);
  std::printf("ratio resumed/warm %.2f\n", resumed.seconds / warm.seconds);
  if (warm.first_region)
    std::printf("broker start to first region on warm agents %.2f s (target <= 1 s)\n", *warm.first_region);
  std::printf("all images equal Blender's within 3/255\n");
  if (c.keep) std::printf("kept %s\n", root.path().c_str());
  bnr::bench::stop_local_agents(agents);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bnr::bench::bench_main("bnr-bench-warm-start", kUsage, argc, argv, parse, run, on_signal);
}
