#include "ready_check.h"

#include <algorithm>
#include <set>

namespace bnr::broker {
namespace {

std::string describe(const FrameFacts& f) {
  std::string out = std::to_string(f.width) + "x" + std::to_string(f.height);
  if (!f.views.empty()) {
    out += ", views";
    for (std::size_t v = 0; v < f.views.size(); ++v)
      out += " " + f.views[v] + (v < f.view_suffixes.size() ? "(" + f.view_suffixes[v] + ")" : "");
  }
  return out;
}

}  // namespace

FrameFacts frame_facts(const protocol::SceneInfo& scene) {
  return {scene.width, scene.height, scene.views, scene.view_suffixes};
}

bool safe_view_suffix(const std::string& suffix) {
  if (suffix.size() > 64 || suffix.find("..") != std::string::npos) return false;
  return std::all_of(suffix.begin(), suffix.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

std::uint64_t frame_bytes(const protocol::SceneInfo& scene, bool with_exr) {
  const std::uint64_t pixels = static_cast<std::uint64_t>(std::max(scene.width, 0)) *
                               static_cast<std::uint64_t>(std::max(scene.height, 0)) * scene.view_count();
  return pixels * 4 * (sizeof(std::uint16_t) + (with_exr ? sizeof(float) : 0));
}

std::string ready_problem(const protocol::SceneInfo& ready, const std::optional<FrameFacts>& expected,
                          bool with_exr, std::uint64_t max_frame_bytes) {
  for (const std::string& suffix : ready.view_suffixes)
    if (!safe_view_suffix(suffix))
      return "it reports a view file suffix that is not a plain name (" + suffix.substr(0, 40) + ")";
  if (ready.stereo == "INDIVIDUAL" &&
      std::set<std::string>(ready.view_suffixes.begin(), ready.view_suffixes.end()).size() != ready.views.size())
    return "two views have the same file suffix: their files would overwrite each other";
  if (expected && frame_facts(ready) != *expected)
    return "its Blender sees another frame (" + describe(frame_facts(ready)) + ") than this broker (" +
           describe(*expected) + ")";
  if (const std::uint64_t bytes = frame_bytes(ready, with_exr); bytes > max_frame_bytes)
    return "the frame it reports (" + describe(frame_facts(ready)) + ") needs " + std::to_string(bytes >> 20) +
           " MiB to merge, more than this machine's " + std::to_string(max_frame_bytes >> 20) + " MiB";
  return {};
}

}  // namespace bnr::broker
