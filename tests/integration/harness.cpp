#include "harness.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <poll.h>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "curve_auth.h"
#include "farm_files.h"
#include "image_compare.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

// A directory of this process's own, so no test sees another's keys or known agents (ctest
// runs tests in parallel processes) and nothing lands in the user's ~/.config/bnr.
const TempDir& config_dir_holder() {
  static const TempDir dir("bnr-test-config");
  return dir;
}

// Brokers and agents started by tests (children inherit the environment) keep what they learn
// in test directories.
const bool kIsolatedConfig = [] {
  const std::string cache = (fs::temp_directory_path() / "bnr-test-cache").string();
  return setenv("BNR_CONFIG_DIR", config_dir_holder().path().c_str(), 1) == 0 &&
         setenv("BNR_CACHE_DIR", cache.c_str(), 1) == 0;
}();

}  // namespace

fs::path test_config_dir() { return config_dir_holder().path(); }

protocol::CurveKeyPair test_broker_keys() {
  static const protocol::CurveKeyPair keys =
      protocol::load_or_create_key_pair(test_config_dir() / "broker.key", "bnr-broker");
  return keys;
}

std::string test_join_token() {
  return protocol::encode_join_token(
      {test_broker_keys().public_key, protocol::load_or_create_farm_secret(test_config_dir() / "farm.secret")});
}

fs::path make_scene(const fs::path& out, const std::vector<std::string>& options) {
  return make_scene_with("make_scene.py", out, options);
}

fs::path make_scene_with(const std::string& script, const fs::path& out, const std::vector<std::string>& options) {
  std::vector<std::string> argv = {"blender", "-b", "--factory-startup", "--python-exit-code", "2", "--python",
                                   std::string(BNR_SOURCE_DIR) + "/tools/scenes/" + script, "--", "--out",
                                   out.string()};
  argv.insert(argv.end(), options.begin(), options.end());
  const tools::RunResult r = tools::run_command(argv, std::chrono::seconds(120));
  if (r.exit_code != 0 || !fs::exists(out))
    throw std::runtime_error(script + " failed (" + std::to_string(r.exit_code) + "): " + r.output);
  return out;
}

std::vector<fs::path> blender_reference(const fs::path& scene, const fs::path& dir,
                                        const std::vector<std::string>& extra) {
  fs::create_directories(dir);
  std::vector<std::string> argv = {"blender", "-b", "--factory-startup", scene.string(), "-o",
                                   (dir / "ref_").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"-f", "1"});
  const tools::RunResult r = tools::run_command(argv, std::chrono::seconds(240));
  auto files = files_with_prefix(dir, "ref_");
  if (r.exit_code != 0 || files.empty())
    throw std::runtime_error("Blender's reference render failed (" + std::to_string(r.exit_code) + "): " + r.output);
  return files;
}

fs::path make_texture(const fs::path& out, int stripes) {
  const tools::RunResult r = tools::run_command(
      {"blender", "-b", "--factory-startup", "--python-exit-code", "2", "--python",
       std::string(BNR_SOURCE_DIR) + "/tools/scenes/make_scene.py", "--", "--write-texture", out.string(),
       "--stripes", std::to_string(stripes)},
      std::chrono::seconds(120));
  if (r.exit_code != 0 || !fs::exists(out))
    throw std::runtime_error("make_scene --write-texture failed (" + std::to_string(r.exit_code) + "): " + r.output);
  return out;
}

bool can_hide_directories() {
  return tools::run_command({"unshare", "--mount", "--propagation", "private", "true"}, std::chrono::seconds(10))
             .exit_code == 0;
}

void expect_same_png(const fs::path& ours, const fs::path& blender) {
  constexpr double kDisplayTolerance = 3 * 257;  // 3/255 in 16-bit units
  ASSERT_TRUE(fs::exists(ours)) << ours;
  const tools::Image16 a = tools::read_png(ours);
  const tools::Image16 b = tools::read_png(blender);
  const tools::ImageDifference d = tools::compare(a, b, kDisplayTolerance);
  EXPECT_TRUE(d.same_size) << a.width << "x" << a.height << " vs " << b.width << "x" << b.height;
  EXPECT_EQ(d.pixels_over, 0) << tools::describe(d, kDisplayTolerance) << " first at " << d.first_x << ","
                              << d.first_y;
}

