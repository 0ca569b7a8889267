#include "scene_cache.h"

#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "content_hash.h"
#include "temp_dir.h"

namespace bnr::agent {
namespace {
namespace fs = std::filesystem;

// Writes `bytes` into the cache in pieces of `piece` bytes, returns the hash.
std::string put(SceneCache& cache, const std::string& bytes, std::size_t piece = 3) {
  const std::string hash = tools::content_hash(bytes);
  auto writer = cache.start_blob(hash, bytes.size());
  for (std::size_t i = 0; i < bytes.size(); i += piece) writer->append(std::string_view(bytes).substr(i, piece));
  cache.commit(std::move(writer));
  return hash;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// Fixed mtimes, `seconds` after 2001-09-09: tests never read the clock or sleep.
fs::file_time_type at(int seconds) {
  return fs::file_time_type::clock::from_sys(std::chrono::sys_seconds{std::chrono::seconds(1'000'000'000 + seconds)});
}

// Three 10-byte blobs, a the oldest and c the newest.
std::array<std::string, 3> three_aged_blobs(SceneCache& cache) {
  std::array<std::string, 3> out;
  for (int i = 0; i < 3; ++i) {
    out[i] = put(cache, std::string(10, static_cast<char>('a' + i)));
    fs::last_write_time(cache.blob_path(out[i]), at(100 * (i + 1)));
  }
  return out;
}

protocol::SceneFile scene_file(std::string path, const std::string& bytes) {
  return {std::move(path), bytes.size(), tools::content_hash(bytes)};
}

TEST(SafeTreePath, AcceptsANestedRelativePath) {
  const auto p = safe_tree_path("home/u/proj/scene.blend");
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, fs::path("home/u/proj/scene.blend"));
  EXPECT_TRUE(safe_tree_path("a"));
  EXPECT_TRUE(safe_tree_path("a/..b/c..d/.e/f."));
}

TEST(SafeTreePath, RefusesEscapesAbsolutePathsAndOddComponents) {
  for (const std::string bad : {"../x", "a/../../x", "..", "/etc/passwd", "a//b", "./a", "a/.", "a/", "/",
                                "a\\b", "..\\x", ""}) {
    EXPECT_FALSE(safe_tree_path(bad)) << bad;
  }
  EXPECT_FALSE(safe_tree_path(std::string("a\0b", 3)));
  EXPECT_FALSE(safe_tree_path(std::string("a/b\0", 4)));
}

TEST(SafeTreePath, RefusesOverlongPathsComponentsAndDepths) {
  EXPECT_TRUE(safe_tree_path(std::string(255, 'x')));
  EXPECT_FALSE(safe_tree_path(std::string(256, 'x')));

  std::string deep = "a";
  for (int i = 1; i < 256; ++i) deep += "/a";
  EXPECT_TRUE(safe_tree_path(deep));
  EXPECT_FALSE(safe_tree_path(deep + "/a"));

  std::string long_path = std::string(200, 'x');
  while (long_path.size() < protocol::kMaxPathBytes) long_path += "/" + std::string(200, 'x');
  long_path.resize(protocol::kMaxPathBytes);
  if (long_path.back() == '/') long_path.back() = 'x';
  EXPECT_TRUE(safe_tree_path(long_path));
  EXPECT_FALSE(safe_tree_path(long_path + "x"));
}

// Every string of up to 7 characters over {a . / \}: whatever is accepted stays in the root.
TEST(SafeTreePath, NoAcceptedPathLeavesTheRoot) {
  const std::string alphabet = "a./\\";
  const fs::path root = "/r/root";
  std::vector<std::string> level = {""};
  int accepted = 0;
  for (int length = 1; length <= 7; ++length) {
    std::vector<std::string> next;
    for (const std::string& s : level)
      for (char c : alphabet) next.push_back(s + c);
    for (const std::string& s : next) {
      const auto p = safe_tree_path(s);
      if (!p) continue;
      ++accepted;
      const fs::path joined = (root / *p).lexically_normal();
      const fs::path rel = joined.lexically_relative(root);
      ASSERT_FALSE(rel.empty()) << s;
      ASSERT_NE(*rel.begin(), "..") << s;
      ASSERT_NE(rel, ".") << s;
    }
    level = std::move(next);
  }
  EXPECT_GT(accepted, 100);
}

TEST(SceneCache, BlobWrittenInPiecesIsFoundByTheNextCacheOnTheSameDirectory) {
  const tools::TempDir tmp;
  const std::string bytes = "a scene file, written in pieces of three bytes";
  std::string hash;
  {
    SceneCache cache(tmp / "cache", 1 << 20);
    EXPECT_EQ(cache.total_bytes(), 0U);
    hash = tools::content_hash(bytes);
    EXPECT_FALSE(cache.has(hash));
    auto writer = cache.start_blob(hash, bytes.size());
    writer->append(std::string_view(bytes).substr(0, 10));
    EXPECT_EQ(writer->written(), 10U);
    EXPECT_FALSE(writer->complete());
    writer->append(std::string_view(bytes).substr(10));
    EXPECT_TRUE(writer->complete());
    cache.commit(std::move(writer));
    EXPECT_TRUE(cache.has(hash));
    EXPECT_EQ(cache.total_bytes(), bytes.size());
  }
  const SceneCache again(tmp / "cache", 1 << 20);
  EXPECT_TRUE(again.has(hash));
  EXPECT_EQ(again.total_bytes(), bytes.size());
  EXPECT_EQ(again.limit_bytes(), 1U << 20);
  EXPECT_EQ(read_all(again.blob_path(hash)), bytes);
  EXPECT_TRUE(fs::is_empty(tmp / "cache" / "partial"));
}

TEST(SceneCache, EmptyFileIsABlobLikeAnyOther) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 100);
  const std::string hash = put(cache, "");
  EXPECT_TRUE(cache.has(hash));
  EXPECT_EQ(fs::file_size(cache.blob_path(hash)), 0U);
}

TEST(SceneCache, BlobWhoseBytesDoNotMatchItsHashIsRefusedAndLeavesNothingBehind) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string claimed = tools::content_hash("the real bytes");
  auto writer = cache.start_blob(claimed, 14);
  writer->append("forged bytes!!");
  try {
    cache.commit(std::move(writer));
    FAIL() << "a forged blob was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match its content hash"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(cache.has(claimed));
  EXPECT_EQ(cache.total_bytes(), 0U);
  EXPECT_TRUE(fs::is_empty(tmp / "cache" / "blobs"));
  EXPECT_TRUE(fs::is_empty(tmp / "cache" / "partial"));
}

TEST(SceneCache, AppendingBeyondTheDeclaredSizeThrows) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  auto writer = cache.start_blob(tools::content_hash("12345"), 5);
  writer->append("1234");
  EXPECT_THROW(writer->append("56"), std::runtime_error);
  EXPECT_EQ(writer->written(), 4U);
  writer->append("5");
  EXPECT_TRUE(writer->complete());
  EXPECT_THROW(writer->append("6"), std::runtime_error);
  cache.commit(std::move(writer));
  EXPECT_TRUE(cache.has(tools::content_hash("12345")));
}

TEST(SceneCache, CommittingAnIncompleteBlobThrowsAndDeletesIt) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  auto writer = cache.start_blob(tools::content_hash("12345"), 5);
  writer->append("123");
  EXPECT_THROW(cache.commit(std::move(writer)), std::runtime_error);
  EXPECT_TRUE(fs::is_empty(tmp / "cache" / "partial"));
  EXPECT_FALSE(cache.has(tools::content_hash("12345")));
}

TEST(SceneCache, WriterDroppedWithoutCommitParksWhatItWroteForTheNextWriter) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string bytes = "a transfer that broke half-way";
  const std::string hash = tools::content_hash(bytes);
  {
    auto writer = cache.start_blob(hash, bytes.size());
    EXPECT_EQ(writer->resumed(), 0U);
    writer->append(std::string_view(bytes).substr(0, 11));
    EXPECT_TRUE(fs::exists(tmp / "cache" / "partial" / hash));
    // The same hash cannot be received twice at once.
    EXPECT_THROW((void)cache.start_blob(hash, bytes.size()), std::runtime_error);
  }
  EXPECT_EQ(read_all(tmp / "cache" / "partial" / hash), bytes.substr(0, 11));
  auto writer = cache.start_blob(hash, bytes.size());
  EXPECT_EQ(writer->resumed(), 11U);
  EXPECT_EQ(writer->written(), 11U);
  writer->append(std::string_view(bytes).substr(11));
  cache.commit(std::move(writer));  // the bytes before and after the break hash to the file's hash
  EXPECT_EQ(read_all(cache.blob_path(hash)), bytes);
  EXPECT_TRUE(fs::is_empty(tmp / "cache" / "partial"));
}

