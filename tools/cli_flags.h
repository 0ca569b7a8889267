// Command-line values shared by bnr-agent and bnr-broker.
#pragma once

#include <string>

namespace bnr::tools {

// The whole of `value` as a number in [lo, hi]; throws std::runtime_error naming `flag`
// ("--port needs a number from 0 to 65535, got 'x'") otherwise.
[[nodiscard]] int parse_int_flag(const std::string& flag, const std::string& value, int lo, int hi);

// The value that follows the flag argv[i], moving i onto it; throws std::runtime_error
// ("--port needs a value") when the flag is the last argument.
[[nodiscard]] std::string flag_value(int argc, const char* const* argv, int& i);

}  // namespace bnr::tools
