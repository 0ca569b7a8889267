// bnr-broker: flags -> JobOptions per scene -> render_job. Every failure ends as one line on
// stderr and a non-zero exit; no output file is written for a job that did not complete.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "cli_flags.h"
#include "fd_limit.h"
#include "host_name.h"
#include <vector>

#include <unistd.h>

#include "agent_check.h"
#include "agent_keys.h"
#include "agent_profiles.h"
#include "benchmark_scene.h"
#include "curve_auth.h"
#include "farm_files.h"
#include "local_agent.h"
#include "mdns_browse.h"
#include "image_file_util.h"
#include "output_paths.h"
#include "render_job.h"
#include "run_report.h"
#include "scene_file.h"
#include "scene_manifest.h"
#include "status_server.h"
#include "temp_dir.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr const char* kUsage = R"(usage: bnr-broker SCENE.blend... [options]

Renders one frame of each scene across bnr agents and writes it as Blender would: an RGBA
PNG at the scene's bit depth (and stereo layout), or, when the scene's output format is
OpenEXR MultiLayer, every pass of every view layer in one multilayer EXR; optionally also a
float OpenEXR of the combined image.

options:
  -o, --output OUT.png output file (one scene only; default: the scene's name with .png,
                       in the current directory; .exr for a multilayer scene)
  --exr OUT.exr        also write the scene-linear float image
  --preview FILE.png   while rendering, rewrite FILE.png every few seconds with the frame so
                       far (finished regions in place, the rest transparent; at most 2048 px
                       wide); it is left showing the finished frame
  --http [ADDR:]PORT   while rendering, serve a web page at http://ADDR:PORT/ (ADDR
                       defaults to 127.0.0.1: this machine only) showing the preview,
                       progress, ETA and each agent; also /preview.png and /status.json
                       (percent, regions_done, eta_seconds, agents: name, regions, pixels,
                       busy_seconds, state)
  --agent HOST:PORT[@KEY]
                       render on this agent (repeatable; port defaults to 7300). KEY is its
                       public key (bnr-agent --show-key prints it; quote it for the shell),
                       needed until the agent's first connection puts it in known_agents.
                       An agent given here is used whether or not it joined the farm
  --no-local           do not start an agent on this machine
  --local-threads N    render threads of the local agent (default: all cores)
  --no-mdns            do not look for agents on the LAN
  --mdns-window MS     how long to look for agents on the LAN before the first job
                       (default 1500); not waited out with --agent, nor once an agent
                       is found (with --no-local) or one runs on this machine
  --frame N            render frame N (default: the frame the scene was saved at)
  --no-denoise         turn off Cycles denoising (per-region denoising would show seams)
  --allow-mixed-versions
                       also use agents whose Blender version differs from this machine's
                       (different versions can render different pixels: seams)
  --allow-mixed-devices
                       also use GPU agents in a frame CPU agents render, and the other way
                       round (bnr-agent --device; their pixels differ slightly: seams)
  --list               list the agents found on the LAN, with their keys and whether this
                       broker may use them ("not joined": it may not), and exit
  --check              probe every agent this broker would render on (--agent, and joined
                       agents on the LAN): reachable, authorized, Blender version, device,
                       round trip; prints a table and exits 1 if any has a problem
  --join-token         print this broker's join token and exit: run bnr-agent --join TOKEN
                       on every machine that should render for it
  --trust-new-agents   also use agents on the LAN that did not join this broker's farm (and
                       remember their keys): any machine there gets the scene's files
  --forget-speeds      forget every agent's learned speed (says which) before rendering;
                       with no scene given, only that
  --json FILE          write the end-of-run summary for scripts: per job and agent the
                       table's columns, totals, overdraw, output files, and the exit code and
                       reason (also when the run fails)
  --show-key           print this broker's public key (for bnr-agent --authorize) and exit
  --region-width PX    fixed region width instead of adaptive sizing
  --bands N            cut the frame into N horizontal bands of regions (default: chosen from
                       the frame, the agents and the overlap margin adaptive sampling needs;
                       1 = full-height columns)
  --benchmark          first render a small built-in Cycles scene on every agent to measure
                       each machine's speed (kept for later jobs); with no scene given, only
                       that
  --speed-test SMALL.blend
                       first render SMALL.blend (a small version of the scene) in equal
                       strips to learn each agent's speed and where the frame is costly
  --agent-timeout S    seconds of silence before an agent's regions go elsewhere (default 10)
  --open-timeout S     seconds an agent may take to load the scene after its last scene bytes
                       before it is left out (default 900; agents also stop a Blender that
                       makes no progress, bnr-agent --stall-timeout)
  --region-timeout S   seconds an agent may take for one region, at least (default 600; 5x
                       the predicted time when that is longer): then its regions go elsewhere
  -q, --quiet          print only errors
  -h, --help           show this help