Agent::Agent(int threads, const std::vector<std::string>& extra, bool advertise, const std::vector<fs::path>& hidden)
    : Agent(AgentOptions{threads, extra, advertise, hidden}) {}

Agent::Agent(const AgentOptions& o) : bind_(o.bind) {
  std::vector<std::string> argv;
  if (!o.hidden.empty()) {
    // unshare and sh exec in turn, so the PID the test ends is the agent's own.
    argv = {"unshare", "--mount", "--propagation", "private", "sh", "-c",
            "for d in \"$@\"; do [ \"$d\" = -- ] && break; mount -t tmpfs bnr-hidden \"$d\" || exit 1; done; "
            "while [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\"",
            "sh"};
    for (const fs::path& d : o.hidden) argv.push_back(d.string());
    argv.push_back("--");
  }
  argv.insert(argv.begin(), o.prefix.begin(), o.prefix.end());
  // env execs the agent too: still the agent's PID.
  if (!o.config_dir.empty() || !o.env.empty()) argv.push_back("env");
  if (!o.config_dir.empty()) argv.push_back("BNR_CONFIG_DIR=" + o.config_dir.string());
  argv.insert(argv.end(), o.env.begin(), o.env.end());
  argv.insert(argv.end(), {BNR_AGENT_EXE, "--port", "0", "--bind", o.bind, "--threads", std::to_string(o.threads)});
  if (!o.log) argv.push_back("-q");
  if (!o.advertise) argv.push_back("--no-mdns");
  if (o.authorize_test_broker) argv.insert(argv.end(), {"--authorize", test_broker_keys().public_key});
  if (o.advertise && o.join_test_broker) argv.insert(argv.end(), {"--join", test_join_token()});
  if (std::find(o.extra.begin(), o.extra.end(), "--cache-dir") == o.extra.end()) {
    cache_ = std::make_unique<TempDir>("bnr-agent-cache");
    argv.insert(argv.end(), {"--cache-dir", cache_->path().string()});
  }
  argv.insert(argv.end(), o.extra.begin(), o.extra.end());
  tools::ChildProcess::Options options;
  options.capture_stdout = true;
  options.stderr_to_stdout = o.log;
  child_ = std::make_unique<tools::ChildProcess>(argv, options);
  const tools::AgentListening listening = tools::wait_for_agent(*child_, std::chrono::seconds(60), {}, &log_);
  port_ = listening.port;
  key_ = listening.key;
}

const std::string& Agent::log() {
  (void)tools::read_available(child_->stdout_fd(), log_);
  return log_;
}

void Agent::connect(zmq::socket_t& dealer) const {
  protocol::set_curve_client(dealer, test_broker_keys(), key_);
  dealer.connect("tcp://" + address());
}

tools::RunResult run_broker(const std::vector<std::string>& args, const fs::path& working_dir,
                            std::chrono::seconds timeout, const fs::path& config_dir) {
  std::vector<std::string> argv;
  if (!config_dir.empty()) argv = {"env", "BNR_CONFIG_DIR=" + config_dir.string()};
  argv.insert(argv.end(), {BNR_BROKER_EXE, "--no-mdns"});
  argv.insert(argv.end(), args.begin(), args.end());
  return tools::run_command(argv, timeout, working_dir.string());
}

tools::RunResult render_on_agents(const fs::path& scene, const fs::path& out, int agents,
                                  const std::vector<std::string>& args) {
  std::vector<std::unique_ptr<Agent>> running;
  std::vector<std::string> broker_args = {scene.string(), "--no-local", "-o", out.string()};
  broker_args.insert(broker_args.end(), args.begin(), args.end());
  for (int i = 0; i < agents; ++i) {
    running.push_back(std::make_unique<Agent>());
    broker_args.insert(broker_args.end(), {"--agent", running.back()->endpoint()});
  }
  return run_broker(broker_args);
}

std::unique_ptr<tools::ChildProcess> start_broker(const std::vector<std::string>& args, bool mdns) {
  std::vector<std::string> argv = {BNR_BROKER_EXE};
  if (!mdns) argv.push_back("--no-mdns");
  argv.insert(argv.end(), args.begin(), args.end());
  tools::ChildProcess::Options options;
  options.capture_stdout = true;
  options.stderr_to_stdout = true;
  return std::make_unique<tools::ChildProcess>(argv, options);
}