TEST(SceneCache, AWriterDroppedBeforeAnyByteLeavesNothing) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string hash = tools::content_hash("abc");
  (void)cache.start_blob(hash, 3);
  EXPECT_TRUE(fs::is_empty(tmp / "cache" / "partial"));
  put(cache, "abc");
  EXPECT_TRUE(cache.has(hash));
}

TEST(SceneCache, AParkedTransferWithWrongBytesFailsItsCommitAndStartsOverNextTime) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string bytes = "the real file";
  const std::string hash = tools::content_hash(bytes);
  write_file(tmp / "cache" / "partial" / hash, "the fake");  // a torn or tampered prefix
  auto writer = cache.start_blob(hash, bytes.size());
  EXPECT_EQ(writer->resumed(), 8U);
  writer->append(std::string_view(bytes).substr(8));
  EXPECT_THROW(cache.commit(std::move(writer)), std::runtime_error);
  EXPECT_FALSE(cache.has(hash));
  EXPECT_TRUE(fs::is_empty(tmp / "cache" / "partial"));
  auto again = cache.start_blob(hash, bytes.size());
  EXPECT_EQ(again->resumed(), 0U);
  again->append(bytes);
  cache.commit(std::move(again));
  EXPECT_TRUE(cache.has(hash));
}

TEST(SceneCache, AParkedFileACommitLeftReadOnlyIsReceivedAgain) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string hash = tools::content_hash("abc");
  const fs::path parked = tmp / "cache" / "partial" / hash;
  write_file(parked, "ab");
  fs::permissions(parked, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  auto writer = cache.start_blob(hash, 3);  // resumed (root may write it) or started afresh
  writer->append(std::string("abc").substr(writer->written()));
  cache.commit(std::move(writer));
  EXPECT_EQ(read_all(cache.blob_path(hash)), "abc");
}

