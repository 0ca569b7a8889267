// PNG files through libpng.
#pragma once

#include <filesystem>

#include "image.h"

namespace bnr::tools {

// Reads any PNG (8 or 16 bit; gray, gray+alpha, RGB, RGBA, palette) as 16-bit RGBA. A missing
// alpha channel reads as opaque (65535). Throws std::runtime_error naming the file on any error.
[[nodiscard]] Image16 read_png(const std::filesystem::path& path);

// Writes an RGBA PNG at bit_depth 8 (each channel quantised once with to_8bit) or 16.
// Atomic: writes "<path>.tmp-<pid>" beside it and renames, so a failure or crash never leaves
// a half-written file at `path`. Throws std::runtime_error naming the file on any error.
void write_png(const std::filesystem::path& path, const Image16& image, int bit_depth);

}  // namespace bnr::tools
