// The agent's content-addressed cache of scene files, and the job directories built from it.
//
// Layout under the cache directory:
//   blobs/<hash>    one complete, verified file per content hash (read-only, mode 0444)
//   partial/<hash>  a file being received, or the bytes so far of a transfer a job left
//                   unfinished (parked): the next job that needs that file resumes it
//   lock            flock()ed while a SceneCache is open: one agent per cache directory
//   jobs/<name>     job trees the agent builds with materialize(); removed on opening (only
//                   the agent holding the lock uses them, so any found then are a crash's)
// Files only: no sockets, threads or clocks read here. The LRU order is the blobs' mtimes, so
// it survives agent restarts. Hashes and paths come from the (untrusted) broker: every
// function that joins one into a path validates it first.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "content_hash.h"
#include "messages.h"

namespace bnr::agent {

// Validates a SceneFile::path: relative, non-empty, at most protocol::kMaxPathBytes, '/'
// between components, no empty, "." or ".." component, no NUL or backslash, each component
// at most 255 bytes, at most 256 components. Returns it as a relative path, or nullopt.
// Any accepted path joined under a root names something inside that root (provided no
// symbolic link under the root redirects it; materialize() refuses those).
[[nodiscard]] std::optional<std::filesystem::path> safe_tree_path(std::string_view path);

// Receives one blob strictly in order, straight to partial/<hash> on disk (never the whole
// file in memory), hashing as it goes. Made by SceneCache::start_blob, finished by
// SceneCache::commit. Dropped without a commit, it keeps the bytes it wrote whole in its
// partial file, where the next writer of that hash resumes (a commit that fails, a failed
// write, or nothing written deletes it).
class BlobWriter {
 public:
  static constexpr std::uint64_t kMaxResumedBytes = std::uint64_t{1} << 30;
  // Only SceneCache can make a Key, hence a BlobWriter.
  class Key {
    Key() = default;
    friend class SceneCache;
  };
  // Opens `partial` and locks it (flock): a file there no other writer holds is resumed, its
  // bytes hashed again (one longer than `size` or kMaxResumedBytes is cut to nothing). Throws std::runtime_error
  // when it cannot, or "... is already being received" when another writer holds it.
  BlobWriter(Key, std::filesystem::path partial, std::string hash, std::uint64_t size);
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Writes the next bytes. Throws std::runtime_error if they would go beyond the declared
  // size (nothing is written then), or on a write error (the writer cannot commit after it).
  void append(std::string_view bytes);

  [[nodiscard]] std::uint64_t written() const { return written_; }
  [[nodiscard]] std::uint64_t resumed() const { return resumed_; }  // bytes an earlier writer left
  [[nodiscard]] std::uint64_t size() const { return size_; }
  [[nodiscard]] bool complete() const { return written_ == size_; }
  [[nodiscard]] const std::string& hash() const { return hash_; }

 private:
  friend class SceneCache;

  void resume_parked();
  [[noreturn]] void fail_open(const char* what);

  tools::ContentHasher hasher_;
  std::filesystem::path partial_;
  std::string hash_;
  std::uint64_t size_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t resumed_ = 0;
  int fd_ = -1;
  bool failed_ = false;
  bool discard_ = false;
  bool committed_ = false;
};

class SceneCache {
 public:
  // Opens (creating if needed) the cache at `dir`: locks it, deletes leftovers in jobs/ and
  // partial/ (except parked transfers),
  // and indexes blobs/ (anything there that is not a regular file named by a content hash is
  // removed). `limit_bytes` is what evict() trims to. Throws std::runtime_error with a
  // one-line reason when the directory cannot be created or another SceneCache (in this or
  // another process) holds it.
  SceneCache(std::filesystem::path dir, std::uint64_t limit_bytes);
  ~SceneCache();
  SceneCache(const SceneCache&) = delete;
  SceneCache& operator=(const SceneCache&) = delete;

  // True when the blob is indexed and still on disk. False for anything not a content hash.
  [[nodiscard]] bool has(const std::string& hash) const;
  // dir/blobs/<hash>, present or not. Throws std::invalid_argument for a non-hash.
  [[nodiscard]] std::filesystem::path blob_path(const std::string& hash) const;
  // Sum of the indexed blobs' sizes. May exceed the limit until evict() runs.
  [[nodiscard]] std::uint64_t total_bytes() const { return total_bytes_; }
  [[nodiscard]] std::uint64_t limit_bytes() const { return limit_bytes_; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] std::filesystem::path jobs_dir() const { return dir_ / "jobs"; }

  // Marks a blob as just used for eviction: its mtime becomes now (the kernel's clock, the
  // same one that stamped it when written) or `when`. No effect on an absent blob; best
  // effort otherwise (a failure only makes the blob look older).
  void touch(const std::string& hash);
  void touch(const std::string& hash, std::filesystem::file_time_type when);

  // Starts receiving the blob `hash` of `size` bytes. Throws std::invalid_argument for a
  // non-hash, std::runtime_error when the partial file cannot be created or the same hash is
  // already being received. A hash already cached may be written again (same bytes).
  [[nodiscard]] std::unique_ptr<BlobWriter> start_blob(const std::string& hash, std::uint64_t size);
  // Deletes the parked transfers of files not in `keep` (a job that needs none of them).
  void drop_partials_except(const std::set<std::string>& keep);
  // Verifies that the writer got all its bytes and that they hash to its hash, fsyncs and
  // moves the file into blobs/. Throws std::runtime_error otherwise ("... does not match its
  // content hash" for wrong bytes); the partial file is deleted either way. Does not evict:
  // total_bytes() may exceed the limit afterwards.
  void commit(std::unique_ptr<BlobWriter> writer);

  // Deletes least-recently-used blobs (oldest mtime first; equal mtimes by hash) that are
  // not in `keep` until total_bytes() <= limit_bytes(). Blobs in `keep` stay even when they
  // alone exceed the limit. A blob still hard-linked from a job directory frees its disk
  // space only when that directory goes too. Throws std::runtime_error if one cannot be
  // deleted.
  void evict(const std::set<std::string>& keep);
  // The same order of deletion, until `bytes` are freed (or nothing but `keep` is left), for a
  // disk too full for the files a job still needs. Returns the bytes freed.
  std::uint64_t free_up(const std::set<std::string>& keep, std::uint64_t bytes);

  // Builds a job directory: every file appears at root/<path> with its blob's bytes,
  // hard-linked to the blob (copied when linking fails, e.g. across filesystems); both are
  // read-only. Creates root and the directories in between. Refuses, with a
  // std::runtime_error naming the path and before creating anything: an unsafe path (see
  // safe_tree_path), a non-hash, a blob not cached, one path with two different hashes, a
  // path that is also a directory of another file, a symbolic link or non-directory in the
  // way under root, and a file already there that is not this blob. The same (path, hash)
  // listed twice is fine, as is a file already hard-linked to its blob (a re-run). An I/O error
  // part-way leaves what was made so far; the caller removes the job directory.
  void materialize(const std::vector<protocol::SceneFile>& files,
                   const std::filesystem::path& root) const;

 private:
  std::uint64_t evict_to(const std::set<std::string>& keep, std::uint64_t target);

  std::filesystem::path dir_;
  std::filesystem::path blobs_dir_;
  std::filesystem::path partial_dir_;
  std::uint64_t limit_bytes_ = 0;
  std::uint64_t total_bytes_ = 0;
  std::map<std::string, std::uint64_t> sizes_;  // hash -> bytes, what blobs/ holds
  int lock_fd_ = -1;
};

}  // namespace bnr::agent