TEST(SceneCache, AParkedTransferLongerThanTheFileIsNotResumed) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string hash = tools::content_hash("abc");
  write_file(tmp / "cache" / "partial" / hash, "abcdef");
  auto writer = cache.start_blob(hash, 3);
  EXPECT_EQ(writer->written(), 0U);
  writer->append("abc");
  cache.commit(std::move(writer));
  EXPECT_EQ(read_all(cache.blob_path(hash)), "abc");
}

TEST(SceneCache, ParkedTransfersSurviveReopeningAndGoWhenAJobNeedsOtherFiles) {
  const tools::TempDir tmp;
  const std::string a = tools::content_hash("file a"), b = tools::content_hash("file b"),
                    c = tools::content_hash("file c");
  {
    SceneCache cache(tmp / "cache", 1 << 20);
    for (const std::string& h : {a, b}) cache.start_blob(h, 6)->append("file");
  }
  SceneCache cache(tmp / "cache", 1 << 20);  // an agent restarted
  const fs::path partial = tmp / "cache" / "partial";
  EXPECT_TRUE(fs::exists(partial / a));
  EXPECT_TRUE(fs::exists(partial / b));
  auto receiving = cache.start_blob(c, 6);  // a live transfer is never dropped
  receiving->append("fi");
  cache.drop_partials_except({a});
  EXPECT_TRUE(fs::exists(partial / a));
  EXPECT_FALSE(fs::exists(partial / b));
  EXPECT_TRUE(fs::exists(partial / c));
  EXPECT_EQ(cache.start_blob(a, 6)->resumed(), 4U);
}

