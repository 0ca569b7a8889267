// How a frame is cut into horizontal bands for scheduling, and how the bands' columns line up
// as one run of "virtual" columns (band 0's columns, then band 1's, ...). Pure.
//
// Regions are column ranges inside one band. With overlap margins every cut renders 2 x margin
// columns twice, so full-height columns cost a narrow frame with many agents dearly (1920
// columns among 64 agents leave 30 each, against 8 per cut). Bands trade those for row margins
// at the bands' edges: each region is a rectangle, which with many regions per frame cuts far
// fewer pixels. One band is the full-height column layout.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "messages.h"

namespace bnr::broker {

class BandLayout {
 public:
  // `bands` is clamped to [1, height].
  BandLayout(int width, int height, int bands = 1);

  [[nodiscard]] int width() const { return width_; }
  [[nodiscard]] int height() const { return height_; }
  [[nodiscard]] int bands() const { return bands_; }
  // Virtual columns: width x bands.
  [[nodiscard]] int columns() const { return width_ * bands_; }

  [[nodiscard]] int band_of(int column) const { return column / width_; }
  [[nodiscard]] int band_begin(int band) const { return band * width_; }
  [[nodiscard]] int band_end(int band) const { return (band + 1) * width_; }
  // Rows [row0, row1) of a band, top to bottom; bands differ by one row at most.
  [[nodiscard]] int row0(int band) const;
  [[nodiscard]] int row1(int band) const { return row0(band + 1); }

  // The pixels of virtual columns [c0, c1), which lie in one band.
  [[nodiscard]] protocol::Rect rect(int c0, int c1) const;
  // The virtual column ranges that make up `core`, one per band it spans; empty when `core`
  // is not made of whole bands' rows (e.g. a region spooled by a job with other bands).
  [[nodiscard]] std::vector<std::pair<int, int>> columns_of(const protocol::Rect& core) const;

  // Work per frame column (full height) spread over the bands' columns by their rows, and
  // back: the sum over bands, where every band's column is known (< 0 elsewhere).
  [[nodiscard]] std::vector<double> spread(const std::vector<double>& per_frame_column) const;
  [[nodiscard]] std::vector<double> fold(const std::vector<double>& per_column) const;

 private:
  int width_;
  int height_;
  int bands_;
};

// How many bands suit a frame: one without margins (cuts cost nothing then) or with few
// regions per agent's share of the columns; more where regions would otherwise be so narrow
// that their margins are a large share, as many as minimise the pixels cut — column margins,
// 2 x margin x regions / bands per row, against row margins, 2 x margin x (bands - 1) per
// column — for about `regions_per_agent` regions per agent.
[[nodiscard]] int choose_bands(int width, int height, int margin, std::size_t agents);

}  // namespace bnr::broker