With no --agent and no agents found, the broker starts a local agent, so
`bnr-broker scene.blend` alone renders on this machine.

Finished regions are journaled in OUT.png.bnr-spool/ as they arrive: if the broker is
killed or interrupted, the same command resumes and renders only what is missing; agents
hand the job to it at once (same broker key, same scene, frame, settings and output) and
keep their loaded Blender. The journal is removed once the output is written. Agents
started mid-render join the job. Agents keep a finished job's Blender warm for a while
(bnr-agent --keep-warm), so rendering the same scene again starts at once; Ctrl+C stops
their Blenders.

Connections are encrypted and authenticated (ZeroMQ CURVE). This broker's key pair is
broker.key in the config directory ($BNR_CONFIG_DIR, else ~/.config/bnr), made on the first
run. Setting up a farm: bnr-broker --join-token prints one token (this broker's key and a
farm secret, farm.secret there, made on first use); bnr-agent --join TOKEN on each machine
authorizes this broker there, and that agent's mDNS advert then proves it joined. This
broker renders only on agents that prove it, agents given with --agent, agents in
known_agents, and its own local agent; other adverts are skipped (one line each) and get
nothing. The key each agent proved to hold is kept in known_agents; a different key later
is refused until its line is deleted.
)";

struct Config {
  std::vector<std::string> scenes;
  std::string output;
  std::string exr;
  std::string preview;
  std::optional<bnr::broker::ListenAddress> http;
  std::vector<std::string> agents;
  std::map<std::string, std::string> agent_keys;  // endpoint -> the key given with --agent
  bool local = true;
  int local_threads = 0;
  bool mdns = true;
  bool quiet = false;
  bool no_denoise = false;
  int region_width = 0;
  int bands = 0;  // 0: the job session chooses
  int agent_timeout_s = 10;
  int open_timeout_s = 900;
  int region_timeout_s = 600;
  std::string speed_test;
  bool benchmark = false;
  std::optional<int> frame;
  int mdns_window_ms = 1500;
  bool allow_mixed_versions = false;
  bool allow_mixed_devices = false;
  bool list = false;
  bool check = false;
  bool trust_new_agents = false;
  bool forget_speeds = false;
  std::string json;
};

// This broker's CURVE key pair, made on the first run.
bnr::protocol::CurveKeyPair broker_keys() {
  return bnr::protocol::load_or_create_key_pair(bnr::protocol::config_dir() / "broker.key", "bnr-broker");
}

std::filesystem::path farm_secret_path() { return bnr::protocol::config_dir() / "farm.secret"; }

// --join-token: the token on stdout (the one thing to copy), how to use it on stderr.
void print_join_token() {
  const bnr::protocol::JoinToken token{broker_keys().public_key,
                                       bnr::protocol::load_or_create_farm_secret(farm_secret_path())};
  std::cout << bnr::protocol::encode_join_token(token) << std::endl;
  std::cerr << "bnr-broker: on every machine that should render for this broker, run: bnr-agent --join TOKEN\n";
}