TEST(SceneCache, HashesThatAreNotContentHashesAreRefused) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  EXPECT_FALSE(cache.has("../../etc/passwd"));
  EXPECT_FALSE(cache.has(std::string(64, 'A')));
  EXPECT_THROW((void)cache.start_blob("../x", 1), std::invalid_argument);
  EXPECT_THROW((void)cache.blob_path(std::string(63, 'a')), std::invalid_argument);
}

TEST(SceneCache, StrayFilesAreRemovedOnOpening) {
  const tools::TempDir tmp;
  std::string hash;
  {
    SceneCache cache(tmp / "cache", 1 << 20);
    hash = put(cache, "kept");
  }
  const fs::path partial = tmp / "cache" / "partial";
  const fs::path blobs = tmp / "cache" / "blobs";
  write_file(partial / tools::content_hash("half"), "ha");  // parked: resumed by the next job
  write_file(partial / "not-a-hash", "junk");
  fs::create_directory(partial / "odd");
  write_file(blobs / "not-a-hash", "junk");
  write_file(blobs / std::string(64, 'A'), "upper-case hex is not ours");
  fs::create_symlink("/etc/passwd", blobs / tools::content_hash("link"));

  const SceneCache cache(tmp / "cache", 1 << 20);
  EXPECT_EQ(std::distance(fs::directory_iterator(partial), fs::directory_iterator()), 1);
  EXPECT_TRUE(fs::exists(partial / tools::content_hash("half")));
  EXPECT_EQ(std::distance(fs::directory_iterator(blobs), fs::directory_iterator()), 1);
  EXPECT_TRUE(cache.has(hash));
  EXPECT_FALSE(cache.has(tools::content_hash("link")));
  EXPECT_EQ(cache.total_bytes(), 4U);
}

TEST(SceneCache, JobTreesLeftByACrashedAgentAreRemovedOnOpening) {
  const tools::TempDir tmp;
  std::string hash;
  {
    SceneCache cache(tmp / "cache", 1 << 20);
    hash = put(cache, "scene bytes");
    cache.materialize({{"home/u/s.blend", 11, hash}}, cache.jobs_dir() / "job-crashed");
  }
  ASSERT_TRUE(fs::exists(tmp / "cache" / "jobs" / "job-crashed" / "home" / "u" / "s.blend"));
  const SceneCache cache(tmp / "cache", 1 << 20);
  EXPECT_TRUE(fs::is_empty(cache.jobs_dir()));
  EXPECT_TRUE(cache.has(hash)) << "the blob itself stays cached";
}

TEST(SceneCache, ASecondCacheOnTheSameDirectoryIsRefused) {
  const tools::TempDir tmp;
  const SceneCache first(tmp / "cache", 100);
  EXPECT_THROW(SceneCache(tmp / "cache", 100), std::runtime_error);
}

TEST(SceneCache, DirectoryThatCannotBeCreatedThrows) {
  const tools::TempDir tmp;
  write_file(tmp / "file", "x");
  try {
    const SceneCache cache(tmp / "file" / "cache", 100);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create scene cache directory"), std::string::npos) << e.what();
  }
}

TEST(SceneCache, EvictsLeastRecentlyUsedBlobsFirst) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 25);
  const std::string a = put(cache, std::string(10, 'a'));
  const std::string b = put(cache, std::string(10, 'b'));
  const std::string c = put(cache, std::string(10, 'c'));
  const std::string d = put(cache, std::string(10, 'd'));
  fs::last_write_time(cache.blob_path(a), at(400));
  fs::last_write_time(cache.blob_path(b), at(100));  // the oldest
  fs::last_write_time(cache.blob_path(c), at(200));
  fs::last_write_time(cache.blob_path(d), at(300));
  EXPECT_EQ(cache.total_bytes(), 40U);

  cache.evict({});
  EXPECT_FALSE(cache.has(b));
  EXPECT_FALSE(cache.has(c));
  EXPECT_TRUE(cache.has(d));
  EXPECT_TRUE(cache.has(a));
  EXPECT_EQ(cache.total_bytes(), 20U);
  EXPECT_FALSE(fs::exists(tmp / "cache" / "blobs" / b));
}

