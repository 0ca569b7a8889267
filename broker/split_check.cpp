#include "split_check.h"

#include "view_layout.h"

namespace bnr::broker {

std::string split_problem(const protocol::SceneInfo& scene) {
  if (!scene.unsplittable.empty()) {
    std::string nodes;
    for (const std::string& n : scene.unsplittable) nodes += (nodes.empty() ? "" : ", ") + n;
    return "the scene uses " + nodes +
           ", which bnr cannot render in regions; disable compositing (Output Properties > "
           "Post Processing) or remove it";
  }
  if (scene.denoise)
    return "the scene uses denoising, which would run per region and show seams; pass --no-denoise "
           "or turn off Render Properties > Sampling > Denoise";
  return unsupported_layout(scene);
}

std::string post_process_problem(const protocol::SceneInfo& scene, bool have_blender) {
  std::string what;
  for (const std::string& n : scene.post_process) what += (what.empty() ? "" : ", ") + n;
  const std::string needs = "the compositor needs the whole frame (" + what + "): bnr composites it once";
  if (!have_blender)
    return needs + " on this machine, which needs Blender here (install it, e.g. apt-get install blender, or "
                   "disable compositing in Output Properties > Post Processing)";
  if (scene.views.size() > 1)
    return needs + ", which bnr cannot do for several views yet; render one view, or disable compositing";
  return {};
}

std::string denoise_problem(const DenoiseFacts& facts, bool no_denoise, std::string_view blender_version) {
  if (!facts.scene_denoises || no_denoise || facts.blender_can) return "";
  return "the scene uses denoising, which runs once on the merged frame in this machine's Blender " +
         std::string(blender_version) + ", and that Blender cannot denoise: \"" + facts.blender_says +
         "\"; pass --no-denoise to render without it, or install a Blender built with OpenImageDenoise "
         "(Blender's official builds are)";
}

}  // namespace bnr::broker
