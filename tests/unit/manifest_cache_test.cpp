#include "manifest_cache.h"

#include <fstream>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace bnr::broker {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

TEST(ManifestCache, HashLinesRoundTripAndGarbageIsSkipped) {
  const FileStamp stamp{123, 456789, 42};
  const std::string hash(64, 'e');
  const std::string text = format_hash_line("/a b/c.png", stamp, hash) + "hash\tnot-a-hash\t1\t2\t3\t/x\n" +
                           "hash\t" + hash + "\tbig\t2\t3\t/y\n" + "junk\n";
  const auto entries = parse_hash_lines(text);
  ASSERT_EQ(entries.size(), 1U);
  EXPECT_EQ(entries[0].file, "/a b/c.png");
  EXPECT_EQ(entries[0].stamp, stamp);
  EXPECT_EQ(entries[0].hash, hash);
}

TEST(ManifestCache, AHashIsReusedOnlyWhileTheFileIsUnchangedAndSurvivesASave) {
  tools::TempDir dir;
  const fs::path file = dir / "tex.png";
  write(file, "pixels");
  const FileStamp stamp = *stamp_of(file);
  const std::string hash(64, 'a');
  {
    ManifestCache cache(dir / "cache");
    EXPECT_FALSE(cache.hash(file, stamp));
    cache.remember_hash(file, stamp, hash);
    EXPECT_EQ(cache.hash(file, stamp), hash);
    ASSERT_TRUE(cache.save());
  }
  ManifestCache again(dir / "cache");
  EXPECT_EQ(again.hash(file, stamp), hash);
  FileStamp changed = stamp;
  changed.mtime_ns += 1;
  EXPECT_FALSE(again.hash(file, changed));
}

TEST(ManifestCache, AListingIsValidUntilTheBlendOrALibraryChanges) {
  tools::TempDir dir;
  const fs::path blend = dir / "scene.blend";
  const fs::path library = dir / "lib.blend";
  write(blend, "scene");
  write(library, "library");
  ManifestCache cache(dir / "cache");
  EXPECT_FALSE(cache.listing(blend));
  cache.remember_listing(blend, {library}, "version\t3.4.1\nfile\t/x.png\n");
  EXPECT_EQ(cache.listing(blend), "version\t3.4.1\nfile\t/x.png\n");
  EXPECT_FALSE(cache.listing(library)) << "another file never answers for it";
  write(library, "library, edited");
  EXPECT_FALSE(cache.listing(blend));
  cache.remember_listing(blend, {library}, "version\t3.4.1\n");
  EXPECT_EQ(cache.listing(blend), "version\t3.4.1\n");
  fs::remove(blend);
  write(blend, "scene, saved again");
  EXPECT_FALSE(cache.listing(blend));
  // Still the guess a job of the edited scene starts on; never another file's.
  EXPECT_EQ(cache.last_listing(blend), "version\t3.4.1\n");
  EXPECT_FALSE(cache.last_listing(library));
}

TEST(ManifestCache, OnlyTheNewestListingsAreKept) {
  tools::TempDir dir;
  ManifestCache cache(dir / "cache");
  const std::size_t n = ManifestCache::kMaxListings + 5;
  for (std::size_t i = 0; i < n; ++i) {
    if (i == n - 1)  // the others were written long ago: the file system's clock is coarse
      for (const auto& e : fs::directory_iterator(dir / "cache"))
        fs::last_write_time(e.path(), fs::file_time_type::clock::now() - std::chrono::hours(1));
    const fs::path blend = dir / ("s" + std::to_string(i) + ".blend");
    write(blend, "scene");
    cache.remember_listing(blend, {}, "version\t3.4.1\n");
  }
  std::size_t listings = 0;
  for (const auto& e : fs::directory_iterator(dir / "cache"))
    listings += e.path().filename().string().rfind("listing-", 0) == 0;
  EXPECT_EQ(listings, ManifestCache::kMaxListings);
  EXPECT_TRUE(cache.listing(dir / ("s" + std::to_string(n - 1) + ".blend"))) << "the newest stays";
}

TEST(ManifestCache, WithoutADirectoryNothingIsRemembered) {
  ManifestCache cache{fs::path()};
  cache.remember_listing("/nonexistent.blend", {}, "version\t3.4.1\n");
  EXPECT_FALSE(cache.listing("/nonexistent.blend"));
  EXPECT_FALSE(cache.save());
}

}  // namespace
}  // namespace bnr::broker
