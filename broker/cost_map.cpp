#include "cost_map.h"

#include <algorithm>
#include <cmath>

namespace bnr::broker {

CostMap::CostMap(int width, int margin, int band_width)
    : width_(std::max(width, 0)), margin_(std::max(margin, 0)),
      band_width_(band_width > 0 && band_width < width_ ? band_width : std::max(width_, 1)), cost_(static_cast<std::size_t>(width_), -1.0),
      estimate_(cost_), barrier_(cost_.size(), 0), uncertain_(cost_.size(), 0) {
  refresh();
}

void CostMap::set_prior(const std::vector<double>& cost_per_column) {
  prior_.clear();
  if (!cost_per_column.empty() && width_ > 0) {
    prior_.resize(static_cast<std::size_t>(width_));
    const double n = static_cast<double>(cost_per_column.size());
    for (int x = 0; x < width_; ++x) {
      const auto i = static_cast<std::size_t>(std::min(n - 1, std::floor((x + 0.5) * n / width_)));
      prior_[static_cast<std::size_t>(x)] = std::max(cost_per_column[i], 0.0);
    }
  }
  refresh();
}

void CostMap::set_measured(int x0, int x1, double per_column) {
  std::fill(cost_.begin() + x0, cost_.begin() + x1, per_column);
  std::fill(barrier_.begin() + x0, barrier_.begin() + x1, char{0});
}

void CostMap::set_barrier(int x0, int x1) {
  for (int x = x0; x < x1; ++x) barrier_[static_cast<std::size_t>(x)] = cost_[static_cast<std::size_t>(x)] < 0;
}

// Columns [a, b) all predicted at `value` (`likely`: without the caution); prefix sums give any
// range's work in O(1).
void CostMap::fill(std::size_t a, std::size_t b, double value, double likely, bool uncertain) {
  std::fill(estimate_.begin() + static_cast<long>(a), estimate_.begin() + static_cast<long>(b), value);
  std::fill(uncertain_.begin() + static_cast<long>(a), uncertain_.begin() + static_cast<long>(b), uncertain);
  const double base = prefix_[a], per = std::max(value, 0.0);
  const double likely_base = likely_prefix_[a], likely_per = std::max(likely, 0.0);
  const int unknown = unknown_[a];
  for (std::size_t x = a; x < b; ++x) {
    prefix_[x + 1] = base + per * static_cast<double>(x + 1 - a);
    likely_prefix_[x + 1] = likely_base + likely_per * static_cast<double>(x + 1 - a);
    unknown_[x + 1] = unknown + (value < 0 ? static_cast<int>(x + 1 - a) : 0);
  }
}

void CostMap::refresh() {
  const std::size_t n = cost_.size();
  prefix_.assign(n + 1, 0.0);
  unknown_.assign(n + 1, 0);
  likely_prefix_.assign(n + 1, 0.0);
  if (!prior_.empty()) {
    // The prior may come in other units (another resolution, other agents): scale it to ours.
    double learned = 0, prior = 0;
    for (std::size_t x = 0; x < n; ++x)
      if (cost_[x] >= 0) {
        learned += cost_[x];
        prior += prior_[x];
      }
    if (prior > 0) prior_scale_ = learned / prior;
    for (std::size_t x = 0; x < n; ++x) {
      const double c = cost_[x] >= 0 ? cost_[x] : prior_[x] * prior_scale_;
      fill(x, x + 1, c, c, false);
    }
    mark_settled();
    return;
  }
  // Cost clusters in space: an unmeasured column costs about what the same column of the
  // nearest band measured, and a gap of columns no band measured about what the columns on
  // either side of it in its band cost.
  const std::vector<double> known = across_bands();
  for (std::size_t band = 0; band < n; band += static_cast<std::size_t>(band_width_)) {
    const std::size_t band_end = std::min(n, band + static_cast<std::size_t>(band_width_));
    std::size_t x = band;
    double before = -1.0;
    while (x < band_end) {
      if (known[x] >= 0) {
        std::size_t end = x + 1;
        while (end < band_end && known[end] == known[x]) ++end;
        fill(x, end, known[x], known[x], false);
        before = known[x];
        x = end;
        continue;
      }
      std::size_t end = x + 1;
      while (end < band_end && known[end] < 0) ++end;
      const double after = end < band_end ? known[end] : -1.0;
      const bool crosses = std::find(barrier_.begin() + static_cast<long>(x), barrier_.begin() + static_cast<long>(end),
                                     char{1}) != barrier_.begin() + static_cast<long>(end);
      const double likely = before >= 0 && after >= 0 ? (before + after) / 2 : std::max(before, after);
      fill(x, end, std::max(before, after), likely, crosses);
      x = end;
    }
  }
  mark_settled();
}

std::vector<double> CostMap::across_bands() const {
  if (band_width_ >= width_) return cost_;
  // Per frame column, the nearest band's measurement above and below each band (the costlier
  // of the two when they are as near): a sweep down, then one up, O(width) in all.
  const auto bands = static_cast<std::size_t>(width_ / band_width_);
  const auto stride = static_cast<std::size_t>(band_width_);
  std::vector<double> out = cost_;
  std::vector<std::size_t> above(bands);
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  for (std::size_t x = 0; x < stride; ++x) {
    std::size_t last = kNone;
    for (std::size_t b = 0; b < bands; ++b) {
      if (cost_[b * stride + x] >= 0) last = b;
      above[b] = last;
    }
    if (last == kNone) continue;  // no band measured this column
    std::size_t down = kNone;
    for (std::size_t b = bands; b-- > 0;) {
      const double own = cost_[b * stride + x];
      if (own >= 0) {
        down = b;
        continue;
      }
      const std::size_t up = above[b];
      double v = -1.0;
      if (up == kNone) v = cost_[down * stride + x];
      else if (down == kNone || b - up < down - b) v = cost_[up * stride + x];
      else if (down - b < b - up) v = cost_[down * stride + x];
      else v = std::max(cost_[up * stride + x], cost_[down * stride + x]);
      out[b * stride + x] = v;
    }
  }
  return out;
}

void CostMap::mark_settled() {
  constexpr double kAgree = 1.3;  // neighbours within this ratio: no cost edge between them
  const std::size_t n = cost_.size();
  std::vector<char> settled(n, 0);
  for (std::size_t x = 0; x < n;) {
    if (cost_[x] >= 0) {
      settled[x++] = 1;
      continue;
    }
    // Within its band only: the next band's first columns are at the frame's other side.
    const std::size_t band = x - x % static_cast<std::size_t>(band_width_);
    const std::size_t band_end = std::min(n, band + static_cast<std::size_t>(band_width_));
    std::size_t end = x + 1;
    while (end < band_end && cost_[end] < 0) ++end;
    const double before = x > band ? cost_[x - 1] : -1.0, after = end < band_end ? cost_[end] : -1.0;
    const bool agree = before > 0 && after > 0 && std::max(before, after) <= kAgree * std::min(before, after);
    if (agree && prior_.empty()) std::fill(settled.begin() + static_cast<long>(x), settled.begin() + static_cast<long>(end), 1);
    x = end;
  }
  settled_end_.assign(n + 1, static_cast<int>(n));
  for (std::size_t x = n; x-- > 0;)
    settled_end_[x] = settled[x] != 0 ? settled_end_[x + 1] : static_cast<int>(x);
}

double CostMap::work(int x0, int x1) const {
  const auto a = static_cast<std::size_t>(x0), b = static_cast<std::size_t>(x1);
  if (unknown_[b] != unknown_[a]) return -1.0;
  return prefix_[b] - prefix_[a];
}

double CostMap::region_work(int x0, int x1) const { return work(rendered_x0(x0), rendered_x1(x1)); }

double CostMap::likely_work(int x0, int x1) const {
  return likely_prefix_[static_cast<std::size_t>(x1)] - likely_prefix_[static_cast<std::size_t>(x0)];
}

int CostMap::columns_for(int x0, int x1, double budget) const {
  // The rendered range's work (margins included; unknown columns count 0) grows with w: find
  // the first w whose work reaches the budget.
  const double base = prefix_[static_cast<std::size_t>(rendered_x0(x0))];
  const auto rendered_work = [&](int w) { return prefix_[static_cast<std::size_t>(rendered_x1(x0 + w))] - base; };
  int lo = 1, hi = std::max(x1 - x0, 1);
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (rendered_work(mid) >= budget) hi = mid;
    else lo = mid + 1;
  }
  // Rounding up would overshoot where a column takes seconds (a slow agent on a costly part).
  if (lo > 1 && rendered_work(lo) > budget && budget - rendered_work(lo - 1) < rendered_work(lo) - budget) --lo;
  return std::min(lo, std::max(x1 - x0, 0));
}

}  // namespace bnr::broker
