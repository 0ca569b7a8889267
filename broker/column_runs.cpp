#include "column_runs.h"

#include <algorithm>
#include <limits>

namespace bnr::broker {
namespace {

constexpr int kNever = std::numeric_limits<int>::max();

// Appends [x0, x1) at `value`, joined to the last run when it continues it at the same value.
void append(ColumnRuns& out, int x0, int x1, double value) {
  if (x1 <= x0) return;
  if (!out.empty() && out.back().x1 == x0 && out.back().value == value) {
    out.back().x1 = x1;
    return;
  }
  out.push_back({x0, x1, value});
}

// One sweep over both run lists' edges; `both` decides where both have a value, elsewhere the
// one that has it wins.
template <class Both>
ColumnRuns merged(const ColumnRuns& a, const ColumnRuns& b, Both both) {
  ColumnRuns out;
  out.reserve(a.size() + b.size());
  std::size_t i = 0, j = 0;
  int x = std::numeric_limits<int>::min();
  while (true) {
    while (i < a.size() && a[i].x1 <= x) ++i;
    while (j < b.size() && b[j].x1 <= x) ++j;
    if (i == a.size() && j == b.size()) break;
    const int a0 = i < a.size() ? a[i].x0 : kNever, b0 = j < b.size() ? b[j].x0 : kNever;
    x = std::max(x, std::min(a0, b0));  // skip a gap in both
    const bool in_a = a0 <= x, in_b = b0 <= x;
    int end = kNever;
    if (i < a.size()) end = std::min(end, in_a ? a[i].x1 : a0);
    if (j < b.size()) end = std::min(end, in_b ? b[j].x1 : b0);
    const double value = in_a && in_b ? both(a[i].value, b[j].value) : in_a ? a[i].value : b[j].value;
    append(out, x, end, value);
    x = end;
  }
  return out;
}

}  // namespace

ColumnRuns overlay(const ColumnRuns& top, const ColumnRuns& bottom) {
  if (bottom.empty()) return top;
  if (top.empty()) return bottom;
  return merged(top, bottom, [](double t, double) { return t; });
}

ColumnRuns larger_of(const ColumnRuns& a, const ColumnRuns& b) {
  if (b.empty()) return a;
  if (a.empty()) return b;
  return merged(a, b, [](double x, double y) { return std::max(x, y); });
}

ColumnRuns painted(ColumnRuns runs, std::vector<ColumnRun> paints) {
  std::vector<ColumnRun> sorted = paints;
  std::stable_sort(sorted.begin(), sorted.end(), [](const ColumnRun& p, const ColumnRun& q) { return p.x0 < q.x0; });
  bool disjoint = true;
  for (std::size_t k = 1; k < sorted.size() && disjoint; ++k) disjoint = sorted[k - 1].x1 <= sorted[k].x0;
  if (disjoint) {
    // The usual case (every measured region once, side by side): one sweep.
    ColumnRuns top;
    top.reserve(sorted.size());
    for (const ColumnRun& p : sorted) append(top, p.x0, p.x1, p.value);
    return overlay(top, runs);
  }
  // Overlapping paints (rare: the scheduler measures each column once): one by one, in order.
  for (const ColumnRun& p : paints)
    if (p.x0 < p.x1) runs = overlay(ColumnRuns{p}, runs);
  return runs;
}

ColumnRuns window(const ColumnRuns& runs, int x0, int x1) {
  ColumnRuns out;
  auto it = std::partition_point(runs.begin(), runs.end(), [&](const ColumnRun& r) { return r.x1 <= x0; });
  for (; it != runs.end() && it->x0 < x1; ++it)
    out.push_back({std::max(it->x0, x0) - x0, std::min(it->x1, x1) - x0, it->value});
  return out;
}

bool covers(const ColumnRuns& runs, int x0, int x1) {
  auto it = std::partition_point(runs.begin(), runs.end(), [&](const ColumnRun& r) { return r.x1 <= x0; });
  int x = x0;
  for (; it != runs.end() && x < x1; ++it) {
    if (it->x0 > x) return false;
    x = it->x1;
  }
  return x >= x1;
}

}  // namespace bnr::broker
