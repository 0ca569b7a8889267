// bnr-agent: flags -> AgentConfig -> AgentServer::run. Every failure ends as one line on stderr.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cli_flags.h"

#include "agent_server.h"

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
  --cache-dir DIR  where received scene files are kept between jobs, by content hash
                   (default: $BNR_CACHE_DIR, else ~/.cache/bnr/agent)
  --cache-size GB  keep at most this much there, least recently used first out
                   (default 20; a scene larger than this is refused)
  --no-mdns        do not advertise on the LAN
  -q, --quiet      log only errors
  -h, --help       show this help
)";

bnr::agent::AgentConfig parse(int argc, char** argv) {
  bnr::agent::AgentConfig c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
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
    } else if (a == "--cache-dir") {
      c.cache_dir = value();
    } else if (a == "--cache-size") {
      c.cache_limit = static_cast<std::uint64_t>(bnr::tools::parse_int_flag(a, value(), 1, 1 << 20)) << 30;
    } else if (a == "--no-mdns") {
      c.mdns = false;
    } else if (a == "-q" || a == "--quiet") {
      c.quiet = true;
    } else {
      throw std::runtime_error("unknown option '" + a + "' (see --help)");
    }
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bnr::agent::AgentConfig config = parse(argc, argv);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    bnr::agent::AgentServer server(config);
    if (config.port == 0) std::cout << "port " << server.port() << std::endl;  // for a parent process
    server.run(g_stop);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bnr-agent: " << e.what() << std::endl;
    return 1;
  }
}
