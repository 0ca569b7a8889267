#include "disk_space.h"

#include <cstdio>
#include <sys/statvfs.h>

namespace bnr::agent {

std::string format_mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::optional<std::string> disk_full_reason(std::uint64_t need, std::uint64_t free, const std::filesystem::path& where) {
  if (need <= free) return std::nullopt;
  return "disk full: need " + format_mib(need) + " for the scene's files, " + format_mib(free) + " free on " +
         where.string() + " after evicting unused cached files (free space there, or bnr-agent --cache-dir elsewhere)";
}

std::optional<std::uint64_t> free_disk_bytes(const std::filesystem::path& path) {
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace bnr::agent
