// What the merged multilayer EXR says about itself where Blender's own file would say it.
#pragma once

#include <string>

namespace bnr::broker {

// Blender's stamp text for a render time ("RenderTime" in its EXR metadata): MM:SS.cc, or
// HH:MM:SS.cc from an hour on (BLI_timecode_string_from_time_simple).
[[nodiscard]] std::string blender_render_time(double seconds);

}  // namespace bnr::broker
