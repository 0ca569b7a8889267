// What the PNG and EXR writers and the broker's caches share: error text, the atomic
// temp-file-and-rename, and a bound on how many cache files a directory keeps.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace bnr::tools {

[[nodiscard]] std::string quoted(const std::filesystem::path& path);
// Library messages sometimes span lines; ours are one line.
[[nodiscard]] std::string one_line(std::string text);

// Throws "<what>invalid image WxH with N values" unless N == w * h * 4 and w, h > 0.
void check_image_shape(const std::string& what, int width, int height, std::size_t values);

// Calls write(temp) for a temp file beside `path`, then renames it over `path`, so a failure
// or crash never leaves a half-written file there. On failure the temp file is removed and
// the error rethrown as std::runtime_error("<what><reason>").
void write_atomically(const std::filesystem::path& path, const std::string& what,
                      const std::function<void(const std::filesystem::path&)>& write);

// Deletes the oldest (by modification time) of the files in `dir` whose names start with
// `prefix` until at most `keep` are left. Best effort: what cannot be deleted stays.
void keep_newest_files(const std::filesystem::path& dir, std::string_view prefix, std::size_t keep);

}  // namespace bnr::tools
