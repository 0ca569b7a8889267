#include "frame_buffer.h"

#include <algorithm>
#include <cstring>

namespace bnr::broker {
namespace {

// Copies core's rows out of a tightly packed w*h*4 block of T that covers `rendered`.
template <typename T, typename Image>
void copy_rows(Image& image, const protocol::Rect& core, const protocol::Rect& rendered, const char* block) {
  const std::size_t row_values = static_cast<std::size_t>(core.width()) * 4;
  for (int y = core.y0; y < core.y1; ++y) {
    const std::size_t src_index =
        (static_cast<std::size_t>(y - rendered.y0) * rendered.width() + (core.x0 - rendered.x0)) * 4;
    std::memcpy(image.pixel(core.x0, y), block + src_index * sizeof(T), row_values * sizeof(T));
  }
}

}  // namespace

protocol::Rect with_margin(const protocol::Rect& core, int margin, int width, int height) {
  return {std::max(core.x0 - margin, 0), std::max(core.y0 - margin, 0), std::min(core.x1 + margin, width),
          std::min(core.y1 + margin, height)};
}

FrameBuffer::FrameBuffer(int width, int height, std::uint32_t views, bool with_linear)
    : width_(width), height_(height) {
  for (std::uint32_t v = 0; v < views; ++v) {
    display_.emplace_back(width, height);
    if (with_linear) linear_.emplace_back(width, height);
  }
}

bool FrameBuffer::fits(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
                       bool has_linear, std::size_t payload_bytes) const {
  const protocol::Rect frame{0, 0, width_, height_};
  if (core.empty() || !rendered.contains(core) || !frame.contains(rendered)) return false;
  if (views != display_.size() || (!linear_.empty() && !has_linear)) return false;
  return payload_bytes == protocol::region_payload_bytes(rendered, views, has_linear);
}

bool FrameBuffer::merge(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
                        bool has_linear, std::string_view payload) {
  if (!fits(core, rendered, views, has_linear, payload.size())) return false;

  const std::size_t display_block = static_cast<std::size_t>(rendered.area()) * 4 * sizeof(std::uint16_t);
  const std::size_t linear_block = static_cast<std::size_t>(rendered.area()) * 4 * sizeof(float);
  for (std::uint32_t v = 0; v < views; ++v) {
    copy_rows<std::uint16_t>(display_[v], core, rendered, payload.data() + v * display_block);
    if (!linear_.empty())
      copy_rows<float>(linear_[v], core, rendered, payload.data() + views * display_block + v * linear_block);
  }
  return true;
}

}  // namespace bnr::broker
