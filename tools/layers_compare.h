// Compares two multilayer EXRs as a compositing artist would see them differ: channels (names,
// order, half or float), text metadata, and values, for tests and benchmarks.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "exr_layers.h"

namespace bnr::tools {

struct LayersCompareOptions {
  // Absolute tolerance, scaled by max(1, |a|, |b|) as compare(ImageF) does.
  double tolerance = 1e-4;
  // Channels whose names contain one of these must be bit-exact (Cryptomatte ids and
  // coverage: a wrong id is another object, however close).
  std::vector<std::string> exact{"Crypto"};
  // Metadata whose value may differ (times, dates); names that end with one of these.
  std::vector<std::string> varying{"Date", "RenderTime", "render_time", "total_time", "synchronization_time"};
};

// One line per difference found (empty: the same): a channel missing, extra, out of order
// or of another type; a metadata key missing, extra or with another value; values over the
// tolerance (the worst pixel and how many). At most a few lines per kind.
[[nodiscard]] std::vector<std::string> compare_layers(const ExrLayers& ours, const ExrLayers& theirs,
                                                      const LayersCompareOptions& options = {});

}  // namespace bnr::tools
