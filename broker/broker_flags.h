// bnr-broker's command line: the flags, their checks and --help. Pure: parsing prints
// nothing and exits nothing; what a flag asks to be printed instead of a run comes back as
// the action.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "status_page.h"

namespace bnr::broker {

struct BrokerFlags {
  std::vector<std::string> scenes;
  std::string output;
  std::string exr;
  std::string preview;
  std::optional<ListenAddress> http;
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

enum class FlagAction {
  kRun,        // render, or --list / --check / --forget-speeds
  kHelp,       // -h, --help: print broker_usage()
  kShowKey,    // --show-key: print this broker's public key
  kJoinToken,  // --join-token: print a token for bnr-agent --join
};

// Into `flags`, so that flags read before a bad one (--json) still apply to the error, which
// is thrown as a one-line std::runtime_error. The first of -h, --show-key, --join-token wins
// over everything after it.
FlagAction parse_broker_flags(int argc, const char* const* argv, BrokerFlags& flags);

[[nodiscard]] const char* broker_usage();

}  // namespace bnr::broker
