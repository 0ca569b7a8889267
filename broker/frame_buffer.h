// The frame being assembled: one display-referred 16-bit image per view, and with --exr one
// scene-linear float image per view. Results are merged as they arrive; nothing is quantised
// to 8 bit until the file is written, so the only rounding happens once, at the end.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "image.h"
#include "messages.h"

namespace bnr::broker {

// `core` grown by `margin` pixels on every side, clipped to the frame: what an agent renders so
// that the pixels of `core` see the same neighbourhood as in a full-frame render.
[[nodiscard]] protocol::Rect with_margin(const protocol::Rect& core, int margin, int width, int height);

class FrameBuffer {
 public:
  FrameBuffer(int width, int height, std::uint32_t views, bool with_linear);

  // Copies the `core` pixels out of a RegionDone payload that covers `rendered` (see
  // protocol::RegionDone for the layout). Returns false, changing nothing, when core is not
  // inside rendered, the view count differs, or the payload length does not match.
  bool merge(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
             bool has_linear, std::string_view payload);
  // Whether merge() would accept a payload of `payload_bytes` for these arguments.
  [[nodiscard]] bool fits(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
                          bool has_linear, std::size_t payload_bytes) const;

  [[nodiscard]] const std::vector<tools::Image16>& display() const { return display_; }
  [[nodiscard]] const std::vector<tools::ImageF>& linear() const { return linear_; }
  [[nodiscard]] int width() const { return width_; }
  [[nodiscard]] int height() const { return height_; }

 private:
  int width_;
  int height_;
  std::vector<tools::Image16> display_;
  std::vector<tools::ImageF> linear_;
};

}  // namespace bnr::broker
