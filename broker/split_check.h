// Whether a scene can be rendered in regions and still equal Blender's full-frame render.
#pragma once

#include <string>

#include "messages.h"

namespace bnr::broker {

// Empty when the scene splits faithfully, else a one-line reason with what to do about it.
// Adaptive sampling and bounded compositor filters are fine: they only need the overlap
// margin the agent reports. Denoising and whole-frame compositor nodes are not.
[[nodiscard]] std::string split_problem(const protocol::SceneInfo& scene);

// Why a scene whose compositor needs the whole frame (post_process) cannot be rendered here
// (empty when it can): the broker composites the merged frame with its own Blender
// (`have_blender`), for one view.
[[nodiscard]] std::string post_process_problem(const protocol::SceneInfo& scene, bool have_blender);

}  // namespace bnr::broker
