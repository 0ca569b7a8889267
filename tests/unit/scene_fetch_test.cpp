#include "scene_fetch.h"

#include <gtest/gtest.h>

#include <fstream>

#include "content_hash.h"
#include "temp_dir.h"

namespace bnr::agent {
namespace {

using Clock = SceneFetch::Clock;
namespace fs = std::filesystem;

protocol::SceneFile file_of(const std::string& path, const std::string& bytes) {
  return {path, bytes.size(), tools::content_hash(bytes)};
}

// The broker's side: answers each request with the bytes it asks for.
void answer_all(SceneFetch& fetch, SceneCache& cache, const std::string& bytes, std::vector<protocol::FetchChunk> asked,
                Clock::time_point now) {
  while (!asked.empty()) {
    std::vector<protocol::FetchChunk> more;
    for (const protocol::FetchChunk& f : asked) {
      ASSERT_EQ(fetch.receive(cache, {f.job_id, f.hash, f.offset}, std::string_view(bytes).substr(f.offset, f.length), now),
                SceneFetch::Answer::kTaken);
      for (const protocol::FetchChunk& r : fetch.next(cache, now).requests)
        if (r.hash == f.hash) more.push_back(r);
    }
    asked = std::move(more);
  }
}

TEST(SceneFetch, AsksForOneFileAtATimeInAWindowOfChunks) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string a(10, 'a'), b = "bbbbb";
  const Clock::time_point t0{};
  SceneFetch fetch("j", {file_of("s/a.blend", a), file_of("s/b.png", b)}, {2, 3, std::chrono::seconds(30)});
  EXPECT_EQ(fetch.bytes_to_fetch(), 15U);
  FetchStep step = fetch.next(cache, t0);
  ASSERT_EQ(step.requests.size(), 2U) << "a window of two";
  EXPECT_EQ(step.requests[0].offset, 0U);
  EXPECT_EQ(step.requests[0].length, 3U);
  EXPECT_EQ(step.requests[1].offset, 3U);
  EXPECT_EQ(step.requests[0].hash, tools::content_hash(a));
  EXPECT_TRUE(fetch.next(cache, t0).requests.empty()) << "the window is full";
  EXPECT_EQ(fetch.receive(cache, {"j", step.requests[0].hash, 0}, "aaa", t0), SceneFetch::Answer::kTaken);
  step = fetch.next(cache, t0);
  ASSERT_EQ(step.requests.size(), 1U);
  EXPECT_EQ(step.requests[0].offset, 6U);
  EXPECT_EQ(fetch.receive(cache, {"j", step.requests[0].hash, 3}, "aaa", t0), SceneFetch::Answer::kTaken);
  EXPECT_EQ(fetch.receive(cache, {"j", step.requests[0].hash, 6}, "aaa", t0), SceneFetch::Answer::kTaken);
  step = fetch.next(cache, t0);
  ASSERT_EQ(step.requests.size(), 1U);
  EXPECT_EQ(step.requests[0].offset, 9U);
  EXPECT_EQ(step.requests[0].length, 1U) << "the file's last byte";
  EXPECT_EQ(fetch.receive(cache, {"j", step.requests[0].hash, 9}, "a", t0), SceneFetch::Answer::kTaken);
  EXPECT_TRUE(cache.has(tools::content_hash(a)));
  step = fetch.next(cache, t0);  // the next file
  ASSERT_EQ(step.requests.size(), 2U);
  EXPECT_EQ(step.requests[0].hash, tools::content_hash(b));
  answer_all(fetch, cache, b, step.requests, t0);
  EXPECT_TRUE(fetch.done());
  EXPECT_TRUE(cache.has(tools::content_hash(b)));
  EXPECT_EQ(fetch.files_fetched(), 2U);
  EXPECT_EQ(fetch.bytes_fetched(), 15U);
  EXPECT_EQ(fetch.bytes_to_fetch(), 0U);
}

TEST(SceneFetch, AChunkNotAskedForNextIsWrongAndOneAfterTheFilesAreInIsIgnored) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string a = "abcdef";
  const std::string hash = tools::content_hash(a);
  SceneFetch fetch("j", {file_of("a.blend", a)}, {4, 4, std::chrono::seconds(30)});
  (void)fetch.next(cache, Clock::time_point{});
  const Clock::time_point t{};
  EXPECT_EQ(fetch.receive(cache, {"j", hash, 4}, "ef", t), SceneFetch::Answer::kWrong) << "out of order";
  EXPECT_EQ(fetch.receive(cache, {"j", tools::content_hash("x"), 0}, "abcd", t), SceneFetch::Answer::kWrong);
  EXPECT_EQ(fetch.receive(cache, {"j", hash, 0}, "abc", t), SceneFetch::Answer::kWrong) << "short";
  EXPECT_EQ(fetch.receive(cache, {"j", hash, 0}, "abcd", t), SceneFetch::Answer::kTaken);
  EXPECT_EQ(fetch.receive(cache, {"j", hash, 4}, "ef", t), SceneFetch::Answer::kTaken);
  EXPECT_TRUE(fetch.done());
  EXPECT_EQ(fetch.receive(cache, {"j", hash, 4}, "ef", t), SceneFetch::Answer::kNotAsked);
}

