#include "band_layout.h"

#include <algorithm>
#include <cstdint>

namespace bnr::broker {
namespace {
// About how many regions the scheduler makes per agent (probes, factoring, the tail).
constexpr double kRegionsPerAgent = 8.0;
// A band keeps its row margins a small share of its rows.
constexpr int kMinRowsPerMarginRow = 16;
// Bands only where they cut clearly fewer pixels: each costs row margins for sure, while the
// column margins they save rest on a guess of the region count.
constexpr double kWorthIt = 0.8;
}  // namespace

BandLayout::BandLayout(int width, int height, int bands)
    : width_(std::max(width, 0)), height_(std::max(height, 0)), bands_(std::clamp(bands, 1, std::max(height, 1))) {}

int BandLayout::row0(int band) const {
  return static_cast<int>(static_cast<std::int64_t>(band) * height_ / bands_);
}

protocol::Rect BandLayout::rect(int c0, int c1) const {
  const int band = width_ > 0 ? band_of(c0) : 0;
  return {c0 - band_begin(band), row0(band), c1 - band_begin(band), row1(band)};
}

std::vector<std::pair<int, int>> BandLayout::columns_of(const protocol::Rect& core) const {
  std::vector<std::pair<int, int>> out;
  if (core.empty() || core.x0 < 0 || core.x1 > width_ || core.y0 < 0 || core.y1 > height_) return out;
  for (int b = 0; b < bands_; ++b) {
    if (row1(b) <= core.y0 || row0(b) >= core.y1) continue;
    if (row0(b) < core.y0 || row1(b) > core.y1) return {};  // cuts through a band
    out.emplace_back(band_begin(b) + core.x0, band_begin(b) + core.x1);
  }
  return out;
}

std::vector<double> BandLayout::spread(const std::vector<double>& per_frame_column) const {
  if (per_frame_column.empty() || bands_ == 1) return per_frame_column;
  // Resampled to the frame's width first, as CostMap resamples a prior of any length.
  const double n = static_cast<double>(per_frame_column.size());
  std::vector<double> out(static_cast<std::size_t>(columns()));
  for (int b = 0; b < bands_; ++b) {
    const double share = static_cast<double>(row1(b) - row0(b)) / std::max(height_, 1);
    for (int x = 0; x < width_; ++x) {
      const auto i = static_cast<std::size_t>(std::min(n - 1, (x + 0.5) * n / width_));
      out[static_cast<std::size_t>(band_begin(b) + x)] = per_frame_column[i] * share;
    }
  }
  return out;
}

std::vector<double> BandLayout::fold(const std::vector<double>& per_column) const {
  if (bands_ == 1 || per_column.size() != static_cast<std::size_t>(columns())) return per_column;
  std::vector<double> out(static_cast<std::size_t>(width_), 0.0);
  for (int x = 0; x < width_; ++x)
    for (int b = 0; b < bands_; ++b) {
      const double c = per_column[static_cast<std::size_t>(band_begin(b) + x)];
      auto& sum = out[static_cast<std::size_t>(x)];
      if (c < 0 || sum < 0) {
        sum = -1.0;
        continue;
      }
      sum += c;
    }
  return out;
}

int choose_bands(int width, int height, int margin, std::size_t agents) {
  if (margin <= 0 || width <= 0 || height <= 0 || agents < 2) return 1;
  const double regions = kRegionsPerAgent * static_cast<double>(agents);
  // Pixels cut per pixel of the frame, over 2 x margin.
  const auto cut = [&](int bands) { return regions / (static_cast<double>(width) * bands) + (bands - 1.0) / height; };
  const int most = std::max(1, height / (kMinRowsPerMarginRow * margin));
  int best = 1;
  for (int b = 2; b <= most; ++b)
    if (cut(b) < cut(best)) best = b;
  return cut(best) < kWorthIt * cut(1) ? best : 1;
}

}  // namespace bnr::broker
