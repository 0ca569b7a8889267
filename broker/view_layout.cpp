#include "view_layout.h"

#include <algorithm>
#include <stdexcept>

namespace bnr::broker {
namespace {

// Copies `from` into `to` with its top-left corner at (x, y).
template <typename Image>
void blit(Image& to, const Image& from, int x, int y) {
  for (int row = 0; row < from.height; ++row)
    std::copy_n(from.pixel(0, row), static_cast<std::size_t>(from.width) * 4, to.pixel(x, y + row));
}

}  // namespace

std::string unsupported_layout(const protocol::SceneInfo& scene) {
  const std::string& m = scene.stereo;
  if (m == "NONE" || m == "INDIVIDUAL") return {};
  if (m == "TOPBOTTOM" || m == "SIDEBYSIDE") {
    if (scene.views.size() != 2) return "stereo output needs exactly two views";
    if (scene.squeezed) return "squeezed stereo frames are not supported yet; turn off 'Squeezed Frame'";
    return {};
  }
  return "stereo output mode " + m + " is not supported yet; use Top-Bottom, Side-by-Side or Individual";
}

template <typename Image>
std::vector<OutputImage<Image>> layout_views(const std::vector<Image>& views, const protocol::SceneInfo& scene) {
  if (!unsupported_layout(scene).empty() || views.empty())
    throw std::logic_error("layout_views on an unsupported layout");
  std::vector<OutputImage<Image>> out;
  if (scene.stereo == "NONE" || views.size() == 1) {
    out.push_back({"", views.front()});
  } else if (scene.stereo == "INDIVIDUAL") {
    for (std::size_t v = 0; v < views.size(); ++v) out.push_back({scene.view_suffixes.at(v), views[v]});
  } else {
    const Image& left = views[0];
    const Image& right = views[1];
    const int w = left.width;
    const int h = left.height;
    if (scene.stereo == "TOPBOTTOM") {
      Image packed(w, h * 2);
      blit(packed, left, 0, 0);  // Blender puts the left eye on top
      blit(packed, right, 0, h);
      out.push_back({"", std::move(packed)});
    } else {
      Image packed(w * 2, h);
      const bool swap = scene.crosseyed;  // cross-eyed viewing puts the right eye on the left
      blit(packed, swap ? right : left, 0, 0);
      blit(packed, swap ? left : right, w, 0);
      out.push_back({"", std::move(packed)});
    }
  }
  return out;
}

template std::vector<OutputImage<tools::Image16>> layout_views(const std::vector<tools::Image16>&,
                                                               const protocol::SceneInfo&);
template std::vector<OutputImage<tools::ImageF>> layout_views(const std::vector<tools::ImageF>&,
                                                              const protocol::SceneInfo&);

std::filesystem::path with_suffix(const std::filesystem::path& path, const std::string& suffix) {
  if (suffix.empty()) return path;
  std::filesystem::path out = path;
  out.replace_filename(path.stem().string() + suffix + path.extension().string());
  return out;
}

}  // namespace bnr::broker