TEST(SceneFetch, BytesThatDoNotMatchTheHashFailTheFile) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  SceneFetch fetch("j", {file_of("a.blend", "real")}, {});
  (void)fetch.next(cache, Clock::time_point{});
  EXPECT_THROW((void)fetch.receive(cache, {"j", tools::content_hash("real"), 0}, "fake", Clock::time_point{}),
               std::runtime_error);
  EXPECT_FALSE(cache.has(tools::content_hash("real")));
}

TEST(SceneFetch, ATransferAnEarlierJobLeftResumesWhereItStopped) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string a = "0123456789";
  const Clock::time_point t0{};
  {
    SceneFetch first("j1", {file_of("a.blend", a)}, {8, 4, std::chrono::seconds(30)});
    (void)first.next(cache, t0);
    ASSERT_EQ(first.receive(cache, {"j1", tools::content_hash(a), 0}, "0123", t0), SceneFetch::Answer::kTaken);
  }  // the job ended half-way
  SceneFetch second("j2", {file_of("a.blend", a)}, {8, 4, std::chrono::seconds(30)});
  const FetchStep step = second.next(cache, t0);
  ASSERT_EQ(step.requests.size(), 2U);
  EXPECT_EQ(step.requests[0].offset, 4U);
  EXPECT_EQ(step.requests[1].offset, 8U);
  ASSERT_EQ(step.log.size(), 1U);
  EXPECT_NE(step.log[0].find("resuming a.blend"), std::string::npos) << step.log[0];
  answer_all(second, cache, a, step.requests, t0);
  EXPECT_TRUE(second.done());
  EXPECT_TRUE(cache.has(tools::content_hash(a)));
  EXPECT_EQ(second.bytes_fetched(), 6U) << "only what the first job did not get";
}

TEST(SceneFetch, BadBytesAnEarlierTransferLeftAreFetchedAgainWhole) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string a = "0123456789";
  const std::string hash = tools::content_hash(a);
  std::ofstream(tmp / "cache" / "partial" / hash, std::ios::binary) << "XXXX";  // torn, or a hostile broker's
  SceneFetch fetch("j", {file_of("a.blend", a)}, {8, 4, std::chrono::seconds(30)});
  const Clock::time_point t0{};
  FetchStep step = fetch.next(cache, t0);
  ASSERT_EQ(step.requests.size(), 2U);
  EXPECT_EQ(step.requests[0].offset, 4U);
  EXPECT_EQ(fetch.receive(cache, {"j", hash, 4}, "4567", t0), SceneFetch::Answer::kTaken);
  EXPECT_EQ(fetch.receive(cache, {"j", hash, 8}, "89", t0), SceneFetch::Answer::kTaken);
  EXPECT_FALSE(cache.has(hash));
  EXPECT_FALSE(fetch.done());
  step = fetch.next(cache, t0);
  ASSERT_EQ(step.log.size(), 1U);
  EXPECT_NE(step.log[0].find("fetching it again whole"), std::string::npos) << step.log[0];
  ASSERT_FALSE(step.requests.empty());
  EXPECT_EQ(step.requests[0].offset, 0U);
  answer_all(fetch, cache, a, step.requests, t0);
  EXPECT_TRUE(fetch.done());
  EXPECT_TRUE(cache.has(hash));
}

TEST(SceneFetch, AnEmptyFileOrATransferParkedWholeNeedsNoRequest) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string whole = "all here";
  std::ofstream(tmp / "cache" / "partial" / tools::content_hash(whole), std::ios::binary) << whole;
  SceneFetch fetch("j", {file_of("empty.txt", ""), file_of("whole.blend", whole)}, {});
  const FetchStep step = fetch.next(cache, Clock::time_point{});
  EXPECT_TRUE(step.requests.empty());
  EXPECT_TRUE(fetch.done());
  EXPECT_TRUE(cache.has(tools::content_hash("")));
  EXPECT_TRUE(cache.has(tools::content_hash(whole)));
}

TEST(SceneFetch, AFileWithNoChunkForTheStallTimeHasStalled) {
  const tools::TempDir tmp;
  SceneCache cache(tmp / "cache", 1 << 20);
  const std::string a = "abcdefgh";
  SceneFetch fetch("j", {file_of("a.blend", a)}, {1, 4, std::chrono::seconds(30)});
  const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1);
  EXPECT_FALSE(fetch.stalled(t0 + std::chrono::hours(1))) << "nothing asked yet";
  (void)fetch.next(cache, t0);
  EXPECT_FALSE(fetch.stalled(t0 + std::chrono::seconds(30)));
  EXPECT_TRUE(fetch.stalled(t0 + std::chrono::seconds(31)));
  ASSERT_EQ(fetch.receive(cache, {"j", tools::content_hash(a), 0}, "abcd", t0 + std::chrono::seconds(20)),
            SceneFetch::Answer::kTaken);
  EXPECT_FALSE(fetch.stalled(t0 + std::chrono::seconds(45))) << "a chunk came since";
  (void)fetch.next(cache, t0 + std::chrono::seconds(20));
  ASSERT_EQ(fetch.receive(cache, {"j", tools::content_hash(a), 4}, "efgh", t0 + std::chrono::seconds(21)),
            SceneFetch::Answer::kTaken);
  EXPECT_TRUE(fetch.done());
  EXPECT_FALSE(fetch.stalled(t0 + std::chrono::hours(2)));
}

}  // namespace
}  // namespace bnr::agent
