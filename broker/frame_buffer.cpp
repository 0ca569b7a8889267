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

// Copies core's rows out of one float plane that covers `rendered` into a frame-wide plane.
void copy_plane(std::vector<float>& plane, int frame_width, const protocol::Rect& core, const protocol::Rect& rendered,
                const char* block) {
  const std::size_t row_bytes = static_cast<std::size_t>(core.width()) * sizeof(float);
  for (int y = core.y0; y < core.y1; ++y) {
    const std::size_t src = static_cast<std::size_t>(y - rendered.y0) * rendered.width() + (core.x0 - rendered.x0);
    std::memcpy(&plane[static_cast<std::size_t>(y) * frame_width + core.x0], block + src * sizeof(float), row_bytes);
  }
}

}  // namespace

protocol::Rect with_margin(const protocol::Rect& core, int margin, int width, int height) {
  return {std::max(core.x0 - margin, 0), std::max(core.y0 - margin, 0), std::min(core.x1 + margin, width),
          std::min(core.y1 + margin, height)};
}

FrameBuffer::FrameBuffer(int width, int height, std::uint32_t views, bool with_linear, bool with_passes)
    : width_(width), height_(height), with_passes_(with_passes) {
  for (std::uint32_t v = 0; v < views; ++v) {
    display_.emplace_back(width, height);
    if (with_linear) linear_.emplace_back(width, height);
  }
}

bool FrameBuffer::fits(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
                       bool has_linear, std::size_t payload_bytes, const protocol::PassLayout& passes) const {
  const protocol::Rect frame{0, 0, width_, height_};
  if (core.empty() || !rendered.contains(core) || !frame.contains(rendered)) return false;
  if (views != display_.size() || (!linear_.empty() && !has_linear)) return false;
  if (with_passes_ && passes.empty()) return false;
  if (!passes_.empty() && !same_channels(passes)) return false;
  return payload_bytes == protocol::region_payload_bytes(rendered, views, has_linear, passes.channels.size());
}

bool FrameBuffer::same_channels(const protocol::PassLayout& passes) const {
  const std::vector<tools::ExrChannel>& have = passes_.front().channels;
  if (have.size() != passes.channels.size()) return false;
  for (std::size_t i = 0; i < have.size(); ++i)
    if (have[i].name != passes.channels[i].name || have[i].half != passes.channels[i].half) return false;
  return true;
}

void FrameBuffer::start_passes(const protocol::PassLayout& passes) {
  const std::size_t area = static_cast<std::size_t>(width_) * static_cast<std::size_t>(height_);
  for (std::size_t v = 0; v < display_.size(); ++v) {
    tools::ExrLayers& layers = passes_.emplace_back();
    layers.width = width_;
    layers.height = height_;
    for (const protocol::PassChannel& c : passes.channels) layers.channels.push_back({c.name, c.half, std::vector<float>(area)});
    for (const protocol::TextAttribute& t : passes.text) layers.text.emplace_back(t.name, t.value);
  }
}

void FrameBuffer::set_pass_text(const std::string& name, const std::string& value) {
  for (tools::ExrLayers& layers : passes_)
    if (std::string* text = layers.find_text(name)) *text = value;
}

bool FrameBuffer::merge(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
                        bool has_linear, std::string_view payload, const protocol::PassLayout& passes) {
  if (!fits(core, rendered, views, has_linear, payload.size(), passes)) return false;
  if (with_passes_ && passes_.empty()) start_passes(passes);

  const std::size_t display_block = static_cast<std::size_t>(rendered.area()) * 4 * sizeof(std::uint16_t);
  const std::size_t linear_block = static_cast<std::size_t>(rendered.area()) * 4 * sizeof(float);
  for (std::uint32_t v = 0; v < views; ++v) {
    copy_rows<std::uint16_t>(display_[v], core, rendered, payload.data() + v * display_block);
    if (!linear_.empty())
      copy_rows<float>(linear_[v], core, rendered, payload.data() + views * display_block + v * linear_block);
  }
  if (!with_passes_) return true;
  const std::size_t plane = static_cast<std::size_t>(rendered.area()) * sizeof(float);
  const char* block = payload.data() + views * display_block + (has_linear ? views * linear_block : 0);
  for (std::uint32_t v = 0; v < views; ++v) {
    for (tools::ExrChannel& c : passes_[v].channels) {
      copy_plane(c.pixels, width_, core, rendered, block);
      block += plane;
    }
  }
  return true;
}

}  // namespace bnr::broker
