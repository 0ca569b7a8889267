#include "scene_fetch.h"

#include <algorithm>
#include <utility>

#include "disk_space.h"

namespace bnr::agent {

SceneFetch::SceneFetch(std::string job_id, std::deque<protocol::SceneFile> missing, FetchLimits limits)
    : job_id_(std::move(job_id)), missing_(std::move(missing)), limits_(limits) {}

std::uint64_t SceneFetch::bytes_to_fetch() const {
  std::uint64_t bytes = receiving_ ? receiving_->size() - receiving_->written() : 0;
  for (const protocol::SceneFile& f : missing_) bytes += f.size;
  return bytes;
}

void SceneFetch::start_next(SceneCache& cache, Clock::time_point now, FetchStep& step) {
  while (!receiving_ && !missing_.empty()) {
    const protocol::SceneFile file = missing_.front();
    missing_.pop_front();
    receiving_ = cache.start_blob(file.hash, file.size);
    current_ = file;
    last_chunk_ = now;
    next_offset_ = receiving_->written();
    in_flight_ = 0;
    if (const std::uint64_t resumed = receiving_->resumed(); resumed > 0)
      step.log.push_back("resuming " + file.path + " at " + format_mib(resumed) + " of " + format_mib(file.size) +
                         " (an earlier transfer stopped there)");
    if (receiving_->complete()) {
      cache.commit(std::move(receiving_));
      ++files_fetched_;
    }
  }
}

FetchStep SceneFetch::next(SceneCache& cache, Clock::time_point now) {
  FetchStep step;
  step.log = std::exchange(pending_log_, {});
  start_next(cache, now, step);
  if (!receiving_) return step;
  while (in_flight_ < limits_.window && next_offset_ < receiving_->size()) {
    const std::uint64_t length = std::min(limits_.chunk_bytes, receiving_->size() - next_offset_);
    step.requests.push_back(protocol::FetchChunk{job_id_, receiving_->hash(), next_offset_, length});
    next_offset_ += length;
    ++in_flight_;
  }
  return step;
}

SceneFetch::Answer SceneFetch::receive(SceneCache& cache, const protocol::FileChunk& chunk, std::string_view bytes,
                                       Clock::time_point now) {
  if (!receiving_) return Answer::kNotAsked;
  BlobWriter& w = *receiving_;
  const std::uint64_t expected = std::min(limits_.chunk_bytes, w.size() - w.written());
  // ZeroMQ keeps one connection's messages in order, so an honest broker answers in order.
  if (in_flight_ == 0 || chunk.hash != w.hash() || chunk.offset != w.written() || bytes.size() != expected)
    return Answer::kWrong;
  --in_flight_;
  last_chunk_ = now;
  w.append(bytes);
  bytes_fetched_ += bytes.size();
  if (!w.complete()) return Answer::kTaken;
  const bool resumed = w.resumed() > 0;
  try {
    cache.commit(std::move(receiving_));
  } catch (const std::runtime_error& e) {
    if (!resumed) throw;
    // The bytes an earlier transfer left were bad (torn, or a hostile broker's): the commit
    // deleted them, and this job's broker is asked for the whole file.
    pending_log_.push_back(current_.path + " did not match its content hash with the bytes an earlier transfer "
                           "left; fetching it again whole");
    missing_.push_front(current_);
    return Answer::kTaken;
  }
  ++files_fetched_;
  return Answer::kTaken;
}

}  // namespace bnr::agent
