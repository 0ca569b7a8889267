// Whether a scene can be rendered in regions and still equal Blender's full-frame render.
#pragma once

#include <string>
#include <string_view>

#include "messages.h"

namespace bnr::broker {

// What this machine's Blender said of denoising when it listed the scene (scene_files.py).
struct DenoiseFacts {
  bool scene_denoises = false;  // Cycles with denoising on, as saved
  bool blender_can = false;     // this Blender denoised a test render
  std::string blender_says;     // its words, e.g. "Build without OpenImageDenoiser (...)"
};

// Empty when denoising does not stop the job: the scene does not denoise, --no-denoise
// turns it off, or this machine's Blender (`blender_version`), which denoises the merged
// frame, can. Else one line that quotes Blender and suggests --no-denoise.
[[nodiscard]] std::string denoise_problem(const DenoiseFacts& facts, bool no_denoise, std::string_view blender_version);

// Empty when the scene splits faithfully, else a one-line reason with what to do about it.
// Adaptive sampling and bounded compositor filters are fine: they only need the overlap
// margin the agent reports. Denoising and whole-frame compositor nodes are not.
[[nodiscard]] std::string split_problem(const protocol::SceneInfo& scene);

// Why a scene whose compositor needs the whole frame (post_process) cannot be rendered here
// (empty when it can): the broker composites the merged frame with its own Blender
// (`have_blender`), for one view.
[[nodiscard]] std::string post_process_problem(const protocol::SceneInfo& scene, bool have_blender);

}  // namespace bnr::broker
