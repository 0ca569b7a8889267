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
//
// Everything is kept as runs of columns (see column_runs.h): a refresh costs about the number
// of measured regions times the bands searched, a query the log of the number of runs.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "column_runs.h"

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
  // The prior's work over columns [x0, x1), in its own units; 0 without one.
  [[nodiscard]] double prior_work(int x0, int x1) const;

  // Columns [x0, x1) were measured at `per_column` work each; they stop being a barrier.
  void set_measured(int x0, int x1, double per_column);
  // Columns [x0, x1) are a probe under way: estimates must not reach across them.
  void set_barrier(int x0, int x1);
  // Regions still rendering that have run long already: their columns cost at least so much
  // (runs, in any order, disjoint). Until measured they count as measured at that value, so
  // columns beside them, and the same columns in other bands, are not predicted at the cheap
  // cost the late region was sized from. Replaces the previous set; never saved in learned().
  void set_lower_bounds(ColumnRuns bounds);
  // Recomputes estimates after set_measured / set_barrier / set_prior / set_lower_bounds.
  void refresh();

  // Predicted work of one column; < 0 when there is nothing to go by.
  [[nodiscard]] double estimate(int x) const { return runs_[run_at(x)].value; }
  [[nodiscard]] bool uncertain(int x) const { return runs_[run_at(x)].uncertain; }
  // The end of the run of settled columns from x (x itself when x is not settled): measured
  // ones, and unmeasured ones between measured neighbours that agree (no cost edge between).
  // Predictions there are about as good as measurements; elsewhere an edge may hide.
  [[nodiscard]] int settled_until(int x) const;
  // The first column from x0 (at most x1) where the work of blind columns from x0 passes
  // `budget`: columns predicted from neighbours alone, no band having measured them, and not
  // between two of their band's measurements that agree and are together at least as wide
  // as the gap. A hot band may hide there (even between two probes that agree).
  [[nodiscard]] int blind_until(int x0, int x1, double budget) const;
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
  [[nodiscard]] std::vector<double> learned() const;

 private:
  // Predicted columns [x0, next run's x0): every column of the map is in one.
  struct Run {
    int x0 = 0;
    double value = -1;     // < 0: nothing to go by
    double likely = -1;    // without the caution (the mean of both sides of a gap)
    bool uncertain = false;
    bool gap = false;          // predicted from neighbours, not measured in any band
    double work_before = 0;    // sum of max(value, 0) over the columns before x0
    double likely_before = 0;  // the same for likely
    int unknown_before = 0;    // columns before x0 with no estimate
  };

  [[nodiscard]] std::size_t run_at(int x) const;
  // Sums over [0, x): predicted work, likely work, columns with no estimate.
  [[nodiscard]] double work_before(int x) const;
  [[nodiscard]] double likely_before(int x) const;
  [[nodiscard]] int unknown_before(int x) const;
  void add_run(int x0, int x1, double value, double likely, bool uncertain, bool gap = false);
  [[nodiscard]] bool crosses_barrier(int x0, int x1) const;
  void predict_with_prior();
  // One band's known cost (frame columns): its own measurements, and where it has none, the
  // same frame column's in the nearest band that measured it (the costlier of two as near).
  [[nodiscard]] ColumnRuns known_in_band(const std::vector<ColumnRuns>& measured_by_band, int band) const;
  // `known`: what predicts the band's columns; `measured`: the part of it that rests on
  // measurements (the rest, lower bounds only, is predicted but blind).
  void predict_band(const ColumnRuns& known, const ColumnRuns& measured, int band);
  void mark_settled(const ColumnRuns& own, int band);
  // Appends [x0, x1) to settled_, joined to the last range when it continues it.
  void add_settled(int x0, int x1);

  int width_;
  int margin_;
  int band_width_;
  ColumnRuns measured_;                // learned work per column (virtual columns)
  ColumnRuns lower_bounds_;            // late regions still rendering, sorted
  std::vector<ColumnRun> pending_;     // set_measured since the last refresh
  ColumnRuns prior_;                   // from a profile, empty if none
  std::vector<double> prior_prefix_;   // prior_prefix_[x] = the prior's sum over [0, x)
  double prior_scale_ = 1.0;           // learned / prior units
  std::vector<std::pair<int, int>> barriers_;  // probes handed out, sorted (columns measured since
                                               // are no longer in a gap, so they no longer count)
  std::vector<Run> runs_;              // the prediction, sorted, covering [0, width)
  std::vector<std::pair<int, int>> settled_;   // settled column ranges, sorted, joined
  std::vector<std::pair<int, int>> bridged_;   // settled gaps no wider than their two neighbours
};

}  // namespace bnr::broker
