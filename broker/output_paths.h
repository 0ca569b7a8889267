// Where each scene's output goes, and whether two outputs (or an output and an input) would
// land on the same file. Pure: paths are compared as spelled, made absolute against `cwd`.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace bnr::broker {

// The scene's name with .png, in the current directory: "shots/a.blend" -> "a.png".
[[nodiscard]] std::filesystem::path default_png(const std::filesystem::path& scene);

struct PlannedOutput {
  std::filesystem::path scene;
  std::filesystem::path png;
  std::filesystem::path exr;  // empty: none
};

// Empty when every output file is distinct and none is an input scene; else one line naming
// the clash and what to do.
[[nodiscard]] std::string output_clash(const std::vector<PlannedOutput>& outputs, const std::filesystem::path& cwd);

}  // namespace bnr::broker
