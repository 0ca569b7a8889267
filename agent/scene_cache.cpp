#include "scene_cache.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <sys/stat.h>
#include <tuple>
#include <unistd.h>

namespace bnr::agent {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxComponentBytes = 255;  // NAME_MAX on every filesystem we meet
constexpr std::size_t kMaxComponents = 256;
constexpr std::size_t kQuoteBytes = 200;
constexpr std::size_t kCopyBufferBytes = 1 << 20;

std::string errno_text(int err) { return std::strerror(err); }

// Paths and hashes in error messages come from the network: keep the message one short line
// whatever bytes they hold.
std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kQuoteBytes; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kQuoteBytes) out += "...";
  return out + "\"";
}

void require_hash(const std::string& hash) {
  if (!protocol::is_content_hash(hash))
    throw std::invalid_argument("not a content hash: " + printable(hash));
}

// lstat that tells "absent" apart from real errors, which throw.
std::optional<struct stat> lstat_if_present(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) return st;
  if (errno == ENOENT) return std::nullopt;
  throw std::runtime_error("cannot inspect " + p.string() + ": " + errno_text(errno));
}

// Writes everything, retrying short writes and EINTR.
void write_all(int fd, std::string_view bytes, const fs::path& p) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("cannot write " + p.string() + ": " + errno_text(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

// The fallback when a hard link is impossible. O_EXCL (which also refuses a symlink at
// `to`) because the destination must be new: we never write through something we did not
// create.
void copy_new_file(const fs::path& from, const fs::path& to) {
  const FileDescriptor in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) throw std::runtime_error("cannot read " + from.string() + ": " + errno_text(errno));
  const FileDescriptor out(
      ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444));
  if (out.get() < 0) throw std::runtime_error("cannot create " + to.string() + ": " + errno_text(errno));
  std::vector<char> buffer(kCopyBufferBytes);
  try {
    for (;;) {
      const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error("cannot read " + from.string() + ": " + errno_text(errno));
      if (n == 0) break;
      write_all(out.get(), {buffer.data(), static_cast<std::size_t>(n)}, to);
    }
  } catch (...) {
    ::unlink(to.c_str());
    throw;
  }
}

// Makes a rename durable. Best effort: the blob is verified and in place already; if this
// fails and the machine crashes, the blob is merely fetched again.
void fsync_directory(const fs::path& dir) {
  const FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) (void)::fsync(fd.get());
}

void make_directory(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) throw std::runtime_error("cannot create scene cache directory " + p.string() + ": " + ec.message());
}

}  // namespace

std::optional<fs::path> safe_tree_path(std::string_view path) {
  if (path.empty() || path.size() > protocol::kMaxPathBytes) return std::nullopt;
  // An absolute path starts with an empty component, so the loop below refuses it too.
  std::size_t components = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    const std::string_view c = path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (c.empty() || c == "." || c == ".." || c.size() > kMaxComponentBytes) return std::nullopt;
    // A backslash is an ordinary byte to Linux, but a separator to Windows tools and to
    // anyone reading the path; a NUL would cut the path short in every system call.
    if (c.find('\0') != std::string_view::npos || c.find('\\') != std::string_view::npos)
      return std::nullopt;
    if (++components > kMaxComponents) return std::nullopt;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return fs::path(std::string(path));
}

BlobWriter::BlobWriter(Key, fs::path partial, std::string hash, std::uint64_t size)
    : partial_(std::move(partial)), hash_(std::move(hash)), size_(size) {
  fd_ = ::open(partial_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0 && errno == EACCES && ::unlink(partial_.c_str()) == 0)  // made read-only by a commit a crash cut short
    fd_ = ::open(partial_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot create " + partial_.string() + ": " + errno_text(errno));
  // Held while the writer lives: a file locked by another writer is a transfer in progress.
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) throw std::runtime_error("scene file " + hash_ + " is already being received");
    throw std::runtime_error("cannot lock " + partial_.string() + ": " + errno_text(err));
  }
  resume_parked();
}

