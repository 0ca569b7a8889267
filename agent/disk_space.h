// Whether a job's missing scene files fit on the disk that holds the agent's cache. The
// decision is pure; free_disk_bytes() is the one statvfs call.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace bnr::agent {

// "12.3 MiB"
[[nodiscard]] std::string format_mib(std::uint64_t bytes);

// The one-line reason a job cannot fetch `need` bytes when `free` bytes are free on the disk
// holding `where`; nullopt when they fit.
[[nodiscard]] std::optional<std::string> disk_full_reason(std::uint64_t need, std::uint64_t free,
                                                          const std::filesystem::path& where);

// Bytes an unprivileged process may still write on the filesystem holding `path`; nullopt
// when statvfs fails.
[[nodiscard]] std::optional<std::uint64_t> free_disk_bytes(const std::filesystem::path& path);

}  // namespace bnr::agent