// Into `c`, so that flags read before a bad one (--json) still apply to the error.
void parse(int argc, char** argv, Config& c) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "-o" || a == "--output") {
      c.output = value();
    } else if (a == "--exr") {
      c.exr = value();
    } else if (a == "--preview") {
      c.preview = value();
    } else if (a == "--http") {
      c.http = bnr::broker::parse_listen_address(value());
    } else if (a == "--agent") {
      std::string agent = value();
      std::string key;
      // HOST:PORT@KEY: the first '@' ends the address (Z85 keys may contain '@' and ':').
      if (const std::size_t at = agent.find('@'); at != std::string::npos) {
        key = agent.substr(at + 1);
        agent.resize(at);
        if (!bnr::protocol::is_curve_key(key))
          throw std::runtime_error("--agent " + agent + "@KEY: '" + key +
                                   "' is not an agent's public key (40 Z85 characters, as bnr-agent --show-key prints)");
      }
      if (agent.find(':') == std::string::npos) agent += ":7300";
      if (std::find(c.agents.begin(), c.agents.end(), agent) == c.agents.end()) c.agents.push_back(agent);
      if (!key.empty()) c.agent_keys[agent] = key;
    } else if (a == "--show-key") {
      std::cout << broker_keys().public_key << std::endl;
      std::exit(0);
    } else if (a == "--join-token") {
      print_join_token();
      std::exit(0);
    } else if (a == "--trust-new-agents") {
      c.trust_new_agents = true;
    } else if (a == "--no-local") {
      c.local = false;
    } else if (a == "--local-threads") {
      c.local_threads = bnr::tools::parse_int_flag(a, value(), 0, 1024);
    } else if (a == "--allow-mixed-versions") {
      c.allow_mixed_versions = true;
    } else if (a == "--allow-mixed-devices") {
      c.allow_mixed_devices = true;
    } else if (a == "--list") {
      c.list = true;
    } else if (a == "--check") {
      c.check = true;
    } else if (a == "--forget-speeds") {
      c.forget_speeds = true;
    } else if (a == "--json") {
      c.json = value();
    } else if (a == "--mdns-window") {
      c.mdns_window_ms = bnr::tools::parse_int_flag(a, value(), 0, 600000);
    } else if (a == "--no-mdns") {
      c.mdns = false;
    } else if (a == "--no-denoise") {
      c.no_denoise = true;
    } else if (a == "--bands") {
      c.bands = bnr::tools::parse_int_flag(a, value(), 1, 4096);
    } else if (a == "--region-width") {
      c.region_width = bnr::tools::parse_int_flag(a, value(), 1, 65536);
    } else if (a == "--frame") {
      c.frame = bnr::tools::parse_int_flag(a, value(), -1048574, 1048574);
    } else if (a == "--benchmark") {
      c.benchmark = true;
    } else if (a == "--speed-test") {
      c.speed_test = value();
    } else if (a == "--agent-timeout") {
      c.agent_timeout_s = bnr::tools::parse_int_flag(a, value(), 1, 86400);
    } else if (a == "--open-timeout") {
      c.open_timeout_s = bnr::tools::parse_int_flag(a, value(), 1, 7 * 86400);
    } else if (a == "--region-timeout") {
      c.region_timeout_s = bnr::tools::parse_int_flag(a, value(), 1, 7 * 86400);
    } else if (a == "-q" || a == "--quiet") {
      c.quiet = true;
    } else if (a.size() > 1 && a[0] == '-') {
      throw std::runtime_error("unknown option '" + a + "' (see --help)");
    } else {
      c.scenes.push_back(a);
    }
  }
  if (c.list || c.check || (c.forget_speeds && c.scenes.empty() && !c.benchmark)) return;
  if (c.scenes.empty() && !c.benchmark) throw std::runtime_error("no scene given (usage: bnr-broker SCENE.blend..., see --help)");
  if (c.scenes.size() > 1 && (!c.output.empty() || !c.exr.empty()))
    throw std::runtime_error("-o and --exr name one output; give one scene with them");
  if (!c.local && c.agents.empty() && !c.mdns)
    throw std::runtime_error("no agents: --no-local without --agent leaves nothing to render on");
}

// Whether an agent found on the LAN can serve this broker; says why not (once) if not.
bool usable(const bnr::broker::DiscoveredAgent& agent, const Config& config) {
  if (agent.txt.protocol_version == bnr::protocol::kProtocolVersion) return true;
  if (!config.quiet)
    std::cerr << "bnr-broker: skipping agent " << agent.service_name << " at " << agent.endpoint()
              << ": protocol version " << agent.txt.protocol_version << ", this broker speaks "
              << bnr::protocol::kProtocolVersion << "\n";
  return false;
}

