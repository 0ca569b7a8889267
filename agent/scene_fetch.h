// Getting one job's missing files from its broker into the agent's cache: one file at a time,
// in chunks with a window of requests in flight (the transfer's flow control), straight to
// disk, resuming where a transfer an earlier job left stopped (SceneCache's parked partial
// files). Files only: the agent's loop sends the requests this returns and feeds it the
// broker's answers and the time.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "messages.h"
#include "scene_cache.h"

namespace bnr::agent {

struct FetchLimits {
  int window = 8;                     // FetchChunk requests in flight
  std::uint64_t chunk_bytes = 1 << 20;
  // No chunk for this long while a file is being received: the transfer broke (chunks travel
  // in order over one connection, so one that never comes was lost with a connection).
  std::chrono::steady_clock::duration stall = std::chrono::seconds(30);
};

// What to do next: send these requests; log these lines.
struct FetchStep {
  std::vector<protocol::FetchChunk> requests;
  std::vector<std::string> log;
};

class SceneFetch {
 public:
  using Clock = std::chrono::steady_clock;

  // `missing`: the job's files the cache lacks, one per hash.
  SceneFetch(std::string job_id, std::deque<protocol::SceneFile> missing, FetchLimits limits);

  // Starts the next file when none is being received (committing it at once when nothing is
  // left to ask: an empty file, or a transfer parked whole) and tops the window up. Throws
  // std::runtime_error when the cache cannot take a file.
  [[nodiscard]] FetchStep next(SceneCache& cache, Clock::time_point now);

  enum class Answer {
    kTaken,     // written; call next()
    kNotAsked,  // no file is being received: a late answer to an ended transfer, ignored
    kWrong,     // not the chunk asked for next (another file, offset or length)
  };
  // Writes a FileChunk's bytes, and commits the file when they complete it. Throws
  // std::runtime_error when they cannot be written or the file does not match its hash (one
  // resumed from an earlier transfer is fetched again whole instead).
  [[nodiscard]] Answer receive(SceneCache& cache, const protocol::FileChunk& chunk, std::string_view bytes,
                               Clock::time_point now);

  [[nodiscard]] bool done() const { return !receiving_ && missing_.empty(); }
  [[nodiscard]] bool stalled(Clock::time_point now) const { return receiving_ && now - last_chunk_ > limits_.stall; }
  // Bytes of the files still to fetch, the one being received included.
  [[nodiscard]] std::uint64_t bytes_to_fetch() const;
  [[nodiscard]] std::uint32_t files_fetched() const { return files_fetched_; }
  [[nodiscard]] std::uint64_t bytes_fetched() const { return bytes_fetched_; }  // received by this job

 private:
  void start_next(SceneCache& cache, Clock::time_point now, FetchStep& step);

  std::string job_id_;
  std::deque<protocol::SceneFile> missing_;
  FetchLimits limits_;
  std::unique_ptr<BlobWriter> receiving_;
  protocol::SceneFile current_;  // the file receiving_ writes
  std::vector<std::string> pending_log_;  // for the next step
  std::uint64_t next_offset_ = 0;  // the next offset to ask for
  int in_flight_ = 0;
  Clock::time_point last_chunk_;   // or when the file being received was started
  std::uint32_t files_fetched_ = 0;
  std::uint64_t bytes_fetched_ = 0;
};

}  // namespace bnr::agent
