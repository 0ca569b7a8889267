// Whole-frame compositing: once every region is merged, the broker's own Blender runs the
// scene's compositor on the merged passes (composite.py) and writes the scene's own output
// format, as Blender's own render would have.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "exr_layers.h"

namespace bnr::broker {

struct CompositeRequest {
  std::string blender = "blender";   // executable
  std::filesystem::path scene;       // the .blend, where its "//" paths (File Output) resolve
  std::optional<int> frame;          // unset: the frame the scene was saved at
  std::filesystem::path output;      // the image; its extension becomes the format's
  std::filesystem::path exr;         // also the composited image as float RGBA; empty: none
  std::chrono::seconds timeout{3600};
  // A multilayer EXR output at half depth: colour passes are stored as half, as Blender does.
  bool half_passes = false;
  std::string render_time;           // Blender's "RenderTime" stamp for the whole job; empty: Blender's
};

// Which of `channels` ("Layer.Pass.X") Blender's multilayer writer at half depth stores as
// half: those of colour passes (every channel of the pass one of R, G, B, A), not data passes
// (Z, XYZ, UVA, XYZW) nor Cryptomatte's (r, g, b, a). One flag per channel.
[[nodiscard]] std::vector<bool> blender_stores_half(const std::vector<std::string>& channels);

// The path an output named `requested` gets when Blender writes it with extension `ext`
// (".png", ".jpg", ".exr"...): the requested name with its extension replaced.
[[nodiscard]] std::filesystem::path with_format_extension(const std::filesystem::path& requested,
                                                          const std::string& ext);

// Composites the merged frame (every pass of every view layer, float) and puts the files in
// place; returns them. `release` is called once the merged passes are on disk, before
// Blender runs: the caller can free them there, so the machine does not hold the frame
// twice. Throws std::runtime_error with one line quoting Blender when it cannot; nothing is
// left at the output paths then.
[[nodiscard]] std::vector<std::filesystem::path> composite_frame(const tools::ExrLayers& merged,
                                                                 const CompositeRequest& request,
                                                                 const std::function<void()>& release = {});

}  // namespace bnr::broker