TEST(SceneCache, TouchMakesABlobTheMostRecentlyUsed) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 15);
  const std::string a = put(cache, std::string(10, 'a'));
  const std::string b = put(cache, std::string(10, 'b'));
  fs::last_write_time(cache.blob_path(a), at(100));
  fs::last_write_time(cache.blob_path(b), at(200));
  cache.touch(a, at(300));
  cache.touch(tools::content_hash("absent"), at(400));  // no effect, no error
  cache.evict({});
  EXPECT_TRUE(cache.has(a));
  EXPECT_FALSE(cache.has(b));
}

TEST(SceneCache, TouchWithoutATimeStampsTheKernelsNow) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 100);
  const std::string a = put(cache, "a");
  fs::last_write_time(cache.blob_path(a), at(0));
  cache.touch(a);
  EXPECT_GT(fs::last_write_time(cache.blob_path(a)), at(0));
}

TEST(SceneCache, EvictionKeepsTheBlobsAJobNeedsEvenOverTheLimit) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 15);
  const auto [a, b, c] = three_aged_blobs(cache);

  cache.evict({a, b});
  EXPECT_TRUE(cache.has(a));
  EXPECT_TRUE(cache.has(b));
  EXPECT_FALSE(cache.has(c));
  EXPECT_EQ(cache.total_bytes(), 20U);
}

TEST(SceneCache, FreeingUpSpaceEvictsOldestFirstUntilEnoughIsFreedEvenUnderTheLimit) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1000);
  const auto [a, b, c] = three_aged_blobs(cache);

  EXPECT_EQ(cache.free_up({a}, 15), 20U) << "a is kept; b then c go, whole blobs";
  EXPECT_TRUE(cache.has(a));
  EXPECT_FALSE(cache.has(b));
  EXPECT_FALSE(cache.has(c));
  EXPECT_EQ(cache.free_up({a}, 5), 0U) << "nothing else to free";
  EXPECT_EQ(cache.free_up({}, 0), 0U);
  EXPECT_TRUE(cache.has(a));
}

TEST(SceneCache, EvictionForgetsBlobsDeletedBehindItsBack) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 15);
  const std::string a = put(cache, std::string(10, 'a'));
  const std::string b = put(cache, std::string(10, 'b'));
  fs::last_write_time(cache.blob_path(a), at(100));
  fs::last_write_time(cache.blob_path(b), at(200));
  fs::remove(cache.blob_path(b));
  EXPECT_FALSE(cache.has(b));  // fetched again rather than trusted
  cache.evict({});
  EXPECT_TRUE(cache.has(a));
  EXPECT_EQ(cache.total_bytes(), 10U);
}

TEST(SceneCache, MaterializePlacesIdenticalBytesAtNestedPaths) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string blend = "BLENDER-v304 scene bytes";
  const std::string texture = "PNG texture bytes";
  put(cache, blend);
  put(cache, texture);
  const std::vector<protocol::SceneFile> files = {
      scene_file("home/u/proj/scene.blend", blend),
      scene_file("home/u/proj/textures/wood.png", texture),
      scene_file("home/u/lib/wood_copy.png", texture),  // one blob at two paths
      scene_file("home/u/proj/scene.blend", blend),     // listed twice: harmless
  };
  const fs::path root = tmp / "job";
  cache.materialize(files, root);
  EXPECT_EQ(read_all(root / "home/u/proj/scene.blend"), blend);
  EXPECT_EQ(read_all(root / "home/u/proj/textures/wood.png"), texture);
  EXPECT_EQ(read_all(root / "home/u/lib/wood_copy.png"), texture);
  EXPECT_TRUE(fs::equivalent(root / "home/u/lib/wood_copy.png", cache.blob_path(tools::content_hash(texture))));

  // Read-only, so nothing writing to a job's file changes the cached bytes.
  struct stat st {};
  ASSERT_EQ(::stat((root / "home/u/proj/scene.blend").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0U);

  cache.materialize(files, root);  // again over what it built: nothing to do, no error
  EXPECT_EQ(read_all(root / "home/u/proj/scene.blend"), blend);
}

