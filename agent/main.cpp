// bnr-agent: flags -> AgentConfig -> AgentServer::run. Every failure ends as one line on stderr.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "cli_flags.h"
#include "curve_auth.h"
#include "farm_files.h"

#include "agent_server.h"
#include "device_probe.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr const char* kUsage = R"(usage: bnr-agent [options]

Serves Blender renders to bnr-broker: keeps one Blender process per job with the scene
loaded and renders the frame regions the broker asks for.

options:
  --port N         TCP port to listen on (default 7300; 0 picks a free one and prints it)
  --bind ADDR      address to listen on (default: all interfaces; e.g. 127.0.0.1)
  --threads N      Blender render threads (default: all cores)
  --name NAME      name shown to brokers (default: the host name)
  --blender PATH   Blender executable (default: blender from PATH)
  --device DEV     Cycles device: CPU (default), CUDA, OPTIX, HIP, ONEAPI or METAL (every
                   such GPU Blender finds); checked with a short Blender run at start. Brokers
                   see the device Blender reports and do not mix CPU and GPU agents in one
                   frame unless told to (bnr-broker --allow-mixed-devices)
  --cache-dir DIR  where received scene files are kept between jobs, by content hash
                   (default: $BNR_CACHE_DIR, else ~/.cache/bnr/agent)
  --cache-size GB  keep at most this much there, least recently used first out
                   (default 20; a scene larger than this is refused)
  --keep-warm S    keep a finished job's Blender (scene loaded) for S seconds (default
                   300; 0: stop it with the job): a next job of the same scene, frame and
                   settings starts at once, and a restarted broker resuming the same job
                   takes it over without waiting. A job of another scene opens its scene
                   in that Blender, and while none runs the agent keeps one started
                   without a scene (about 200 MB), so that no job waits about a second
                   for Blender to start; 0 also stops those
  --stall-timeout S
                   kill a Blender that gains no CPU time and prints nothing for S seconds
                   while loading or rendering (default 120; 0: never): a hung load fails
                   the job, a hung render fails its region and Blender restarts
  --no-mdns        do not advertise on the LAN
  --join TOKEN     join a broker's farm (bnr-broker --join-token prints TOKEN), then serve:
                   authorizes that broker and proves to it, in this agent's mDNS advert,
                   that this agent joined, so the broker renders on it. Needed once per
                   machine (kept in joined_farms); joining again is harmless. An agent
                   already running with the same config directory takes up the farm
                   by itself
  --authorize KEY  serve the broker with this public key (repeatable; bnr-broker --show-key
                   prints it) without joining: such a broker uses this agent only when it
                   is given as --agent HOST:PORT@KEY (or is in its known_agents);
                   brokers listed in authorized_brokers are served too
  --trust-any      serve any broker that can reach this port (still encrypted)
  --show-key       print this agent's public key (brokers need it) and exit
  -q, --quiet      log only errors
  -h, --help       show this help

Connections are encrypted and authenticated (ZeroMQ CURVE). This agent's key pair is
agent.key in the config directory ($BNR_CONFIG_DIR, else ~/.config/bnr), made on the first
start; authorized_brokers there lists the brokers it serves, one public key per line with an
optional note ('#' starts a comment), and is re-read when it changes; joined_farms there
holds the farm secrets of --join (private, mode 0600). With --port 0 the agent
prints "port N" and "key KEY" on stdout once it listens.
)";

struct Flags {
  bnr::agent::AgentConfig agent;
  std::optional<bnr::protocol::JoinToken> join;  // --join
};

// --join: records the farm and authorizes its broker before the agent starts, so the first
// advert already carries the proof.
bool g_joined = false;  // the farm is joined even if this agent then cannot start

void join(const bnr::protocol::JoinToken& token, bool quiet) {
  const std::filesystem::path dir = bnr::protocol::config_dir();
  const bnr::protocol::JoinResult r = bnr::protocol::join_farm(dir, token);
  g_joined = true;
  if (quiet) return;
  std::cerr << "bnr-agent: " << (r.already_joined ? "already joined" : "joined") << " the farm of broker "
            << bnr::protocol::short_key(token.broker_key) << " (" << (dir / "joined_farms").string() << ")"
            << (r.newly_authorized ? "; it is authorized in " + (dir / "authorized_brokers").string() : std::string())
            << std::endl;
}

Flags parse(int argc, char** argv) {
  Flags flags;
  bnr::agent::AgentConfig& c = flags.agent;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] { return bnr::tools::flag_value(argc, argv, i); };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--port") {
      c.port = bnr::tools::parse_int_flag(a, value(), 0, 65535);
    } else if (a == "--bind") {
      c.bind = value();
    } else if (a == "--threads") {
      c.threads = bnr::tools::parse_int_flag(a, value(), 0, 1024);
    } else if (a == "--name") {
      c.name = value();
    } else if (a == "--blender") {
      c.blender = value();
    } else if (a == "--device") {
      c.device = bnr::agent::parse_device(value());
    } else if (a == "--cache-dir") {
      c.cache_dir = value();
    } else if (a == "--cache-size") {
      c.cache_limit = static_cast<std::uint64_t>(bnr::tools::parse_int_flag(a, value(), 1, 1 << 20)) << 30;
    } else if (a == "--keep-warm") {
      c.keep_warm = std::chrono::seconds(bnr::tools::parse_int_flag(a, value(), 0, 7 * 86400));
    } else if (a == "--stall-timeout") {
      c.stall_timeout = std::chrono::seconds(bnr::tools::parse_int_flag(a, value(), 0, 7 * 86400));
    } else if (a == "--no-mdns") {
      c.mdns = false;
    } else if (a == "--authorize") {
      const std::string key = value();
      if (!bnr::protocol::is_curve_key(key))
        throw std::runtime_error("--authorize: '" + key +
                                 "' is not a broker's public key (40 Z85 characters, as bnr-broker --show-key prints)");
      c.authorized_brokers.push_back(key);
    } else if (a == "--join") {
      std::string why;
      const std::optional<bnr::protocol::JoinToken> token = bnr::protocol::decode_join_token(value(), &why);
      if (!token) throw std::runtime_error("--join: " + why);
      flags.join = *token;
    } else if (a == "--trust-any") {
      c.trust_any = true;
    } else if (a == "--show-key") {
      const bnr::protocol::CurveKeyPair keys =
          bnr::protocol::load_or_create_key_pair(bnr::protocol::config_dir() / "agent.key", "bnr-agent");
      std::cout << keys.public_key << std::endl;
      std::exit(0);
    } else if (a == "-q" || a == "--quiet") {
      c.quiet = true;
    } else {
      throw std::runtime_error("unknown option '" + a + "' (see --help)");
    }
  }
  return flags;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Flags flags = parse(argc, argv);
    const bnr::agent::AgentConfig& config = flags.agent;
    if (flags.join) join(*flags.join, config.quiet);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    bnr::agent::AgentServer server(config);
    // For a parent process (the broker's local agent, tests): where to connect, and the key.
    if (config.port == 0) std::cout << "port " << server.port() << "\nkey " << server.public_key() << std::endl;
    server.run(g_stop);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bnr-agent: " << e.what()
              << (g_joined ? "; the farm is joined all the same (an agent already running with this config "
                             "directory advertises it by itself)"
                           : "")
              << std::endl;
    return 1;
  }
}
