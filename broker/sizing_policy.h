// How wide the next region is: one interface, one implementation per way of sizing. Pure.
// RegionScheduler picks where a region starts and clamps what comes back (min and max width,
// no sliver left behind); a policy only answers "how many columns from x0".
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "cost_map.h"

namespace bnr::broker {

enum class SizingKind {
  kPredictedSeconds,  // ours: weighted factoring in predicted seconds, margins counted as work
  kFactoringPixels,   // guided self-scheduling in columns: remaining / (k * agents)
  kFixedWidth,        // equal regions of region_width columns, in order
};

struct SizingRequest {
  int x0 = 0, x1 = 0;          // the free interval the region is carved from, at x0
  int free_columns = 0;        // free columns in the whole frame
  std::size_t agents = 1;
  double speed = 1.0;          // the agent's speed as predictions use it
  double mean_speed = 1.0;     // of all agents
  bool observed = false;       // that speed rests on measurements, not only on a hint
  std::chrono::duration<double> time_left{0};  // until the frame should end, after its queue
  const CostMap* cost = nullptr;
};

class SizingPolicy {
 public:
  virtual ~SizingPolicy() = default;
  // Columns for the next region from request.x0, at least 1 (before clamping).
  [[nodiscard]] virtual int width(const SizingRequest& request) const = 0;
  // Sizes from predictions: probes first, one blind region at a time, and no more work for an
  // agent that would end well after the others (RegionScheduler's rules for such a policy).
  [[nodiscard]] virtual bool predicts() const { return false; }
};

class FixedWidthSizing final : public SizingPolicy {
 public:
  explicit FixedWidthSizing(int width) : width_(width < 1 ? 1 : width) {}
  [[nodiscard]] int width(const SizingRequest&) const override { return width_; }

 private:
  int width_;
};

class FactoringPixelsSizing final : public SizingPolicy {
 public:
  [[nodiscard]] int width(const SizingRequest& request) const override;
};

// Each region is about 1/k of the time the agent has left before the frame should end, so all
// agents finish together; never so small that its margins (rendered twice, by both neighbours)
// cost more than the tail imbalance a larger region risks (see predicted_seconds_target).
class PredictedSecondsSizing final : public SizingPolicy {
 public:
  PredictedSecondsSizing(double chunks_per_agent, std::chrono::duration<double> min_region, double tail_error)
      : chunks_(chunks_per_agent), min_region_(min_region), tail_error_(tail_error) {}
  [[nodiscard]] int width(const SizingRequest& request) const override;
  [[nodiscard]] bool predicts() const override { return true; }

 private:
  double chunks_;
  std::chrono::duration<double> min_region_;
  double tail_error_;
};

// The seconds a region should take when `time_left` remains and one more region costs
// `overdraw` seconds of margins: the factoring share time_left / chunks, but at least the d
// that minimises (time_left / d) x overdraw + tail_error x d (many regions pay margins; large
// last regions risk ending tail_error x d off their prediction), and at most time_left.
[[nodiscard]] std::chrono::duration<double> predicted_seconds_target(std::chrono::duration<double> time_left,
                                                                     double chunks, std::chrono::duration<double> overdraw,
                                                                     double tail_error);

}  // namespace bnr::broker
