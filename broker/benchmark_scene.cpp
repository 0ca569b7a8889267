#include "benchmark_scene.h"

#include <fstream>
#include <stdexcept>

#include "blender_version.h"
#include "child_process.h"
#include "make_scene_script.h"

namespace bnr::broker {

std::filesystem::path make_benchmark_scene(const std::filesystem::path& dir) {
  const std::filesystem::path script = dir / "make_scene.py";
  const std::filesystem::path scene = dir / "bnr-benchmark.blend";
  std::ofstream(script, std::ios::binary) << make_scene_script();
  // Fixed size and samples: speeds measured on different days stay comparable.
  const tools::RunResult r = tools::run_command({"blender", "-b", "--factory-startup", "--python-exit-code", "2",
                                                 "--python", script.string(), "--", "--out", scene.string(), "--demo",
                                                 "--size", "480x270", "--samples", "24"},
                                                std::chrono::minutes(5));
  if (r.exit_code != 0 || !std::filesystem::exists(scene))
    throw std::runtime_error("cannot make the benchmark scene with this machine's Blender: " +
                             (r.exit_code == -1 ? r.output : tools::blender_reason_in(r.output)));
  return scene;
}

}  // namespace bnr::broker
