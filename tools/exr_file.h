// OpenEXR files (float RGBA, scene-linear).
#pragma once

#include <filesystem>

#include "image.h"

namespace bnr::tools {

// Reads the R, G, B, A channels of a scanline or tiled EXR as float. A missing A reads as 1.
// Throws std::runtime_error naming the file on any error.
[[nodiscard]] ImageF read_exr(const std::filesystem::path& path);

// Writes a 32-bit float RGBA EXR (ZIP compression). Atomic like write_png.
void write_exr(const std::filesystem::path& path, const ImageF& image);

}  // namespace bnr::tools
