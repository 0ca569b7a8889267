#include "host_name.h"

#include <unistd.h>

namespace bnr::tools {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown-host";
  return buf;
}

}  // namespace bnr::tools
