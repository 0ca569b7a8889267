// In-memory RGBA images shared by the agent (reading Blender's tiles), the broker (writing the
// merged frame) and the tests (comparing against Blender's own output).
#pragma once

#include <cstdint>
#include <vector>

namespace bnr::tools {

// Display-referred pixels: 4 channels (R, G, B, A) per pixel, rows top to bottom, each channel
// 0..65535. 8-bit sources are widened by v * 257 so 8 -> 16 -> 8 is lossless.
struct Image16 {
  int width = 0;
  int height = 0;
  std::vector<std::uint16_t> rgba;  // width * height * 4

  Image16() = default;
  Image16(int w, int h) : width(w), height(h), rgba(static_cast<std::size_t>(w) * h * 4, 0) {}
  [[nodiscard]] std::uint16_t* pixel(int x, int y) { return &rgba[(static_cast<std::size_t>(y) * width + x) * 4]; }
  [[nodiscard]] const std::uint16_t* pixel(int x, int y) const {
    return &rgba[(static_cast<std::size_t>(y) * width + x) * 4];
  }
};

// Scene-linear pixels: 4 float channels per pixel, rows top to bottom.
struct ImageF {
  int width = 0;
  int height = 0;
  std::vector<float> rgba;  // width * height * 4

  ImageF() = default;
  ImageF(int w, int h) : width(w), height(h), rgba(static_cast<std::size_t>(w) * h * 4, 0.0F) {}
  [[nodiscard]] float* pixel(int x, int y) { return &rgba[(static_cast<std::size_t>(y) * width + x) * 4]; }
  [[nodiscard]] const float* pixel(int x, int y) const {
    return &rgba[(static_cast<std::size_t>(y) * width + x) * 4];
  }
};

// 16-bit channel to 8-bit with rounding: the single quantisation step of the whole pipeline.
[[nodiscard]] constexpr std::uint8_t to_8bit(std::uint16_t v) {
  return static_cast<std::uint8_t>((static_cast<std::uint32_t>(v) * 255U + 32767U) / 65535U);
}

}  // namespace bnr::tools
