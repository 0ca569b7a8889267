// What each column of the frame costs to render, in "reference seconds" (seconds on a speed-1
// agent), learned from finished regions and predicted where nothing was measured yet. Pure.
//
// A region is rendered with `margin` overlap columns on each side (clipped to the frame, or to
// its band: the columns may be a BandLayout's, `band_width` to a band), so
// what a region costs is the work of its columns *and* its margins: region_work() counts both.
// The margins' pixels are thrown away, which is why they are overdraw.
//
// Unmeasured columns are predicted from the same column of the nearest band that measured it
// (with bands), else from their nearest measured neighbours in the band: the costlier side,
// so a region never runs blind into a hot band (estimate), or the mean of both sides, which is
// not biased, for sums over many columns such as the frame's end (likely_work). Estimates that
// reach across a probe still out (a barrier) are uncertain. With a prior (a profile of an
// earlier render), unmeasured columns follow it, scaled to the learned units.
#pragma once

#include <cstdint>
#include <vector>

namespace bnr::broker {

class CostMap {
 public:
  // `band_width`: columns per band (0: the whole width is one band).
  CostMap(int width, int margin, int band_width = 0);

  [[nodiscard]] int width() const { return width_; }
  [[nodiscard]] int margin() const { return margin_; }

  // Work per column (any length; resampled to the frame's width). Empty clears it.
  void set_prior(const std::vector<double>& cost_per_column);
  [[nodiscard]] bool has_prior() const { return !prior_.empty(); }

  // Columns [x0, x1) were measured at `per_column` work each; they stop being a barrier.
  void set_measured(int x0, int x1, double per_column);
  // Columns [x0, x1) are a probe under way: estimates must not reach across them.
  void set_barrier(int x0, int x1);
  // Recomputes estimates after set_measured / set_barrier / set_prior. O(width).
  void refresh();

  // Predicted work of one column; < 0 when there is nothing to go by.
  [[nodiscard]] double estimate(int x) const { return estimate_[static_cast<std::size_t>(x)]; }
  [[nodiscard]] bool uncertain(int x) const { return uncertain_[static_cast<std::size_t>(x)] != 0; }
  // The end of the run of settled columns from x (x itself when x is not settled): measured
  // ones, and unmeasured ones between measured neighbours that agree (no cost edge between).
  // Predictions there are about as good as measurements; elsewhere an edge may hide.
  [[nodiscard]] int settled_until(int x) const { return settled_end_[static_cast<std::size_t>(x)]; }
  // Predicted work of columns [x0, x1) alone; < 0 when any of them is unknown.
  [[nodiscard]] double work(int x0, int x1) const;
  // Predicted work of rendering the region [x0, x1): its columns plus its clipped margins;
  // < 0 when any of them is unknown.
  [[nodiscard]] double region_work(int x0, int x1) const;
  // Unbiased predicted work of columns [x0, x1) (unknown columns count 0).
  [[nodiscard]] double likely_work(int x0, int x1) const;
  // The number of columns w in [1, x1 - x0] whose region_work(x0, x0 + w) is nearest `budget`
  // (at least one: where one column takes more than the budget, it is still one).
  [[nodiscard]] int columns_for(int x0, int x1, double budget) const;
  // What the region [x0, x1) renders: grown by the margin on each side, clipped to its band.
  [[nodiscard]] int rendered_x0(int x0) const {
    const int begin = x0 - x0 % band_width_;
    return x0 - margin_ < begin ? begin : x0 - margin_;
  }
  [[nodiscard]] int rendered_x1(int x1) const {
    const int end = x1 <= 0 ? band_width_ : ((x1 - 1) / band_width_ + 1) * band_width_;
    return x1 + margin_ > end ? end : x1 + margin_;
  }

  // Learned work per column (< 0 where not measured), e.g. to save with the scene's profile.
  [[nodiscard]] const std::vector<double>& learned() const { return cost_; }

 private:
  void fill(std::size_t a, std::size_t b, double value, double likely, bool uncertain);
  void mark_settled();
  // Learned cost per column, with unmeasured ones taken from the same frame column in the
  // nearest band that measured it (the learned cost itself with one band).
  [[nodiscard]] std::vector<double> across_bands() const;

  int width_;
  int margin_;
  int band_width_;
  std::vector<double> cost_;           // learned work per column; < 0 = unknown
  std::vector<double> prior_;          // from a profile, empty if none
  double prior_scale_ = 1.0;           // learned / prior units
  std::vector<double> estimate_;       // predicted work per column; < 0 = nothing to go by
  std::vector<double> prefix_;         // prefix_[x] = sum of max(estimate, 0) over [0, x)
  std::vector<int> unknown_;           // unknown_[x] = columns in [0, x) with no estimate
  std::vector<double> likely_prefix_;  // the same with the mean of both sides, not the costlier
  std::vector<char> barrier_;          // columns of probes handed out but not yet measured
  std::vector<char> uncertain_;        // the estimate reaches across such a probe
  std::vector<int> settled_end_;       // see settled_until
};

}  // namespace bnr::broker
