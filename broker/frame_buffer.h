// The frame being assembled: one display-referred 16-bit image per view, with --exr one
// scene-linear float image per view, and with passes every pass channel of every view layer
// per view (the first region's layout sets which; later ones must match it). Results are merged as they arrive; nothing is quantised
// to 8 bit until the file is written, so the only rounding happens once, at the end.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "exr_layers.h"
#include "image.h"
#include "messages.h"

namespace bnr::broker {

// `core` grown by `margin` pixels on every side, clipped to the frame: what an agent renders so
// that the pixels of `core` see the same neighbourhood as in a full-frame render.
[[nodiscard]] protocol::Rect with_margin(const protocol::Rect& core, int margin, int width, int height);

class FrameBuffer {
 public:
  FrameBuffer(int width, int height, std::uint32_t views, bool with_linear, bool with_passes = false);

  // Copies the `core` pixels out of a RegionDone payload that covers `rendered` (see
  // protocol::RegionDone for the layout). Returns false, changing nothing, when core is not
  // inside rendered, the view count differs, the passes are missing or unlike earlier
  // regions', or the payload length does not match.
  bool merge(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
             bool has_linear, std::string_view payload, const protocol::PassLayout& passes = {});
  // Whether merge() would accept a payload of `payload_bytes` for these arguments.
  [[nodiscard]] bool fits(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
                          bool has_linear, std::size_t payload_bytes, const protocol::PassLayout& passes = {}) const;

  [[nodiscard]] const std::vector<tools::Image16>& display() const { return display_; }
  [[nodiscard]] const std::vector<tools::ImageF>& linear() const { return linear_; }
  // Per view, every pass channel and the first region's text metadata; empty until a region
  // with passes was merged.
  [[nodiscard]] const std::vector<tools::ExrLayers>& passes() const { return passes_; }
  // Replaces a text attribute of every view's passes, e.g. the whole frame's render time. One
  // the regions did not carry stays absent: the scene's stamp settings decide what Blender writes.
  void set_pass_text(const std::string& name, const std::string& value);
  [[nodiscard]] int width() const { return width_; }
  [[nodiscard]] int height() const { return height_; }

 private:
  [[nodiscard]] bool same_channels(const protocol::PassLayout& passes) const;
  void start_passes(const protocol::PassLayout& passes);

  int width_;
  int height_;
  std::vector<tools::Image16> display_;
  std::vector<tools::ImageF> linear_;
  bool with_passes_ = false;
  std::vector<tools::ExrLayers> passes_;
};

}  // namespace bnr::broker