bool on_this_host(const bnr::broker::DiscoveredAgent& agent) {
  return agent.txt.info.agent_id.rfind(bnr::tools::host_name() + "/", 0) == 0;
}

// Whether what the browse found so far settles what the broker needs before its first job;
// agents advertised later still join mid-render (JobOptions::discover_more), so the window
// need not be waited out. With --agent the job has agents already; with --no-local one
// agent is enough to start; otherwise the local agent is needed unless one runs on this host.
bool enough_agents(const Config& config, const std::vector<bnr::broker::DiscoveredAgent>& found) {
  if (config.list || config.check) return false;  // --list shows everything the window finds
  if (!config.agents.empty()) return true;
  if (!config.local) return !found.empty();
  return std::any_of(found.begin(), found.end(), on_this_host);
}

// Agents advertised on the LAN within the window (or until enough_agents); other protocol
// versions are named and left out.
std::vector<bnr::broker::DiscoveredAgent> discover(const Config& config, bnr::broker::AgentBrowser& browser) {
  // Short steps, so the browse ends soon after enough_agents says so. Agents found on the
  // LAN answer within 20-120 ms of each other: a quiet spell with no new one lets the others
  // in, so they start with the job rather than join it.
  constexpr auto kStep = std::chrono::milliseconds(50);
  constexpr auto kQuiet = std::chrono::milliseconds(300);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.mdns_window_ms);
  browser.run_for(std::chrono::milliseconds(0));
  std::size_t seen = 0;
  auto last_new = std::chrono::steady_clock::now();
  for (auto now = std::chrono::steady_clock::now(); now < deadline && browser.error().empty();
       now = std::chrono::steady_clock::now()) {
    const auto found = browser.agents();
    if (found.size() != seen) {
      seen = found.size();
      last_new = now;
    }
    if (enough_agents(config, found) && (!config.agents.empty() || now - last_new >= kQuiet)) break;
    browser.run_for(std::min(kStep, std::chrono::ceil<std::chrono::milliseconds>(deadline - now)));
  }
  if (!browser.error().empty() && !config.quiet)
    std::cerr << "bnr-broker: " << browser.error() << " (use --agent HOST:PORT)\n";
  const auto found = browser.agents();
  std::vector<bnr::broker::DiscoveredAgent> agents;
  for (const auto& agent : found)
    if (usable(agent, config)) agents.push_back(agent);
  if (!config.quiet && !found.empty())
    std::cerr << "bnr-broker: found " << agents.size() << " agent" << (agents.size() == 1 ? "" : "s")
              << " on the LAN\n";
  return agents;
}

std::filesystem::path output_png(const Config& config, const std::string& scene) {
  return config.output.empty() ? bnr::broker::default_png(scene) : std::filesystem::path(config.output);
}

std::filesystem::path known_agents_path() { return bnr::protocol::config_dir() / "known_agents"; }

// This broker's AgentKeys: who it may render on (agent_trust.h).
bnr::broker::AgentKeys agent_keys(const Config& config) {
  bnr::broker::TrustPolicy policy;
  policy.farm_secret = bnr::protocol::read_farm_secret(farm_secret_path()).value_or("");
  policy.trust_new_agents = config.trust_new_agents;
  return bnr::broker::AgentKeys(config.agents, config.agent_keys, known_agents_path(), policy, config.quiet);
}