void BlobWriter::resume_parked() {
  // A transfer an earlier job left: its bytes so far go through the hasher again, and the
  // commit's hash check vouches for them as for any byte received.
  struct stat st {};
  // Hashing a parked prefix again holds the agent's loop (about a second per GiB): a larger
  // one is fetched again instead.
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) > size_ ||
      static_cast<std::uint64_t>(st.st_size) > kMaxResumedBytes) {
    if (::ftruncate(fd_, 0) != 0) fail_open("cannot reset ");
    return;
  }
  std::string buffer(std::min<std::uint64_t>(1 << 20, std::max<off_t>(st.st_size, 1)), '\0');
  while (written_ < static_cast<std::uint64_t>(st.st_size)) {
    const ssize_t n = ::read(fd_, buffer.data(), std::min<std::uint64_t>(buffer.size(), st.st_size - written_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Unreadable: start over rather than trust a prefix the hasher has not seen.
      if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) fail_open("cannot reset ");
      hasher_ = tools::ContentHasher();
      written_ = 0;
      break;
    }
    hasher_.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    written_ += static_cast<std::uint64_t>(n);
  }
  resumed_ = written_;
}

void BlobWriter::fail_open(const char* what) {
  const int err = errno;
  ::close(fd_);
  fd_ = -1;
  throw std::runtime_error(what + partial_.string() + ": " + errno_text(err));
}

BlobWriter::~BlobWriter() {
  // Bytes received and written whole are kept for the next job that needs the file (parked);
  // anything else goes, while the lock still keeps other writers out.
  if (!committed_ && (failed_ || discard_ || written_ == 0)) ::unlink(partial_.c_str());
  if (fd_ >= 0) ::close(fd_);
}

void BlobWriter::append(std::string_view bytes) {
  if (failed_ || fd_ < 0) throw std::runtime_error("scene file " + hash_ + " can no longer be written");
  if (bytes.size() > size_ - written_)
    throw std::runtime_error("scene file " + hash_ + " would exceed its declared " +
                             std::to_string(size_) + " bytes");
  try {
    write_all(fd_, bytes, partial_);
  } catch (...) {
    // Some bytes may have reached the file without reaching the hasher, or the reverse.
    failed_ = true;
    throw;
  }
  hasher_.update(bytes);
  written_ += bytes.size();
}

SceneCache::SceneCache(fs::path dir, std::uint64_t limit_bytes)
    : dir_(std::move(dir)), blobs_dir_(dir_ / "blobs"), partial_dir_(dir_ / "partial"),
      limit_bytes_(limit_bytes) {
  make_directory(blobs_dir_);
  make_directory(partial_dir_);

  // Opening deletes partial files, and eviction deletes blobs: both are only safe when no
  // other agent uses the directory. O_CLOEXEC keeps Blender children from inheriting the lock.
  const fs::path lock = dir_ / "lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw std::runtime_error("cannot open " + lock.string() + ": " + errno_text(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(lock_fd_);
    if (err == EWOULDBLOCK)
      throw std::runtime_error("scene cache " + dir_.string() + " is in use by another agent");
    throw std::runtime_error("cannot lock " + lock.string() + ": " + errno_text(err));
  }

  // Everything below may throw; the destructor would not run, so release the lock here.
  try {
    // A partial file named by a hash is a transfer an earlier run did not finish: the next job
    // that needs the file resumes it (drop_partials_except lets the others go).
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(partial_dir_))
      if (!protocol::is_content_hash(entry.path().filename().string()) || !fs::is_regular_file(entry.symlink_status()))
        fs::remove_all(entry.path(), ec);
    // A job tree is only ever used by the agent holding the lock: one left here is a crashed
    // agent's, and its hard links would keep evicted blobs' space in use.
    for (const auto& entry : fs::directory_iterator(jobs_dir(), ec)) fs::remove_all(entry.path(), ec);

    for (const auto& entry : fs::directory_iterator(blobs_dir_)) {
      const std::string name = entry.path().filename().string();
      // symlink_status: a symlink named like a hash would be hard-linked as a symlink into a
      // job directory, pointing anywhere.
      const fs::file_status status = entry.symlink_status();
      if (protocol::is_content_hash(name) && fs::is_regular_file(status)) {
        const std::uint64_t size = entry.file_size();
        sizes_.emplace(name, size);
        total_bytes_ += size;
      } else {
        fs::remove_all(entry.path(), ec);
      }
    }
  } catch (const fs::filesystem_error& e) {
    ::close(lock_fd_);
    throw std::runtime_error("cannot read scene cache " + dir_.string() + ": " + e.code().message());
  }
}

SceneCache::~SceneCache() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

