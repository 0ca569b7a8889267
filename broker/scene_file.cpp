#include "scene_file.h"

#include <fstream>
#include <stdexcept>

namespace bnr::broker {

std::string blend_header_problem(std::string_view head) {
  if (head.empty()) return "the file is empty";
  if (head.substr(0, 7) == "BLENDER") {
    // "BLENDER" + pointer size ('_' or '-') + endianness ('v' or 'V') + 3-digit version.
    if (head.size() < 12) return "the file is truncated";
    return {};
  }
  if (head.substr(0, 2) == "\x1f\x8b") return {};              // gzip-compressed .blend
  if (head.substr(0, 4) == "\x28\xb5\x2f\xfd") return {};      // zstd-compressed .blend
  return "not a .blend file";
}

namespace {

std::ifstream open_scene(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::runtime_error(path.string() + ": no such file");
  if (std::filesystem::is_directory(path, ec)) throw std::runtime_error(path.string() + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot be read");
  return in;
}

}  // namespace

void check_scene(const std::filesystem::path& path) {
  std::ifstream in = open_scene(path);
  char head[16] = {};
  in.read(head, sizeof head);
  if (const std::string why = blend_header_problem(std::string_view(head, static_cast<std::size_t>(in.gcount())));
      !why.empty())
    throw std::runtime_error(path.string() + ": " + why);
}

}  // namespace bnr::broker
