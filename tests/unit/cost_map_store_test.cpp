#include "cost_map_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "temp_dir.h"

namespace bnr::broker {
namespace {

SceneManifest manifest_of(std::vector<std::string> hashes) {
  SceneManifest m;
  for (std::string& h : hashes) m.files.push_back({"/p/" + h, 1, std::move(h)});
  return m;
}

TEST(CostMapStore, AMapIsKeptByTheScenesFilesAndTheFrame) {
  const std::string key = cost_map_key(manifest_of({"aa", "bb"}), std::nullopt);
  EXPECT_EQ(key, cost_map_key(manifest_of({"aa", "bb"}), std::nullopt));
  EXPECT_NE(key, cost_map_key(manifest_of({"aa", "bc"}), std::nullopt));  // a texture edited
  EXPECT_NE(key, cost_map_key(manifest_of({"aa"}), std::nullopt));        // a file more or less
  EXPECT_NE(key, cost_map_key(manifest_of({"aa", "bb"}), 12));            // another frame
  EXPECT_NE(cost_map_key(manifest_of({"aa", "bb"}), 12), cost_map_key(manifest_of({"aa", "bb"}), 13));
}

TEST(CostMapStore, ALongMapIsCoarsenedToMeansOverEqualSpans) {
  EXPECT_EQ(coarsened({1, 3, 5, 7, 2, 2}, 3), (std::vector<double>{2, 6, 2}));
  EXPECT_EQ(coarsened({1, 2, 3, 4, 5}, 2), (std::vector<double>{1.5, 4}));
  EXPECT_EQ(coarsened({1, 2}, 8), (std::vector<double>{1, 2}));  // short enough already
  EXPECT_EQ(coarsened(std::vector<double>(5000, 0.25), kStoredMapColumns).size(), kStoredMapColumns);
}

TEST(CostMapStore, TextNamesItsKeyAndOnlyASaneMapParses) {
  const std::string text = format_cost_map("k1", {0.5, 0, 2.25});
  EXPECT_EQ(parse_cost_map(text, "k1"), (std::vector<double>{0.5, 0, 2.25}));
  EXPECT_TRUE(parse_cost_map(text, "k2").empty()) << "another scene's map";
  EXPECT_TRUE(parse_cost_map("bnr-cost-map 1 k1\n1\nx\n", "k1").empty());
  EXPECT_TRUE(parse_cost_map("bnr-cost-map 1 k1\n1\n-2\n", "k1").empty());
  EXPECT_TRUE(parse_cost_map("bnr-cost-map 1 k1\n1\ninf\n", "k1").empty());
  EXPECT_TRUE(parse_cost_map("bnr-cost-map 1 k1\n0\n0\n", "k1").empty()) << "a map that costs nothing";
  EXPECT_TRUE(parse_cost_map("bnr-cost-map 1 k1\n", "k1").empty());
  EXPECT_TRUE(parse_cost_map("bnr-cost-map 2 k1\n1\n", "k1").empty()) << "a newer format";
  std::string too_long = "bnr-cost-map 1 k1\n";
  for (std::size_t i = 0; i <= kStoredMapColumns; ++i) too_long += "1\n";
  EXPECT_TRUE(parse_cost_map(too_long, "k1").empty());
}

TEST(CostMapStore, SavedMapsLoadBackByKeyAndTheOldestGo) {
  tools::TempDir dir("bnr-cost-maps");
  const CostMapStore store(dir / "maps");
  EXPECT_TRUE(store.load("k").empty()) << "a first run has none";
  ASSERT_TRUE(store.save("k", {1, 4, 1}));
  EXPECT_EQ(store.load("k"), (std::vector<double>{1, 4, 1}));
  EXPECT_TRUE(store.load(cost_map_key(manifest_of({"x"}), 1)).empty());
  ASSERT_TRUE(store.save("k", std::vector<double>(3000, 2.0)));  // a newer render replaces it
  EXPECT_EQ(store.load("k"), std::vector<double>(kStoredMapColumns, 2.0));
  EXPECT_FALSE(store.save("empty", {}));
  std::filesystem::remove(dir / "maps" / ("map-" + std::string("k") + ".txt"));

  const std::string oldest = cost_map_key(manifest_of({"old"}), std::nullopt);
  ASSERT_TRUE(store.save(oldest, {1.0}));
  for (const auto& entry : std::filesystem::directory_iterator(dir / "maps"))
    std::filesystem::last_write_time(entry.path(), std::filesystem::last_write_time(entry.path()) - std::chrono::hours(1));
  for (std::size_t i = 0; i < CostMapStore::kMaxMaps; ++i)
    ASSERT_TRUE(store.save(cost_map_key(manifest_of({std::to_string(i)}), std::nullopt), {1.0}));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir / "maps")) ++files;
  EXPECT_EQ(files, CostMapStore::kMaxMaps);
  EXPECT_TRUE(store.load(oldest).empty()) << "the map saved longest ago goes first";

  std::ofstream(dir / "maps" / "map-garbage.txt") << "\x01\x02 not a map";
  EXPECT_TRUE(store.load("garbage").empty());
  const CostMapStore nowhere("");
  EXPECT_FALSE(nowhere.save("k", {1.0}));
  EXPECT_TRUE(nowhere.load("k").empty());
}

}  // namespace
}  // namespace bnr::broker
