#include "cost_map.h"

#include <algorithm>
#include <cmath>

namespace bnr::broker {

CostMap::CostMap(int width, int margin, int band_width)
    : width_(std::max(width, 0)), margin_(std::max(margin, 0)),
      band_width_(band_width > 0 && band_width < width_ ? band_width : std::max(width_, 1)) {
  refresh();
}

void CostMap::set_prior(const std::vector<double>& cost_per_column) {
  prior_.clear();
  prior_prefix_.clear();
  if (!cost_per_column.empty() && width_ > 0) {
    prior_prefix_.assign(static_cast<std::size_t>(width_) + 1, 0.0);
    const double n = static_cast<double>(cost_per_column.size());
    for (int x = 0; x < width_; ++x) {
      const auto i = static_cast<std::size_t>(std::min(n - 1, std::floor((x + 0.5) * n / width_)));
      const double c = std::max(cost_per_column[i], 0.0);
      if (!prior_.empty() && prior_.back().value == c) ++prior_.back().x1;
      else prior_.push_back({x, x + 1, c});
      prior_prefix_[static_cast<std::size_t>(x) + 1] = prior_prefix_[static_cast<std::size_t>(x)] + c;
    }
  }
  refresh();
}

double CostMap::prior_work(int x0, int x1) const {
  if (prior_prefix_.empty() || x1 <= x0) return 0.0;
  x0 = std::clamp(x0, 0, width_);
  x1 = std::clamp(x1, 0, width_);
  return prior_prefix_[static_cast<std::size_t>(x1)] - prior_prefix_[static_cast<std::size_t>(x0)];
}

void CostMap::set_measured(int x0, int x1, double per_column) {
  if (x1 > x0) pending_.push_back({x0, x1, per_column});
}

void CostMap::set_barrier(int x0, int x1) {
  if (x1 <= x0) return;
  // Kept disjoint (overlapping ones joined): only their columns still in a gap count.
  auto first = std::partition_point(barriers_.begin(), barriers_.end(), [&](const auto& b) { return b.second < x0; });
  auto last = first;
  while (last != barriers_.end() && last->first <= x1) {
    x0 = std::min(x0, last->first);
    x1 = std::max(x1, last->second);
    ++last;
  }
  barriers_.insert(barriers_.erase(first, last), {x0, x1});
}

void CostMap::set_lower_bounds(ColumnRuns bounds) {
  std::sort(bounds.begin(), bounds.end(), [](const ColumnRun& a, const ColumnRun& b) { return a.x0 < b.x0; });
  std::erase_if(bounds, [](const ColumnRun& r) { return r.x1 <= r.x0; });
  lower_bounds_ = std::move(bounds);
}

bool CostMap::crosses_barrier(int x0, int x1) const {
  const auto it = std::partition_point(barriers_.begin(), barriers_.end(), [&](const auto& b) { return b.second <= x0; });
  return it != barriers_.end() && it->first < x1;
}

std::size_t CostMap::run_at(int x) const {
  const auto it = std::upper_bound(runs_.begin(), runs_.end(), x, [](int v, const Run& r) { return v < r.x0; });
  return it == runs_.begin() ? 0 : static_cast<std::size_t>(it - runs_.begin() - 1);
}

double CostMap::work_before(int x) const {
  const Run& r = runs_[run_at(x)];
  return r.work_before + std::max(r.value, 0.0) * (x - r.x0);
}

double CostMap::likely_before(int x) const {
  const Run& r = runs_[run_at(x)];
  return r.likely_before + std::max(r.likely, 0.0) * (x - r.x0);
}

int CostMap::unknown_before(int x) const {
  const Run& r = runs_[run_at(x)];
  return r.unknown_before + (r.value < 0 ? x - r.x0 : 0);
}

// Appends the prediction for [x0, x1); the last run is the sentinel at the end of the map,
// which holds the totals.
void CostMap::add_run(int x0, int x1, double value, double likely, bool uncertain, bool gap) {
  Run& end = runs_.back();
  if (x1 <= x0) return;
  const double len = x1 - x0;
  Run run = end;
  run.x0 = x0;
  run.value = value;
  run.likely = likely;
  run.uncertain = uncertain;
  run.gap = gap;
  end.x0 = x1;
  end.work_before += std::max(value, 0.0) * len;
  end.likely_before += std::max(likely, 0.0) * len;
  end.unknown_before += value < 0 ? x1 - x0 : 0;
  runs_.insert(runs_.end() - 1, run);
}

void CostMap::refresh() {
  if (!pending_.empty()) {
    measured_ = painted(std::move(measured_), std::move(pending_));
    pending_.clear();
  }
  // Probes measured since they went out no longer stand between anything.
  std::erase_if(barriers_, [&](const auto& b) { return covers(measured_, b.first, b.second); });
  runs_.assign(1, Run{});
  settled_.clear();
  bridged_.clear();
  if (!prior_.empty()) {
    predict_with_prior();
    return;
  }
  const int bands = (width_ + band_width_ - 1) / band_width_;
  const auto by_band = [&](const ColumnRuns& runs) {
    std::vector<ColumnRuns> out;
    out.reserve(static_cast<std::size_t>(bands));
    for (int b = 0; b < bands; ++b) out.push_back(window(runs, b * band_width_, std::min(width_, (b + 1) * band_width_)));
    return out;
  };
  const std::vector<ColumnRuns> measured_by_band = by_band(measured_);
  // Lower bounds predict like measurements but are not ones: where only they stand, columns
  // stay blind and unsettled (the true cost may be far higher still).
  const std::vector<ColumnRuns> bounded_by_band =
      lower_bounds_.empty() ? std::vector<ColumnRuns>{} : by_band(overlay(measured_, lower_bounds_));
  for (int b = 0; b < bands; ++b) {
    const ColumnRuns known = known_in_band(measured_by_band, b);
    if (bounded_by_band.empty()) predict_band(known, known, b);
    else predict_band(known_in_band(bounded_by_band, b), known, b);
    mark_settled(measured_by_band[static_cast<std::size_t>(b)], b);
  }
}

void CostMap::predict_with_prior() {
  // The prior may come in other units (another resolution, other agents): scale it to ours.
  double learned = 0, prior = 0;
  for (const ColumnRun& m : measured_) {
    learned += m.value * (m.x1 - m.x0);
    prior += prior_work(m.x0, m.x1);
  }
  if (prior > 0) prior_scale_ = learned / prior;
  ColumnRuns scaled = prior_;
  for (ColumnRun& r : scaled) r.value *= prior_scale_;
  for (const ColumnRun& r : overlay(measured_, scaled)) add_run(r.x0, r.x1, r.value, r.value, false);
  for (const ColumnRun& m : measured_) add_settled(m.x0, m.x1);
}

void CostMap::add_settled(int x0, int x1) {
  if (!settled_.empty() && settled_.back().second == x0) settled_.back().second = x1;
  else settled_.emplace_back(x0, x1);
}

ColumnRuns CostMap::known_in_band(const std::vector<ColumnRuns>& measured_by_band, int band) const {
  // Cost clusters in space: an unmeasured column costs about what the same column of the
  // nearest band measured.
  const int bands = static_cast<int>(measured_by_band.size());
  const int columns = std::min(band_width_, width_ - band * band_width_);
  ColumnRuns known = measured_by_band[static_cast<std::size_t>(band)];
  for (int d = 1; (band - d >= 0 || band + d < bands) && !covers(known, 0, columns); ++d) {
    static const ColumnRuns kNone;
    const ColumnRuns& above = band - d >= 0 ? measured_by_band[static_cast<std::size_t>(band - d)] : kNone;
    const ColumnRuns& below = band + d < bands ? measured_by_band[static_cast<std::size_t>(band + d)] : kNone;
    if (above.empty() && below.empty()) continue;
    known = overlay(known, window(larger_of(above, below), 0, columns));
  }
  return known;
}

void CostMap::predict_band(const ColumnRuns& known, const ColumnRuns& measured, int band) {
  // A gap of columns no band measured costs about what the columns on either side of it in its
  // band cost: the costlier side for estimates, the mean for the likely work.
  const int offset = band * band_width_;
  const int columns = std::min(band_width_, width_ - offset);
  double before = -1.0;
  int x = 0;
  const auto gap = [&](int end, double after) {
    if (end <= x) return;
    const double likely = before >= 0 && after >= 0 ? (before + after) / 2 : std::max(before, after);
    add_run(offset + x, offset + end, std::max(before, after), likely, crosses_barrier(offset + x, offset + end), true);
  };
  // A known run as measured where `measured` covers it, as a gap (blind) where not.
  auto m = measured.begin();
  const auto known_run = [&](const ColumnRun& r) {
    for (int at = r.x0; at < r.x1;) {
      while (m != measured.end() && m->x1 <= at) ++m;
      const bool inside = m != measured.end() && m->x0 <= at;
      const int end = std::min(r.x1, inside ? m->x1 : (m != measured.end() ? m->x0 : r.x1));
      add_run(offset + at, offset + end, r.value, r.value, false, !inside);
      at = end;
    }
  };
  for (const ColumnRun& r : known) {
    gap(r.x0, r.value);
    known_run(r);
    before = r.value;
    x = r.x1;
  }
  gap(columns, -1.0);
}

void CostMap::mark_settled(const ColumnRuns& own, int band) {
  constexpr double kAgree = 1.3;  // neighbours within this ratio: no cost edge between them
  const int offset = band * band_width_;
  // Within its band only: the next band's first columns are at the frame's other side.
  for (std::size_t i = 0; i < own.size(); ++i) {
    if (i > 0 && own[i - 1].x1 < own[i].x0) {
      const double before = own[i - 1].value, after = own[i].value;
      if (before > 0 && after > 0 && std::max(before, after) <= kAgree * std::min(before, after)) {
        add_settled(offset + own[i - 1].x1, offset + own[i].x0);
        // Narrower than the two measurements together, it cannot hide much (see blind_until).
        if (own[i].x0 - own[i - 1].x1 <= (own[i - 1].x1 - own[i - 1].x0) + (own[i].x1 - own[i].x0))
          bridged_.emplace_back(offset + own[i - 1].x1, offset + own[i].x0);
      }
    }
    add_settled(offset + own[i].x0, offset + own[i].x1);
  }
}

int CostMap::settled_until(int x) const {
  const auto it = std::partition_point(settled_.begin(), settled_.end(), [&](const auto& s) { return s.second <= x; });
  return it != settled_.end() && it->first <= x ? it->second : x;
}

int CostMap::blind_until(int x0, int x1, double budget) const {
  double spent = 0;
  auto bridge = std::partition_point(bridged_.begin(), bridged_.end(), [&](const auto& r) { return r.second <= x0; });
  for (std::size_t i = run_at(x0); i + 1 < runs_.size() && runs_[i].x0 < x1; ++i) {
    const Run& run = runs_[i];
    if (!run.gap) continue;
    const int end = std::min(runs_[i + 1].x0, x1);
    for (int x = std::max(run.x0, x0); x < end;) {
      while (bridge != bridged_.end() && bridge->second <= x) ++bridge;
      if (bridge != bridged_.end() && bridge->first <= x) {
        x = std::min(end, bridge->second);
        continue;
      }
      const int stop = bridge != bridged_.end() ? std::min(end, bridge->first) : end;
      const double per_column = std::max(run.value, 0.0);
      if (spent + per_column * (stop - x) > budget)
        return per_column > 0 ? x + static_cast<int>((budget - spent) / per_column) : stop;
      spent += per_column * (stop - x);
      x = stop;
    }
  }
  return x1;
}

std::vector<double> CostMap::learned() const {
  std::vector<double> cost(static_cast<std::size_t>(width_), -1.0);
  for (const ColumnRun& m : painted(measured_, pending_))
    std::fill(cost.begin() + m.x0, cost.begin() + m.x1, m.value);
  return cost;
}

double CostMap::work(int x0, int x1) const {
  if (unknown_before(x1) != unknown_before(x0)) return -1.0;
  return work_before(x1) - work_before(x0);
}

double CostMap::region_work(int x0, int x1) const { return work(rendered_x0(x0), rendered_x1(x1)); }

double CostMap::likely_work(int x0, int x1) const { return likely_before(x1) - likely_before(x0); }

int CostMap::columns_for(int x0, int x1, double budget) const {
  // The rendered range's work (margins included; unknown columns count 0) grows with w: find
  // the first w whose work reaches the budget.
  const double base = work_before(rendered_x0(x0));
  const auto rendered_work = [&](int w) { return work_before(rendered_x1(x0 + w)) - base; };
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
