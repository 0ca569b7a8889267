// How the views of a multi-view (stereo) frame go into output files, as Blender's own output
// would have them: one file per view, or both views packed into one image.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "image.h"
#include "messages.h"

namespace bnr::broker {

// Empty when bnr can write this layout, else why not (one line).
[[nodiscard]] std::string unsupported_layout(const protocol::SceneInfo& scene);

template <typename Image>
struct OutputImage {
  std::string suffix;  // inserted before the file extension; empty for a single file
  Image image;
};

// The images to write for `views` (one per view in render order), following the scene's
// stereo mode. Precondition: unsupported_layout(scene) is empty.
template <typename Image>
[[nodiscard]] std::vector<OutputImage<Image>> layout_views(const std::vector<Image>& views,
                                                           const protocol::SceneInfo& scene);

// "out.png" + "_L" -> "out_L.png"
[[nodiscard]] std::filesystem::path with_suffix(const std::filesystem::path& path, const std::string& suffix);

}  // namespace bnr::broker
