// What the benchmarks that render real frames share: loopback agents serving this run's
// broker, Blender's own render of a scene, and the 3/255 check of a PNG against it.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_process.h"
#include "image_compare.h"
#include "png_file.h"

namespace bnr::bench {

struct LocalAgent {
  std::unique_ptr<tools::ChildProcess> process;
  std::string endpoint;  // HOST:PORT@KEY, what bnr-broker --agent takes
};

// A quiet bnr-agent on a free 127.0.0.1 port, one Blender thread, no mDNS, serving only the
// broker whose public key is `broker_key`; its stdout is captured (drain it when it may talk).
inline LocalAgent start_local_agent(const std::filesystem::path& cache, const std::string& broker_key) {
  tools::ChildProcess::Options o;
  o.capture_stdout = true;
  LocalAgent agent;
  agent.process = std::make_unique<tools::ChildProcess>(
      std::vector<std::string>{BNR_AGENT_EXE, "--port", "0", "--bind", "127.0.0.1", "--threads", "1", "--no-mdns",
                               "-q", "--authorize", broker_key, "--cache-dir", cache.string()},
      o);
  const tools::AgentListening l = tools::wait_for_agent(*agent.process, std::chrono::seconds(60));
  agent.endpoint = "127.0.0.1:" + std::to_string(l.port) + "@" + l.key;
  return agent;
}

// SIGTERM: each agent stops its warm Blender and removes its files itself.
inline void stop_local_agents(std::vector<LocalAgent>& agents) {
  for (LocalAgent& a : agents)
    if (a.process->running()) a.process->send_signal(SIGTERM);
  for (LocalAgent& a : agents) (void)a.process->wait_or_kill(std::chrono::seconds(10));
}

// A scene from a generator in tools/scenes/ (e.g. "make_scene.py") with its options.
inline void make_scene(const std::string& generator, const std::filesystem::path& out,
                       const std::vector<std::string>& options) {
  std::vector<std::string> argv = {"blender", "-b", "--factory-startup", "--python-exit-code", "2", "--python",
                                   std::string(BNR_SOURCE_DIR) + "/tools/scenes/" + generator, "--", "--out",
                                   out.string()};
  argv.insert(argv.end(), options.begin(), options.end());
  const tools::RunResult made = tools::run_command(argv, std::chrono::minutes(5));
  if (made.exit_code != 0 || !std::filesystem::exists(out))
    throw std::runtime_error(generator + " failed: " + made.output);
}

// Blender's own render of frame 1, written as `prefix`0001.<the scene's extension>.
inline std::filesystem::path blender_render(const std::filesystem::path& scene, const std::filesystem::path& prefix,
                                            const std::string& extension) {
  const tools::RunResult ref = tools::run_command(
      {"blender", "-b", "--factory-startup", scene.string(), "-o", prefix.string(), "-f", "1"},
      std::chrono::minutes(30));
  const std::filesystem::path out = prefix.string() + "0001" + extension;
  if (ref.exit_code != 0 || !std::filesystem::exists(out))
    throw std::runtime_error("Blender's render failed: " + ref.output);
  return out;
}

// How `ours` differs from Blender's `reference` PNG beyond 3/255 (Blender's 8-bit dither);
// nothing when it does not.
inline std::optional<std::string> png_difference(const std::filesystem::path& ours,
                                                 const std::filesystem::path& reference) {
  constexpr double kTolerance = 3 * 257;  // 3/255 in 16-bit units
  const tools::ImageDifference d = tools::compare(tools::read_png(ours), tools::read_png(reference), kTolerance);
  if (d.same_size && d.pixels_over == 0) return std::nullopt;
  return tools::describe(d, kTolerance);
}

}  // namespace bnr::bench
