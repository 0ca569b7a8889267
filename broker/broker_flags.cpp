#include "broker_flags.h"

#include <algorithm>
#include <stdexcept>

#include "cli_flags.h"
#include "curve_keys.h"

namespace bnr::broker {
namespace {

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
                       (without it, a scene rendered before, unchanged, starts from where
                       its last render was costly)
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

}  // namespace

const char* broker_usage() { return kUsage; }

FlagAction parse_broker_flags(int argc, const char* const* argv, BrokerFlags& c) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] { return tools::flag_value(argc, argv, i); };
    if (a == "-h" || a == "--help") {
      return FlagAction::kHelp;
    } else if (a == "-o" || a == "--output") {
      c.output = value();
    } else if (a == "--exr") {
      c.exr = value();
    } else if (a == "--preview") {
      c.preview = value();
    } else if (a == "--http") {
      c.http = parse_listen_address(value());
    } else if (a == "--agent") {
      std::string agent = value();
      std::string key;
      // HOST:PORT@KEY: the first '@' ends the address (Z85 keys may contain '@' and ':').
      if (const std::size_t at = agent.find('@'); at != std::string::npos) {
        key = agent.substr(at + 1);
        agent.resize(at);
        if (!protocol::is_curve_key(key))
          throw std::runtime_error("--agent " + agent + "@KEY: '" + key +
                                   "' is not an agent's public key (40 Z85 characters, as bnr-agent --show-key prints)");
      }
      if (agent.find(':') == std::string::npos) agent += ":7300";
      if (std::find(c.agents.begin(), c.agents.end(), agent) == c.agents.end()) c.agents.push_back(agent);
      if (!key.empty()) c.agent_keys[agent] = key;
    } else if (a == "--show-key") {
      return FlagAction::kShowKey;
    } else if (a == "--join-token") {
      return FlagAction::kJoinToken;
    } else if (a == "--trust-new-agents") {
      c.trust_new_agents = true;
    } else if (a == "--no-local") {
      c.local = false;
    } else if (a == "--local-threads") {
      c.local_threads = tools::parse_int_flag(a, value(), 0, 1024);
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
      c.mdns_window_ms = tools::parse_int_flag(a, value(), 0, 600000);
    } else if (a == "--no-mdns") {
      c.mdns = false;
    } else if (a == "--no-denoise") {
      c.no_denoise = true;
    } else if (a == "--bands") {
      c.bands = tools::parse_int_flag(a, value(), 1, 4096);
    } else if (a == "--region-width") {
      c.region_width = tools::parse_int_flag(a, value(), 1, 65536);
    } else if (a == "--frame") {
      c.frame = tools::parse_int_flag(a, value(), -1048574, 1048574);
    } else if (a == "--benchmark") {
      c.benchmark = true;
    } else if (a == "--speed-test") {
      c.speed_test = value();
    } else if (a == "--agent-timeout") {
      c.agent_timeout_s = tools::parse_int_flag(a, value(), 1, 86400);
    } else if (a == "--open-timeout") {
      c.open_timeout_s = tools::parse_int_flag(a, value(), 1, 7 * 86400);
    } else if (a == "--region-timeout") {
      c.region_timeout_s = tools::parse_int_flag(a, value(), 1, 7 * 86400);
    } else if (a == "-q" || a == "--quiet") {
      c.quiet = true;
    } else if (a.size() > 1 && a[0] == '-') {
      throw std::runtime_error("unknown option '" + a + "' (see --help)");
    } else {
      c.scenes.push_back(a);
    }
  }
  if (c.list || c.check || (c.forget_speeds && c.scenes.empty() && !c.benchmark)) return FlagAction::kRun;
  if (c.scenes.empty() && !c.benchmark) throw std::runtime_error("no scene given (usage: bnr-broker SCENE.blend..., see --help)");
  if (c.scenes.size() > 1 && (!c.output.empty() || !c.exr.empty()))
    throw std::runtime_error("-o and --exr name one output; give one scene with them");
  if (!c.local && c.agents.empty() && !c.mdns)
    throw std::runtime_error("no agents: --no-local without --agent leaves nothing to render on");
  return FlagAction::kRun;
}

}  // namespace bnr::broker