bool SceneCache::has(const std::string& hash) const {
  if (!protocol::is_content_hash(hash)) return false;
  if (!sizes_.contains(hash)) return false;
  // Checked on disk too: a cleaner (tmpfiles, a user) may have deleted it, and answering
  // "cached" then would make every job needing it fail instead of fetching it again.
  struct stat st {};
  return ::lstat(blob_path(hash).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

fs::path SceneCache::blob_path(const std::string& hash) const {
  require_hash(hash);
  return blobs_dir_ / hash;
}

void SceneCache::touch(const std::string& hash) {
  if (!has(hash)) return;
  // UTIME_NOW lets the kernel stamp it with the clock it stamps written files with.
  const struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  (void)::utimensat(AT_FDCWD, blob_path(hash).c_str(), times, AT_SYMLINK_NOFOLLOW);
}

void SceneCache::touch(const std::string& hash, fs::file_time_type when) {
  if (!has(hash)) return;
  std::error_code ec;
  fs::last_write_time(blob_path(hash), when, ec);
}

std::unique_ptr<BlobWriter> SceneCache::start_blob(const std::string& hash, std::uint64_t size) {
  require_hash(hash);
  return std::make_unique<BlobWriter>(BlobWriter::Key{}, partial_dir_ / hash, hash, size);
}

void SceneCache::drop_partials_except(const std::set<std::string>& keep) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(partial_dir_, ec)) {
    if (keep.contains(entry.path().filename().string())) continue;
    // Not one a live writer holds (flock), which is receiving it now.
    const FileDescriptor fd(::open(entry.path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() >= 0 && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
    fs::remove_all(entry.path(), ec);
  }
}

void SceneCache::commit(std::unique_ptr<BlobWriter> writer) {
  // `writer` is destroyed on every exit from here, deleting its partial file unless renamed.
  if (!writer) throw std::invalid_argument("commit: no blob writer");
  BlobWriter& w = *writer;
  w.discard_ = true;  // bytes that fail a check here are never resumed
  if (w.partial_.parent_path() != partial_dir_)
    throw std::invalid_argument("commit: the blob writer belongs to another scene cache");
  if (w.failed_ || w.fd_ < 0) throw std::runtime_error("scene file " + w.hash_ + " was not written completely");
  if (!w.complete())
    throw std::runtime_error("scene file " + w.hash_ + " is incomplete: " + std::to_string(w.written_) +
                             " of " + std::to_string(w.size_) + " bytes");
  if (w.hasher_.hex_digest() != w.hash_)
    throw std::runtime_error("scene file " + w.hash_ + " does not match its content hash");

  // Read-only because job directories hard-link it: a program opening a scene file for
  // writing would otherwise change the cached bytes under every later job.
  if (::fchmod(w.fd_, 0444) != 0 || ::fsync(w.fd_) != 0)
    throw std::runtime_error("cannot write " + w.partial_.string() + ": " + errno_text(errno));
  const int fd = w.fd_;
  w.fd_ = -1;
  if (::close(fd) != 0) throw std::runtime_error("cannot write " + w.partial_.string() + ": " + errno_text(errno));

  const fs::path blob = blobs_dir_ / w.hash_;
  if (::rename(w.partial_.c_str(), blob.c_str()) != 0)
    throw std::runtime_error("cannot move " + w.partial_.string() + " into the cache: " + errno_text(errno));
  w.committed_ = true;
  fsync_directory(blobs_dir_);

  const auto [it, inserted] = sizes_.try_emplace(w.hash_, w.size_);
  if (!inserted) {
    total_bytes_ -= it->second;
    it->second = w.size_;
  }
  total_bytes_ += w.size_;
}

void SceneCache::evict(const std::set<std::string>& keep) { (void)evict_to(keep, limit_bytes_); }

std::uint64_t SceneCache::free_up(const std::set<std::string>& keep, std::uint64_t bytes) {
  return evict_to(keep, total_bytes_ > bytes ? total_bytes_ - bytes : 0);
}

std::uint64_t SceneCache::evict_to(const std::set<std::string>& keep, std::uint64_t target) {
  const std::uint64_t before = total_bytes_;
  if (total_bytes_ <= target) return 0;

  using Age = std::tuple<std::time_t, long, std::string>;  // mtime seconds, nanoseconds, hash
  std::vector<Age> candidates;
  for (auto it = sizes_.begin(); it != sizes_.end();) {
    const std::optional<struct stat> st = lstat_if_present(blobs_dir_ / it->first);
    if (!st) {  // deleted behind our back: its space is free already
      total_bytes_ -= it->second;
      it = sizes_.erase(it);
      continue;
    }
    if (!keep.contains(it->first)) candidates.emplace_back(st->st_mtim.tv_sec, st->st_mtim.tv_nsec, it->first);
    ++it;
  }
  std::sort(candidates.begin(), candidates.end());

  for (const auto& [sec, nsec, hash] : candidates) {
    if (total_bytes_ <= target) break;
    const fs::path blob = blobs_dir_ / hash;
    if (::unlink(blob.c_str()) != 0 && errno != ENOENT)
      throw std::runtime_error("cannot evict " + blob.string() + ": " + errno_text(errno));
    const auto it = sizes_.find(hash);
    total_bytes_ -= it->second;
    sizes_.erase(it);
  }
  return before - total_bytes_;
}

void SceneCache::materialize(const std::vector<protocol::SceneFile>& files, const fs::path& root) const {
  // Phase 1: validate the whole list against itself and the cache, touching nothing.
  std::map<std::string, std::string> wanted;          // path -> hash, each path once
  for (const protocol::SceneFile& f : files) {
    if (!safe_tree_path(f.path)) throw std::runtime_error("unsafe scene file path " + printable(f.path));
    if (!protocol::is_content_hash(f.hash))
      throw std::runtime_error("scene file " + printable(f.path) + " has no valid content hash");
    if (!has(f.hash))
      throw std::runtime_error("scene file " + printable(f.path) + " (" + f.hash + ") is not in the cache");
    const auto [it, inserted] = wanted.emplace(f.path, f.hash);
    if (!inserted && it->second != f.hash)
      throw std::runtime_error("scene file path " + printable(f.path) + " is listed with two different contents");
  }
  std::map<std::string, std::string> dirs;  // directory prefix -> a file that needs it
  for (const auto& [path, hash] : wanted) {
    for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
      dirs.emplace(path.substr(0, slash), path);
  }
  for (const auto& [dir, file] : dirs) {
    if (wanted.contains(dir))
      throw std::runtime_error("scene file path " + printable(dir) + " is also a directory of " + printable(file));
  }

  // Phase 2: check what already exists under root. We only ever create plain directories and
  // regular files there, so a symlink is foreign and could send a file outside the root.
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw std::runtime_error("cannot create job directory " + root.string() + ": " + ec.message());
  std::set<std::string> existing_dirs;
  for (const auto& [dir, file] : dirs) {
    const std::optional<struct stat> st = lstat_if_present(root / dir);
    if (!st) continue;
    if (S_ISLNK(st->st_mode)) throw std::runtime_error("job directory entry " + printable(dir) + " is a symbolic link");
    if (!S_ISDIR(st->st_mode))
      throw std::runtime_error("job directory entry " + printable(dir) + " is in the way of " + printable(file));
    existing_dirs.insert(dir);
  }
  std::set<std::string> in_place;  // paths already hard-linked to their blob by an earlier run
  for (const auto& [path, hash] : wanted) {
    const std::optional<struct stat> st = lstat_if_present(root / path);
    if (!st) continue;
    if (S_ISLNK(st->st_mode)) throw std::runtime_error("job directory entry " + printable(path) + " is a symbolic link");
    const std::optional<struct stat> blob = lstat_if_present(blob_path(hash));
    if (!S_ISREG(st->st_mode) || !blob || blob->st_dev != st->st_dev || blob->st_ino != st->st_ino)
      throw std::runtime_error("job directory entry " + printable(path) + " exists already");
    in_place.insert(path);
  }

  // Phase 3: create. mkdir and link never follow a symlink in their last component, so a
  // symlink appearing since phase 2 makes them fail rather than write elsewhere. `dirs` is
  // sorted, and a parent sorts before its children.
  for (const auto& [dir, file] : dirs) {
    if (existing_dirs.contains(dir)) continue;
    const fs::path p = root / dir;
    if (::mkdir(p.c_str(), 0755) != 0)
      throw std::runtime_error("cannot create " + p.string() + ": " + errno_text(errno));
  }
  for (const auto& [path, hash] : wanted) {
    if (in_place.contains(path)) continue;
    const fs::path blob = blob_path(hash);
    const fs::path target = root / path;
    if (::link(blob.c_str(), target.c_str()) == 0) continue;
    // EXDEV (another filesystem), EPERM (no hard links there), EMLINK (link count limit):
    // copying works for all of them; for anything else the copy reports its own error.
    if (errno == EEXIST) throw std::runtime_error("job directory entry " + printable(path) + " exists already");
    copy_new_file(blob, target);
  }
}

}  // namespace bnr::agent
