// Values over ranges of columns, as sorted, disjoint runs with gaps where nothing is known.
// Pure.
//
// The cost map is piecewise constant: each measured region costs the same per column, and a
// gap between measurements is predicted at one value. Kept as runs, its refresh costs the
// number of regions, not the number of columns (a 16384-px frame in 34 bands has 557,056).
#pragma once

#include <vector>

namespace bnr::broker {

struct ColumnRun {
  int x0 = 0, x1 = 0;  // [x0, x1)
  double value = 0;
};
using ColumnRuns = std::vector<ColumnRun>;

// `top` where it has a value, else `bottom`.
[[nodiscard]] ColumnRuns overlay(const ColumnRuns& top, const ColumnRuns& bottom);
// The larger of the two where both have a value, else the one that has.
[[nodiscard]] ColumnRuns larger_of(const ColumnRuns& a, const ColumnRuns& b);
// `runs` with `paints` laid over it, each over the ones before (in any order, overlapping).
[[nodiscard]] ColumnRuns painted(ColumnRuns runs, std::vector<ColumnRun> paints);
// The part of `runs` in [x0, x1), moved left by x0.
[[nodiscard]] ColumnRuns window(const ColumnRuns& runs, int x0, int x1);
// No column of [x0, x1) is in a gap.
[[nodiscard]] bool covers(const ColumnRuns& runs, int x0, int x1);

}  // namespace bnr::broker