// --check: every agent this broker would render on (given with --agent, or advertised on the
// LAN), probed for a round trip; adverts it would skip are listed with why. Exit 1 when any
// agent it would use has a problem.
int check_agents(const Config& config) {
  const bnr::protocol::CurveKeyPair own = broker_keys();
  bnr::broker::AgentKeys keys = agent_keys(config);
  std::vector<bnr::broker::DiscoveredAgent> found;
  std::unique_ptr<bnr::broker::AgentBrowser> browser;
  if (config.mdns) {
    browser = std::make_unique<bnr::broker::AgentBrowser>();
    found = discover(config, *browser);
  }
  zmq::context_t context(1);
  std::vector<bnr::broker::CheckRow> rows;
  std::set<std::string> probed;
  const auto probe = [&](const std::string& endpoint, const std::string& name, const std::string& trust) {
    if (!probed.insert(endpoint).second) return static_cast<bnr::broker::CheckRow*>(nullptr);
    rows.push_back(bnr::broker::probe_agent(context, endpoint, keys.key_of(endpoint), own, std::chrono::seconds(5)));
    rows.back().name = name;
    rows.back().trust = trust;
    return &rows.back();
  };
  for (const std::string& endpoint : config.agents) (void)probe(endpoint, endpoint, "--agent");
  for (const auto& a : found) {
    const bnr::broker::AdvertVerdict verdict = keys.judge(a);
    const bool used = verdict.trust != bnr::broker::AdvertTrust::kNotJoined &&
                      verdict.trust != bnr::broker::AdvertTrust::kNoKey &&
                      verdict.trust != bnr::broker::AdvertTrust::kConflict;
    bnr::broker::CheckRow* row = nullptr;
    if (used && keys.accept_advert(a)) {
      row = probe(a.endpoint(), a.txt.info.name, bnr::broker::trust_word(verdict.trust));
    } else if (probed.insert(a.endpoint()).second) {
      row = &rows.emplace_back();
      row->name = a.txt.info.name;
      row->address = a.endpoint();
      row->trust = bnr::broker::trust_word(verdict.trust);
      row->problem = "not used: " + (verdict.reason.empty() ? std::string(row->trust) : verdict.reason);
    }
    // The agent's own answer said it already, unless it is not used (not probed) or older.
    if (row != nullptr && row->blender == "-" && !a.txt.info.blender_version.empty())
      row->blender = a.txt.info.blender_version;
    if (row != nullptr && row->device == "-" && !a.txt.info.device.empty()) row->device = a.txt.info.device;
  }
  std::fputs(bnr::broker::check_table(rows).c_str(), stdout);
  const bool all_fine = std::all_of(rows.begin(), rows.end(), [](const auto& r) { return r.problem.empty(); });
  return all_fine && !rows.empty() ? 0 : 1;
}

int list_agents(const Config& config) {
  bnr::broker::AgentBrowser browser;
  const auto agents = discover(config, browser);
  const auto profiles = bnr::broker::load_profiles(bnr::broker::profiles_path());
  const bnr::broker::AgentKeys keys = agent_keys(config);
  std::printf("%-24s %-22s %-9s %-12s %-8s %-12s %-11s %s\n", "agent", "address", "blender", "device", "threads", "key",
              "trust", "learned speed");
  std::vector<std::string> notes;
  for (const auto& a : agents) {
    const auto speed = profiles.find(a.txt.info.agent_id);
    const std::string threads = a.txt.info.threads > 0 ? std::to_string(a.txt.info.threads) : "all";
    const bnr::broker::AdvertVerdict verdict = keys.judge(a);
    const std::string key = bnr::protocol::is_curve_key(a.txt.curve_key) ? bnr::protocol::short_key(a.txt.curve_key)
                                                                          : std::string("none");
    const bool refused = verdict.trust == bnr::broker::AdvertTrust::kConflict;
    std::printf("%-24s %-22s %-9s %-12s %-8s %-12s %-11s %s\n", a.txt.info.name.c_str(), a.endpoint().c_str(),
                a.txt.info.blender_version.c_str(), a.txt.info.device.empty() ? "-" : a.txt.info.device.c_str(),
                threads.c_str(), (key + (refused ? "!" : "")).c_str(), bnr::broker::trust_word(verdict.trust),
                speed == profiles.end() ? "-" : std::to_string(speed->second).substr(0, 5).c_str());
    if (!verdict.reason.empty())
      notes.push_back(std::string(refused ? "refused (!) " : std::string(bnr::broker::trust_word(verdict.trust)) + ": ") +
                      a.txt.info.name + " at " + a.endpoint() + ": " + verdict.reason);
  }
  if (agents.empty()) std::printf("(no agents found on the LAN)\n");
  for (const std::string& n : notes) std::printf("%s\n", n.c_str());
  return 0;
}

