// What the PNG and EXR writers share: error text and the atomic temp-file-and-rename.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

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

}  // namespace bnr::tools
