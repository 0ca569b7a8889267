// Each agent connection costs a few file descriptors (socket, monitor, libzmq's own pipes):
// the default soft limit of 1024 runs out long before a farm of a few hundred agents does.
#pragma once

#include <sys/resource.h>

namespace bnr::tools {

// Raises this process's soft limit on open files to its hard limit; a no-op when it cannot.
inline void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace bnr::tools
