// Splitting the line- and tab-separated text that bnr's Blender scripts and caches write.
#pragma once

#include <string_view>
#include <vector>

namespace bnr::tools {

// The pieces of `text` between `sep` characters; n separators give n + 1 pieces (empty ones
// included). The views point into `text`.
[[nodiscard]] inline std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  for (std::size_t start = 0;;) {
    const std::size_t end = text.find(sep, start);
    out.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace bnr::tools
