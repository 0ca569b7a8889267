// Real processes for integration tests: scenes made by Blender's Python, Blender's own
// reference renders, bnr-agent and bnr-broker on loopback. Every process is ended by PID when
// the test's objects go out of scope.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "child_process.h"
#include "curve_keys.h"
#include "temp_dir.h"

namespace bnr::testing {

namespace fs = std::filesystem;

using tools::TempDir;

// Runs tools/scenes/make_scene.py; fails the test (throws) when Blender fails.
fs::path make_scene(const fs::path& out, const std::vector<std::string>& options);
// The same with another generator in tools/scenes/, e.g. "make_passes_scene.py".
fs::path make_scene_with(const std::string& script, const fs::path& out, const std::vector<std::string>& options);

// Blender's own render of frame 1 into an empty `dir`; returns the files written, sorted.
// `extra` goes before -f (e.g. {"-F", "OPEN_EXR"}).
std::vector<fs::path> blender_reference(const fs::path& scene, const fs::path& dir,
                                        const std::vector<std::string>& extra = {});

// Runs make_scene.py --write-texture: a small deterministic PNG, `stripes` px per stripe.
fs::path make_texture(const fs::path& out, int stripes = 4);

// Each test process keeps its config directory (BNR_CONFIG_DIR: key pairs, known agents,
// learned speeds) in a temporary directory of its own, removed at exit.
[[nodiscard]] fs::path test_config_dir();

// The key pair of the brokers tests run (test_config_dir()/broker.key, made on first use):
// test agents authorize it unless told otherwise.
[[nodiscard]] protocol::CurveKeyPair test_broker_keys();

// The test broker's join token (bnr-broker --join-token for test_config_dir(): its key and
// farm secret, made on first use).
[[nodiscard]] std::string test_join_token();

struct AgentOptions {
  int threads = 1;
  std::vector<std::string> extra{};  // more bnr-agent flags
  bool advertise = false;            // on mDNS
  // Directories the agent must not see, as on another machine; each is covered by an empty
  // tmpfs in a private mount namespace.
  std::vector<fs::path> hidden{};
  bool authorize_test_broker = true;  // --authorize test_broker_keys().public_key
  bool log = false;                   // no -q; its stderr goes to log()
  fs::path config_dir{};              // its BNR_CONFIG_DIR; empty: test_config_dir()
  bool join_test_broker = true;       // with advertise: --join test_join_token(), so the
                                      // test broker uses it when it finds it on the LAN
  // A command the agent runs under, which must exec it (so the PID is the agent's), e.g.
  // LossyLink::exec_prefix(); and the address it listens on there.
  std::vector<std::string> prefix{};
  std::string bind = "127.0.0.1";
  std::vector<std::string> env{};     // more NAME=VALUE for its environment (e.g. TMPDIR)
};

// A bnr-agent on a free loopback port, with a scene cache of its own (removed with it) unless
// `extra` names one with --cache-dir. It serves the test broker (real CURVE authorization).
class Agent {
 public:
  explicit Agent(const AgentOptions& options);
  explicit Agent(int threads = 1, const std::vector<std::string>& extra = {}, bool advertise = false,
                 const std::vector<fs::path>& hidden = {});
  // What bnr-broker --agent takes: "127.0.0.1:PORT@KEY".
  [[nodiscard]] std::string endpoint() const { return address() + "@" + key_; }
  [[nodiscard]] std::string address() const { return bind_ + ":" + std::to_string(port_); }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& key() const { return key_; }  // its CURVE public key
  [[nodiscard]] tools::ChildProcess& process() { return *child_; }
  // Everything it printed so far (only with AgentOptions::log; else the "port" and "key" lines).
  [[nodiscard]] const std::string& log();
  // Connects `dealer` to the agent with CURVE as the test broker, like a broker would.
  void connect(zmq::socket_t& dealer) const;

 private:
  std::unique_ptr<TempDir> cache_;
  std::unique_ptr<tools::ChildProcess> child_;
  int port_ = 0;
  std::string bind_;
  std::string key_;
  std::string log_;
};

// True when this process may create mount namespaces (Agent's `hidden` needs it).
bool can_hide_directories();

// Compares PNGs within 3/255 per channel (Blender's 8-bit dither); a seam is far more.
void expect_same_png(const fs::path& ours, const fs::path& blender);

// bnr-broker with `args`, run to completion (killed after `timeout`). `config_dir`: its
// BNR_CONFIG_DIR (another broker, with other keys); empty: test_config_dir().
tools::RunResult run_broker(const std::vector<std::string>& args, const fs::path& working_dir = {},
                            std::chrono::seconds timeout = std::chrono::seconds(240),
                            const fs::path& config_dir = {});
// Starts `agents` test agents and runs bnr-broker on `scene` with only them (--no-local),
// writing `out`, plus `args`; the agents end with the call.
tools::RunResult render_on_agents(const fs::path& scene, const fs::path& out, int agents,
                                  const std::vector<std::string>& args = {});
// bnr-broker with `args` (and --no-mdns unless `mdns`), not waited for: read its output (stdout
// and stderr together) with wait_for_output.
std::unique_ptr<tools::ChildProcess> start_broker(const std::vector<std::string>& args, bool mdns = false);
// Collects the broker's output into `output` until `needle` appears (true) or it exits or
// `timeout` passes (false).
bool wait_for_output(tools::ChildProcess& broker, std::string& output, const std::string& needle,
                     std::chrono::seconds timeout);

// Reads the broker's output into `output` until it exits (SIGKILL after `timeout`); its exit
// status.
int wait_for_exit(tools::ChildProcess& broker, std::string& output, std::chrono::seconds timeout);

// Bytes the spool journals for a region `width` x `height` px of a mono frame without EXR.
[[nodiscard]] std::uintmax_t journal_bytes(int width, int height);

// Waits until the broker's spool journal `journal` holds at least `bytes` (a few regions),
// or `timeout` passes; returns its size then.
std::uintmax_t wait_for_journal(const fs::path& journal, std::uintmax_t bytes, std::chrono::seconds timeout);

tools::RunResult run_agent(const std::vector<std::string>& args, std::chrono::seconds timeout = std::chrono::seconds(60));

// Files in `dir` whose names start with `prefix`, sorted.
std::vector<fs::path> files_with_prefix(const fs::path& dir, const std::string& prefix);

// The bit depth in a PNG's IHDR.
int png_bit_depth(const fs::path& png);

// The processes `parent` started and that still run (an agent's Blender), by PID.
std::vector<int> children_of(pid_t parent);

// A --blender for an agent: answers --version and the start-up device probe as the real
// Blender (so the agent starts) and runs `body` (a bash script fragment, "$@" being
// Blender's arguments) for the Blenders that serve jobs.
fs::path blender_wrapper(const fs::path& path, const std::string& body);
// A --blender that is the real Blender, except that its `nth` render (counting the agent's
// one-pixel warm-up) blocks in a render_pre handler for an hour, as a hung Blender would:
// once when `once_marker` is given (the file it leaves keeps a restarted Blender from
// hanging again), else every time.
fs::path hanging_blender(const fs::path& dir, int nth, const fs::path& once_marker = {});

// The number of lines in `text` that are not empty.
int line_count(const std::string& text);

}  // namespace bnr::testing
