// The .blend a job renders, read and checked before any agent is involved.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace bnr::broker {

// Empty when `head` (the file's first bytes) starts like a .blend (plain, gzip or zstd), else
// why not.
[[nodiscard]] std::string blend_header_problem(std::string_view head);

// Checks that the file exists and starts like a .blend, reading only its first bytes, so many
// large scenes can be checked before any agent is involved. Throws std::runtime_error with a
// one-line reason for a missing, empty, unreadable or non-.blend file.
void check_scene(const std::filesystem::path& path);


}  // namespace bnr::broker
