// Real processes for integration tests: scenes made by Blender's Python, Blender's own
// reference renders, bnr-agent and bnr-broker on loopback. Every process is ended by PID when
// the test's objects go out of scope.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "temp_dir.h"

namespace bnr::testing {

namespace fs = std::filesystem;

using tools::TempDir;

// Runs tools/scenes/make_scene.py; fails the test (throws) when Blender fails.
fs::path make_scene(const fs::path& out, const std::vector<std::string>& options);

// Blender's own render of frame 1 into an empty `dir`; returns the files written, sorted.
// `extra` goes before -f (e.g. {"-F", "OPEN_EXR"}).
std::vector<fs::path> blender_reference(const fs::path& scene, const fs::path& dir,
                                        const std::vector<std::string>& extra = {});

// Runs make_scene.py --write-texture: a small deterministic PNG, `stripes` px per stripe.
fs::path make_texture(const fs::path& out, int stripes = 4);

// A bnr-agent on a free loopback port, with a scene cache of its own (removed with it) unless
// `extra` names one with --cache-dir.
class Agent {
 public:
  // Not advertised on mDNS unless `advertise`. `hidden`: directories the agent must not see,
  // as on another machine; each is covered by an empty tmpfs in a private mount namespace.
  explicit Agent(int threads = 1, const std::vector<std::string>& extra = {}, bool advertise = false,
                 const std::vector<fs::path>& hidden = {});
  [[nodiscard]] std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] tools::ChildProcess& process() { return *child_; }

 private:
  std::unique_ptr<TempDir> cache_;
  std::unique_ptr<tools::ChildProcess> child_;
  int port_ = 0;
};

// True when this process may create mount namespaces (Agent's `hidden` needs it).
bool can_hide_directories();

// Compares PNGs within 3/255 per channel (Blender's 8-bit dither); a seam is far more.
void expect_same_png(const fs::path& ours, const fs::path& blender);

// bnr-broker with `args`, run to completion (killed after `timeout`).
tools::RunResult run_broker(const std::vector<std::string>& args, const fs::path& working_dir = {},
                            std::chrono::seconds timeout = std::chrono::seconds(240));
tools::RunResult run_agent(const std::vector<std::string>& args, std::chrono::seconds timeout = std::chrono::seconds(60));

// Files in `dir` whose names start with `prefix`, sorted.
std::vector<fs::path> files_with_prefix(const fs::path& dir, const std::string& prefix);

// The bit depth in a PNG's IHDR.
int png_bit_depth(const fs::path& png);

// The number of lines in `text` that are not empty.
int line_count(const std::string& text);

}  // namespace bnr::testing
