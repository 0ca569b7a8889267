#include "pass_output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bnr::broker {

std::string blender_render_time(double seconds) {
  const long long hundredths = std::llround(std::max(seconds, 0.0) * 100.0);
  const long long h = hundredths / 360000, m = hundredths / 6000 % 60, s = hundredths / 100 % 60, c = hundredths % 100;
  char text[48];
  if (h > 0) std::snprintf(text, sizeof text, "%02lld:%02lld:%02lld.%02lld", h, m, s, c);
  else std::snprintf(text, sizeof text, "%02lld:%02lld.%02lld", m, s, c);
  return text;
}

}  // namespace bnr::broker
