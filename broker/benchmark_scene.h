// The machine benchmark's scene: a small Cycles scene (glass, metal and diffuse spheres on a
// checkerboard, the demo scene) that this machine's Blender builds from the generator embedded
// in the broker, so every agent renders the same real work.
#pragma once

#include <filesystem>

namespace bnr::broker {

// Writes dir/bnr-benchmark.blend and returns its path. About one second of Blender start-up
// here; rendering it takes a few seconds per machine. Throws std::runtime_error with
// Blender's own reason when it cannot be made (e.g. no Blender on this machine).
[[nodiscard]] std::filesystem::path make_benchmark_scene(const std::filesystem::path& dir);

}  // namespace bnr::broker
