#include "cli_flags.h"

#include <stdexcept>

namespace bnr::tools {

int parse_int_flag(const std::string& flag, const std::string& value, int lo, int hi) {
  std::size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < lo || v > hi)
    throw std::runtime_error(flag + " needs a number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                             ", got '" + value + "'");
  return v;
}

std::string flag_value(int argc, const char* const* argv, int& i) {
  if (i + 1 >= argc) throw std::runtime_error(std::string(argv[i]) + " needs a value");
  return argv[++i];
}

}  // namespace bnr::tools
