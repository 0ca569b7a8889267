// What the benchmarks' command lines share: usage errors (exit 2, with the usage text),
// integer flags, how long their agents settle, the broker key their agents authorize, and a main that turns every failure
// into one line and an exit code.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "child_process.h"
#include "cli_flags.h"

namespace bnr::bench {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// parse_int_flag, failing as a usage error.
inline int int_flag(const std::string& flag, const std::string& value, int lo, int hi) {
  try {
    return tools::parse_int_flag(flag, value, lo, hi);
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what());
  }
}

inline int positive_int(const std::string& flag, const std::string& value) { return int_flag(flag, value, 1, 1 << 20); }

// bnr-agent runs as a service, so benchmarks time a render from starting bnr-broker on agents
// started this long before: they listen before their spare Blender has quite started, and a
// service started long before a render would have had the moment.
inline constexpr std::chrono::seconds kAgentSettle{2};

// The public key of the bnr-broker at `broker_exe` (made on first use, in its config
// directory): benchmark agents serve that broker and no other.
inline std::string broker_public_key(const std::string& broker_exe) {
  const tools::RunResult r = tools::run_command({broker_exe, "--show-key"}, std::chrono::seconds(30));
  const std::string key = r.output.substr(0, r.output.find('\n'));
  if (r.exit_code != 0 || key.size() != 40) throw std::runtime_error("bnr-broker --show-key failed: " + r.output);
  return key;
}

// parse(argc, argv) -> Config (with a `help` member), then run(config) -> exit status.
// `on_signal`, when given, handles SIGINT and SIGTERM while it runs.
template <typename Parse, typename Run>
int bench_main(const char* name, const char* usage, int argc, char** argv, Parse parse, Run run,
               void (*on_signal)(int) = nullptr) {
  try {
    const auto config = parse(argc, argv);
    if (config.help) {
      std::printf("%s", usage);
      return 0;
    }
    if (on_signal != nullptr) {
      std::signal(SIGINT, on_signal);
      std::signal(SIGTERM, on_signal);
    }
    return run(config);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n%s", name, e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace bnr::bench
