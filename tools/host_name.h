// This machine's name, as agents put it in their ids and brokers recognise their own host.
#pragma once

#include <string>

namespace bnr::tools {

// gethostname(), or "unknown-host" when it fails.
[[nodiscard]] std::string host_name();

}  // namespace bnr::tools
