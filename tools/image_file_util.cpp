#include "image_file_util.h"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>
#include <unistd.h>

namespace bnr::tools {

std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

void check_image_shape(const std::string& what, int width, int height, std::size_t values) {
  if (width <= 0 || height <= 0 || values != static_cast<std::size_t>(width) * height * 4)
    throw std::runtime_error(what + "invalid image " + std::to_string(width) + "x" + std::to_string(height) +
                             " with " + std::to_string(values) + " values");
}

void write_atomically(const std::filesystem::path& path, const std::string& what,
                      const std::function<void(const std::filesystem::path&)>& write) {
  auto temp = path;
  temp += ".tmp-" + std::to_string(::getpid());
  try {
    write(temp);
    std::filesystem::rename(temp, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw std::runtime_error(what + one_line(e.what()));
  }
}

void keep_newest_files(const std::filesystem::path& dir, std::string_view prefix, std::size_t keep) {
  std::vector<std::pair<std::filesystem::file_time_type, std::filesystem::path>> files;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    std::error_code gone;  // deleted meanwhile (another broker pruning too): not counted
    const auto stamp = it->last_write_time(gone);
    if (!gone) files.emplace_back(stamp, it->path());
  }
  if (files.size() <= keep) return;
  std::sort(files.begin(), files.end());
  for (std::size_t i = 0; i + keep < files.size(); ++i) std::filesystem::remove(files[i].second, ec);
}

}  // namespace bnr::tools
