#include "sizing_policy.h"

#include <algorithm>
#include <cmath>

namespace bnr::broker {
namespace {
constexpr double kPixelFactoringChunks = 2.0;  // textbook factoring: each batch takes half of what is left
constexpr double kProbeFraction = 4.0;         // blind first regions are this much smaller than factoring's
constexpr double kUnobservedChunks = 2.0;      // an agent known only by its hint gets regions this much smaller
constexpr double kSettledChunks = 2.0;         // where predictions are good, half the time left
}  // namespace

int FactoringPixelsSizing::width(const SizingRequest& r) const {
  const double agents = static_cast<double>(std::max<std::size_t>(r.agents, 1));
  return static_cast<int>(std::ceil(r.free_columns / (agents * kPixelFactoringChunks)));
}

std::chrono::duration<double> predicted_seconds_target(std::chrono::duration<double> time_left, double chunks,
                                                       std::chrono::duration<double> overdraw, double tail_error) {
  const double left = std::max(time_left.count(), 0.0);
  const double share = left / std::max(chunks, 1.0);
  if (overdraw.count() <= 0 || tail_error <= 0) return std::chrono::duration<double>(share);
  const double balanced = std::sqrt(left * overdraw.count() / tail_error);
  return std::chrono::duration<double>(std::max(share, std::min(balanced, left)));
}

int PredictedSecondsSizing::width(const SizingRequest& r) const {
  const CostMap& cost = *r.cost;
  if (cost.estimate(r.x0) < 0) {
    // Nothing measured yet: a small probe per agent measures its speed and the scene's cost
    // soon, instead of a blind quarter of the frame deciding the finish time.
    // A slower agent gets a narrower one, so that it does not decide the finish.
    const double agents = static_cast<double>(std::max<std::size_t>(r.agents, 1));
    const double share = std::min(1.0, r.speed / std::max(r.mean_speed, 1e-12));
    return static_cast<int>(std::ceil(r.free_columns * share / (agents * chunks_ * kProbeFraction)));
  }
  // Weighted factoring in predicted seconds: a 1/k share of the time this agent has left
  // before the frame should end, after what it already has queued (with prefetch, sizing from
  // now would commit it twice). An agent whose speed is still only a hint (off by half, maybe)
  // gets less until it is measured.
  const double chunks = chunks_ * (r.observed ? 1.0 : kUnobservedChunks);
  // One more region cuts the frame once more: both sides render the other's margin there.
  const double speed = std::max(r.speed, 1e-12);
  const std::chrono::duration<double> overdraw(2.0 * cost.margin() * cost.estimate(r.x0) / speed);
  const auto target = std::max(predicted_seconds_target(r.time_left, chunks, overdraw, tail_error_), min_region_);
  const int w = cost.columns_for(r.x0, r.x1, target.count() * speed);
  // Where the cost is settled and the speed measured, predictions are good: with margins,
  // fewer and larger regions there (a 1/2 share), as far as the settled columns reach.
  const int settled = cost.settled_until(r.x0) - r.x0;
  if (cost.margin() == 0 || !r.observed || settled <= w) return w;
  const auto bold = std::max(predicted_seconds_target(r.time_left, kSettledChunks, overdraw, tail_error_), min_region_);
  return std::max(w, std::min(cost.columns_for(r.x0, r.x1, bold.count() * speed), settled));
}

}  // namespace bnr::broker