std::uintmax_t journal_bytes(int width, int height) {
  return static_cast<std::uintmax_t>(width) * height * 4 * sizeof(std::uint16_t);
}

std::uintmax_t wait_for_journal(const fs::path& journal, std::uintmax_t bytes, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto journaled = [&]() -> std::uintmax_t {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(journal, ec);
    return ec ? 0 : size;
  };
  while (journaled() < bytes && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return journaled();
}

bool wait_for_output(tools::ChildProcess& broker, std::string& output, const std::string& needle,
                     std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{broker.stdout_fd(), POLLIN, 0};
    poll(&p, 1, 100);
    const bool open = tools::read_available(broker.stdout_fd(), output);
    if (output.find(needle) != std::string::npos) return true;
    if (!open) return false;
  }
  return false;
}

int wait_for_exit(tools::ChildProcess& broker, std::string& output, std::chrono::seconds timeout) {
  // Its output ends when it exits; nothing it prints is the needle.
  (void)wait_for_output(broker, output, std::string(1, '\0'), timeout);
  const int status = broker.wait_or_kill(std::chrono::seconds(5));
  (void)tools::read_available(broker.stdout_fd(), output);
  return status;
}

tools::RunResult run_agent(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  std::vector<std::string> argv = {BNR_AGENT_EXE};
  argv.insert(argv.end(), args.begin(), args.end());
  return tools::run_command(argv, timeout);
}

std::vector<fs::path> files_with_prefix(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

int png_bit_depth(const fs::path& png) {
  std::ifstream in(png, std::ios::binary);
  char header[25] = {};
  in.read(header, sizeof header);
  return static_cast<unsigned char>(header[24]);
}

std::vector<int> children_of(pid_t parent) {
  const tools::RunResult r = tools::run_command({"pgrep", "-P", std::to_string(parent)}, std::chrono::seconds(5));
  std::vector<int> pids;
  std::size_t start = 0;
  while (r.exit_code == 0 && start < r.output.size()) {
    const std::size_t end = r.output.find('\n', start);
    const std::string line = r.output.substr(start, end - start);
    if (!line.empty()) pids.push_back(std::stoi(line));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return pids;
}

int line_count(const std::string& text) {
  int n = 0;
  bool content = false;
  for (char c : text) {
    if (c == '\n') {
      n += content;
      content = false;
    } else if (c != ' ' && c != '\r') {
      content = true;
    }
  }
  return n + content;
}

fs::path blender_wrapper(const fs::path& path, const std::string& body) {
  {
    std::ofstream out(path);
    // --version and the agent's start-up device probe are the real Blender's; only the
    // Blenders that serve jobs run `body`.
    out << "#!/bin/bash\nif [ \"$1\" = --version ]; then exec blender \"$@\"; fi\n"
           "case \" $* \" in *\" --probe-device \"*) exec blender \"$@\";; esac\n"
        << body << "\n";
  }
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

fs::path hanging_blender(const fs::path& dir, int nth, const fs::path& once_marker) {
  const fs::path hook = dir / "hang.py";
  {
    std::ofstream out(hook);
    out << "import bpy, os, time\nrenders = [0]\n"
           "@bpy.app.handlers.persistent\n"
           "def hang(*args):\n"
           "    renders[0] += 1\n";
    if (once_marker.empty()) {
      out << "    if renders[0] == " << nth << ":\n";
    } else {
      out << "    if renders[0] == " << nth << " and not os.path.exists(" << once_marker << "):\n"
          << "        open(" << once_marker << ", 'w').close()\n";
    }
    out << "        time.sleep(3600)\n"
           "bpy.app.handlers.render_pre.append(hang)\n";
  }
  return blender_wrapper(dir / "hanging-blender",
                         "args=()\nfor a in \"$@\"; do\n  if [ \"$a\" = --python ]; then args+=(--python " +
                             hook.string() + "); fi\n  args+=(\"$a\")\ndone\nexec blender \"${args[@]}\"");
}

}  // namespace bnr::testing