TEST(SceneCache, MaterializeCopiesWhenTheJobIsOnAnotherFilesystem) {
  const tools::TempDir tmp;
  std::string shm = "/dev/shm/bnr-test-XXXXXX";
  if (!fs::is_directory("/dev/shm") || ::mkdtemp(shm.data()) == nullptr) GTEST_SKIP() << "no /dev/shm";
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{shm};
  struct stat a {}, b {};
  ASSERT_EQ(::stat(shm.c_str(), &a), 0);
  ASSERT_EQ(::stat(tmp.path().c_str(), &b), 0);
  if (a.st_dev == b.st_dev) GTEST_SKIP() << "/dev/shm is on the same filesystem as " << tmp.path();

  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string blend = "scene bytes";
  put(cache, blend);
  cache.materialize({scene_file("p/scene.blend", blend)}, fs::path(shm) / "job");
  EXPECT_EQ(read_all(fs::path(shm) / "job/p/scene.blend"), blend);
}

TEST(SceneCache, MaterializeRefusesAnUnsafePathBeforeCreatingAnything) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  put(cache, "x");
  const fs::path root = tmp / "job";
  fs::create_directory(root);
  try {
    cache.materialize({scene_file("a/b/fine", "x"), scene_file("a/../../escape", "x")}, root);
    FAIL() << "an unsafe path was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("a/../../escape"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(root));
  EXPECT_FALSE(fs::exists(tmp / "escape"));
  EXPECT_THROW(cache.materialize({scene_file("/etc/x", "x")}, root), std::runtime_error);
}

TEST(SceneCache, MaterializeRefusesTwoDifferentFilesAtOnePath) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  put(cache, "one");
  put(cache, "two");
  const fs::path root = tmp / "job";
  EXPECT_THROW(cache.materialize({scene_file("a/f", "one"), scene_file("a/f", "two")}, root), std::runtime_error);
  EXPECT_FALSE(fs::exists(root / "a"));
}

TEST(SceneCache, MaterializeRefusesAFileThatIsAlsoADirectory) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  put(cache, "one");
  put(cache, "two");
  const fs::path root = tmp / "job";
  EXPECT_THROW(cache.materialize({scene_file("a/b/c", "one"), scene_file("a/b", "two")}, root), std::runtime_error);
  EXPECT_THROW(cache.materialize({scene_file("a", "two"), scene_file("a/b/c", "one")}, root), std::runtime_error);
  EXPECT_FALSE(fs::exists(root / "a"));
}

TEST(SceneCache, MaterializeRefusesASymlinkUnderTheRoot) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  put(cache, "x");
  const fs::path root = tmp / "job";
  fs::create_directories(root / "a");
  fs::create_directory(tmp / "elsewhere");
  fs::create_directory_symlink(tmp / "elsewhere", root / "a" / "b");
  EXPECT_THROW(cache.materialize({scene_file("a/b/c/f", "x")}, root), std::runtime_error);
  fs::create_symlink(tmp / "elsewhere" / "f", root / "a" / "f");
  EXPECT_THROW(cache.materialize({scene_file("a/f", "x")}, root), std::runtime_error);
  EXPECT_TRUE(fs::is_empty(tmp / "elsewhere"));
}

TEST(SceneCache, MaterializeRefusesToOverwriteAnExistingFile) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  put(cache, "x");
  const fs::path root = tmp / "job";
  fs::create_directories(root / "a");
  write_file(root / "a" / "f", "someone else's");
  EXPECT_THROW(cache.materialize({scene_file("a/f", "x")}, root), std::runtime_error);
  EXPECT_EQ(read_all(root / "a" / "f"), "someone else's");
}

TEST(SceneCache, MaterializeRefusesABlobThatIsNotCached) {
  const tools::TempDir tmp;
  const SceneCache cache(tmp / "cache", 1 << 20);
  try {
    cache.materialize({scene_file("a/scene.blend", "never received")}, tmp / "job");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("a/scene.blend"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cache.materialize({{"a/b", 1, "../../etc/passwd"}}, tmp / "job"), std::runtime_error);
}

}  // namespace
}  // namespace bnr::agent
