#include "probe_plan.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace bnr::broker {

int probe_count(int width, int margin, int wanted) {
  if (wanted <= 0 || width <= 0) return 0;
  if (margin <= 0) return std::min(wanted, width);
  constexpr double kProbeOverdrawShare = 0.004;
  const int affordable = static_cast<int>(kProbeOverdrawShare * width / (2.0 * margin));
  return std::min({wanted, width, std::max(affordable, 2)});
}

std::deque<std::pair<int, int>> plan_probes(int width, int count, int probe_width, int band_width) {
  std::deque<std::pair<int, int>> out;
  const int n = std::min(count, width);
  if (n <= 0) return out;
  std::vector<int> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const auto reversed_bits = [](int v) {
    unsigned r = 0;
    for (int b = 0; b < 16; ++b) r |= ((static_cast<unsigned>(v) >> b) & 1U) << (15 - b);
    return r;
  };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return reversed_bits(a) < reversed_bits(b); });
  const auto centre = [&](int i) { return static_cast<int>((i + 0.5) * width / n); };
  std::deque<std::pair<int, int>> planned;
  int last_end = -1;
  for (int i : order) {
    int x0 = std::clamp(centre(i) - probe_width / 2, 0, width - std::min(probe_width, width));
    if (band_width > 0 && probe_width <= band_width) {
      const int band_end = (x0 / band_width + 1) * band_width;
      if (x0 + probe_width > band_end) x0 = centre(i) < band_end ? band_end - probe_width : band_end;
    }
    const int x1 = std::min(x0 + probe_width, width);
    if (x0 <= last_end && n == 1) continue;
    planned.emplace_back(x0, x1);
    last_end = x1;
  }
  std::sort(planned.begin(), planned.end());
  std::deque<std::pair<int, int>> disjoint;
  for (const auto& p : planned)
    if (disjoint.empty() || p.first >= disjoint.back().second) disjoint.push_back(p);
  for (int i : order)
    for (const auto& p : disjoint)
      if (p.first <= centre(i) && centre(i) < p.second && std::find(out.begin(), out.end(), p) == out.end())
        out.push_back(p);
  return out;
}

}  // namespace bnr::broker
