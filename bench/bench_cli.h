// What the benchmarks' command lines share: usage errors (exit 2, with the usage text),
// integer flags, and a main that turns every failure into one line and an exit code.
#pragma once

#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

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
