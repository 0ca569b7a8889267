#include "split_check.h"

#include "view_layout.h"

namespace bnr::broker {

std::string split_problem(const protocol::SceneInfo& scene) {
  if (!scene.unsplittable.empty()) {
    std::string nodes;
    for (const std::string& n : scene.unsplittable) nodes += (nodes.empty() ? "" : ", ") + n;
    return "the compositor uses " + nodes +
           ", which reads the whole frame and would show seams between regions; disable "
           "compositing (Output Properties > Post Processing) or remove the node";
  }
  if (scene.denoise)
    return "the scene uses denoising, which would run per region and show seams; pass --no-denoise "
           "or turn off Render Properties > Sampling > Denoise";
  return unsupported_layout(scene);
}

}  // namespace bnr::broker
