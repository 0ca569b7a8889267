#include "preview.h"

#include <algorithm>
#include <array>

namespace bnr::broker {

tools::Image16 preview_image(const tools::Image16& full, int max_width) {
  const int factor = std::max(1, (full.width + max_width - 1) / std::max(max_width, 1));
  if (factor == 1) return full;
  tools::Image16 out((full.width + factor - 1) / factor, (full.height + factor - 1) / factor);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      std::array<double, 4> sum{};  // premultiplied RGB, alpha
      int n = 0;
      for (int sy = y * factor; sy < std::min(full.height, (y + 1) * factor); ++sy) {
        for (int sx = x * factor; sx < std::min(full.width, (x + 1) * factor); ++sx, ++n) {
          const std::uint16_t* p = full.pixel(sx, sy);
          const double a = p[3] / 65535.0;
          for (int c = 0; c < 3; ++c) sum[c] += p[c] * a;
          sum[3] += p[3];
        }
      }
      std::uint16_t* q = out.pixel(x, y);
      const double alpha = sum[3] / n;
      for (int c = 0; c < 3; ++c) q[c] = alpha > 0 ? static_cast<std::uint16_t>(std::min(65535.0, sum[c] / n / (alpha / 65535.0) + 0.5)) : 0;
      q[3] = static_cast<std::uint16_t>(alpha + 0.5);
    }
  }
  return out;
}

}  // namespace bnr::broker
