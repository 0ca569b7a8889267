// The cost map each scene's last render learned (JobSummary::cost_per_column), kept so its next
// render starts from it (JobOptions::cost_prior): regions are then sized for the frame's costly
// columns from the first hand-out, as with --speed-test, instead of after the first results.
// Kept by everything that decides where a frame is costly: the content of every file the scene
// reads and the frame rendered. A scene edited since, or another frame, starts without one.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scene_manifest.h"

namespace bnr::broker {

inline constexpr std::size_t kStoredMapColumns = 1024;  // a prior of any length is resampled

// What a map is kept by: a content hash over the scene's files and the frame. Pure.
[[nodiscard]] std::string cost_map_key(const SceneManifest& manifest, std::optional<int> frame);

// The map in at most `columns` values, each the mean over an equal span of the original's
// columns (a cost per column keeps its units). Pure.
[[nodiscard]] std::vector<double> coarsened(const std::vector<double>& cost_per_column, std::size_t columns);

// Text form: "bnr-cost-map 1 KEY" then one value per line. Parsing gives an empty map unless
// the header names `key` and there are 1..kStoredMapColumns finite values >= 0, one not 0. Pure.
[[nodiscard]] std::string format_cost_map(const std::string& key, const std::vector<double>& map);
[[nodiscard]] std::vector<double> parse_cost_map(std::string_view text, const std::string& key);

// One file per key in `dir`; the newest kMaxMaps are kept. Reading and writing are best effort:
// a map is only ever a head start.
class CostMapStore {
 public:
  explicit CostMapStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  [[nodiscard]] std::vector<double> load(const std::string& key) const;  // empty: none kept
  // Best effort: false when it could not be written.
  [[nodiscard]] bool save(const std::string& key, const std::vector<double>& cost_per_column) const;

  static constexpr std::size_t kMaxMaps = 256;

 private:
  [[nodiscard]] std::filesystem::path file_of(const std::string& key) const;
  std::filesystem::path dir_;
};

}  // namespace bnr::broker