// Writes --json (atomically: a script never reads half a summary) and returns the exit code;
// a summary that cannot be written fails a run that did not fail already.
int finish_run(const Config& config, const bnr::broker::RunOutcome& outcome) {
  if (config.json.empty()) return outcome.exit_code;
  try {
    bnr::tools::write_atomically(config.json, "--json " + config.json + ": ", [&](const std::filesystem::path& temp) {
      std::ofstream out(temp, std::ios::trunc);
      out << bnr::broker::run_report_json(outcome);
      out.close();
      if (!out) throw std::runtime_error("cannot write");
    });
  } catch (const std::exception& e) {
    std::cerr << "bnr-broker: " << e.what() << std::endl;
    return outcome.exit_code != 0 ? outcome.exit_code : 1;
  }
  return outcome.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const auto launched = std::chrono::steady_clock::now();
  Config config;
  bnr::broker::RunOutcome outcome;
  try {
    parse(argc, argv, config);
    if (config.forget_speeds) {
      const fs::path path = bnr::broker::profiles_path();
      const std::string said = bnr::broker::forgotten_text(bnr::broker::forget_profiles(path), path);
      if (!config.quiet) std::cout << "bnr-broker: " << said << std::endl;
      if (config.scenes.empty() && !config.benchmark) return finish_run(config, outcome);
    }
    if (config.list) return list_agents(config);
    if (config.check) return check_agents(config);
    // Every scene is checked before any agent is started or contacted.
    for (const std::string& scene : config.scenes) bnr::broker::check_scene(scene);
    std::vector<bnr::broker::PlannedOutput> outputs;
    for (const std::string& scene : config.scenes)
      outputs.push_back({scene, output_png(config, scene), config.exr});
    if (const std::string clash = bnr::broker::output_clash(outputs, fs::current_path()); !clash.empty())
      throw std::runtime_error(clash);
    if (!config.speed_test.empty()) bnr::broker::check_scene(config.speed_test);

    bnr::tools::raise_fd_limit();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    // The web page serves the preview file the job writes: the user's, else one of its own.
    std::optional<bnr::tools::TempDir> http_dir;
    std::unique_ptr<bnr::broker::StatusServer> http;
    fs::path preview = config.preview;
    if (config.http) {
      if (preview.empty()) preview = http_dir.emplace("bnr-http").path() / "preview.png";
      http = std::make_unique<bnr::broker::StatusServer>(*config.http, preview);
      const std::string& h = config.http->host;
      const std::string url = "http://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" +
                              std::to_string(http->port()) + "/";
      if (!config.quiet) std::cerr << "bnr-broker: status page at " + url + "\n";  // one write
    }
    // CURVE: this broker's key pair, and each agent's key from --agent, known_agents or the
    // adverts it may use (agent_trust.h).
    const bnr::protocol::CurveKeyPair own_keys = broker_keys();
    bnr::broker::AgentKeys keys = agent_keys(config);
    if (config.trust_new_agents)
      std::cerr << "bnr-broker: warning: --trust-new-agents: agents on the LAN that did not join this broker's farm "
                   "are used too, and get the scene's files\n";

    // The machine benchmark's scene: made by this machine's Blender from the embedded generator.
    std::optional<bnr::tools::TempDir> benchmark_dir;
    std::string benchmark_scene;
    if (config.benchmark) {
      benchmark_dir.emplace("bnr-benchmark");
      benchmark_scene = bnr::broker::make_benchmark_scene(benchmark_dir->path()).string();
    }
    // This machine's Blender lists the files the first scene needs while agents are found.
    const std::string first_scene = !benchmark_scene.empty()   ? benchmark_scene
                                    : !config.speed_test.empty() ? config.speed_test
                                                                 : config.scenes.front();
    std::future<bnr::broker::SceneManifest> first_manifest =
        std::async(std::launch::async, bnr::broker::build_manifest, fs::path(first_scene), std::string("blender"));

    std::vector<std::string> agents = config.agents;
    bool this_host_serves = false;  // an agent already runs here: a local one would compete for its cores
    // Browsing goes on during the jobs: agents that appear later join them.
    std::unique_ptr<bnr::broker::AgentBrowser> browser;
    if (config.mdns) browser = std::make_unique<bnr::broker::AgentBrowser>();
    if (browser) {
      for (const auto& found : discover(config, *browser)) {
        if (!keys.accept_advert(found)) continue;
        if (std::find(agents.begin(), agents.end(), found.endpoint()) == agents.end())
          agents.push_back(found.endpoint());
        if (on_this_host(found)) this_host_serves = true;
      }
    }
    std::unique_ptr<bnr::broker::LocalAgent> local;
    if (config.local && !this_host_serves) {
      local = std::make_unique<bnr::broker::LocalAgent>(bnr::broker::default_agent_executable(),
                                                        config.local_threads, config.quiet, own_keys.public_key);
      agents.push_back(local->endpoint());
      keys.add(local->endpoint(), local->key());
    }
    if (agents.empty())
      throw std::runtime_error("no agents to render on (start bnr-agent, or drop --no-local)");

    std::map<std::string, bnr::broker::SceneManifest> manifests;
    manifests[first_scene] = first_manifest.get();
    // The version agents must match: this machine's Blender, when it has one.
    const std::string local_blender = manifests[first_scene].blender_version;
    // Adverts already judged, by address and join proofs: an agent that joins this farm while
    // it runs (its advert's proofs change) is judged again and can join the job.
    auto advert_id = [](const bnr::broker::DiscoveredAgent& found) {
      return found.endpoint() + " " + found.txt.join_proofs;
    };
    std::set<std::string> considered;
    if (browser)
      for (const auto& found : browser->agents()) considered.insert(advert_id(found));
    const fs::path profiles_file = bnr::broker::profiles_path();
    bnr::broker::SpeedProfiles profiles = bnr::broker::load_profiles(profiles_file);
    auto job_for = [&](const std::string& scene) {
      bnr::broker::JobOptions job;
      job.scene = scene;
      if (manifests.count(scene) == 0) manifests[scene] = bnr::broker::build_manifest(scene, "blender");
      job.manifest = manifests[scene];
      if (!config.quiet) {
        for (const std::string& w : job.manifest.warnings) std::cerr << "bnr-broker: warning: " << w << "\n";
        if (job.manifest.files.size() > 1)
          std::fprintf(stderr, "bnr-broker: %s uses %zu external files; %.1f MiB in all\n",
                       fs::path(scene).filename().c_str(), job.manifest.files.size() - 1,
                       static_cast<double>(job.manifest.total_bytes()) / (1 << 20));
      }
      job.png = output_png(config, scene);
      job.exr = config.exr;
      if (job.manifest.output && job.manifest.output->multilayer()) {
        // The scene's own output: every pass in one multilayer EXR, named like the PNG would be.
        job.layers = fs::path(job.png).replace_extension(".exr");
        job.png.clear();
        if (!job.exr.empty() && fs::absolute(job.exr).lexically_normal() == fs::absolute(job.layers).lexically_normal())
          throw std::runtime_error(job.layers.string() + " is both the scene's multilayer output and --exr; choose "
                                   "another --exr");
      }
      job.preview = preview;
      job.agents = agents;
      job.no_denoise = config.no_denoise;
      job.frame = config.frame;
      job.blender_version = local_blender;
      if (!local_blender.empty()) job.post_blender = "blender";
      job.write_with_blender = job.manifest.output && job.manifest.output->format != "PNG" &&
                               !job.manifest.output->multilayer();
      job.allow_mixed_versions = config.allow_mixed_versions;
      job.allow_mixed_devices = config.allow_mixed_devices;
      job.quiet = config.quiet;
      job.scheduler.region_width = config.region_width;
      job.scheduler.bands = config.bands;
      job.agent_timeout = std::chrono::seconds(config.agent_timeout_s);
      job.open_timeout = std::chrono::seconds(config.open_timeout_s);
      job.region_timeout_floor = std::chrono::seconds(config.region_timeout_s);
      job.speed_hints = profiles;
      job.curve = own_keys;
      job.launched = launched;
      job.agent_key = [&](const std::string& endpoint) { return keys.key_of(endpoint); };
      job.on_agent_verified = [&](const std::string& endpoint) { keys.verified(endpoint); };
      if (browser) {
        job.discover_more = [&] {
          browser->run_for(std::chrono::milliseconds(0));
          std::vector<std::string> joining;
          for (const auto& found : browser->agents()) {
            if (!considered.insert(advert_id(found)).second ||
                std::find(agents.begin(), agents.end(), found.endpoint()) != agents.end())
              continue;
            // Another agent on this machine would compete with the local one for its cores.
            const bool here = on_this_host(found);
            if ((here && local) || !usable(found, config) || !keys.accept_advert(found)) continue;
            agents.push_back(found.endpoint());  // the next scene starts with it too
            joining.push_back(found.endpoint());
          }
          return joining;
        };
      }
      if (local) job.extra_poll_fds.push_back(local->output_fd());
      if (http) {
        job.extra_poll_fds.push_back(http->fd());
        job.on_status = [&](const bnr::broker::JobStatus& s) { http->set_status(s); };
      }
      if (local || http)
        job.on_idle = [&] {
          if (local) local->drain();
          if (http) http->serve();
        };
      return job;
    };
    // What a job learned seeds the next one, and the next run of the broker.
    auto remember = [&](const bnr::broker::JobSummary& s) {
      profiles = bnr::broker::merge_profiles(profiles, s.learned_speeds);
      if (!bnr::broker::save_profiles(profiles_file, profiles) && !config.quiet)
        std::cerr << "bnr-broker: warning: could not save agent speeds to " << profiles_file.string() << "\n";
    };

    // Equal strips on every agent: each agent's speed from its own strips, and (for a small
    // version of the user's scene) where the frame costs most.
    auto calibrate = [&](const std::string& scene, const char* what) {
      bnr::broker::JobOptions test = job_for(scene);
      test.png = fs::temp_directory_path() / ("bnr-" + std::string(what) + "-" + std::to_string(getpid()) + ".png");
      test.exr.clear();
      test.frame.reset();
      test.equal_strips_per_agent = 8;
      test.spool = false;  // a throw-away render: nothing to resume
      const bnr::broker::JobSummary s = bnr::broker::render_job(test, g_stop);
      for (const auto& p : s.written) fs::remove(p);
      remember(s);
      if (!config.quiet) {
        std::fprintf(stderr, "bnr-broker: %s took %.1f s; relative agent speeds:", what, s.seconds);
        for (const auto& [id, speed] : s.learned_speeds) std::fprintf(stderr, " %s %.2f", id.c_str(), speed);
        std::fprintf(stderr, "\n");
      }
      return s;
    };
    if (!benchmark_scene.empty()) (void)calibrate(benchmark_scene, "benchmark");
    std::vector<double> cost_prior;
    if (!config.speed_test.empty()) cost_prior = calibrate(config.speed_test, "speed-test").cost_per_column;

    for (const std::string& scene : config.scenes) {
      bnr::broker::JobOptions job = job_for(scene);
      job.cost_prior = cost_prior;
      const bnr::broker::JobSummary s = bnr::broker::render_job(job, g_stop);
      remember(s);
      outcome.jobs.push_back({scene, config.frame, s});
      if (!config.quiet) {
        std::string files;
        for (const auto& p : s.written) files += (files.empty() ? "" : ", ") + p.string();
        const std::string resumed =
            s.resumed_regions > 0 ? " + " + std::to_string(s.resumed_regions) + " resumed" : std::string();
        char first[64] = "";
        if (s.first_region_seconds >= 0)
          std::snprintf(first, sizeof first, "; first region at %.2f s", s.first_region_seconds);
        std::fprintf(stderr,
                     "bnr-broker: wrote %s (%dx%d, %zu regions%s, %.1f s%s; rendered %.2fx the frame's pixels; "
                     "%.1f MiB of scene files sent)\n%s",
                     files.c_str(), s.width, s.height, s.regions, resumed.c_str(), s.seconds, first, s.overdraw,
                     static_cast<double>(s.scene_bytes_sent) / (1 << 20),
                     bnr::broker::summary_table(s.agents, static_cast<long long>(s.width) * s.height, s.seconds)
                         .c_str());
      }
    }
    return finish_run(config, outcome);
  } catch (const std::exception& e) {
    std::cerr << "bnr-broker: " << e.what() << std::endl;
    outcome.exit_code = g_stop != 0 ? 130 : 1;
    outcome.error = e.what();
    return finish_run(config, outcome);
  }
}
