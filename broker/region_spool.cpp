#include "region_spool.h"

#include "codec.h"

#include <array>
#include <optional>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace bnr::broker {
namespace {

constexpr std::string_view kFileMagic = "BNRSPOOL";
constexpr std::uint32_t kRecordMagic = 0x52524e42;  // "BNRR" read as little-endian bytes

// Record layout (offsets into the record): magic [0, 4), body length [4, 12), CRC [12, 16),
// then the body: two rects [16, 48), views [48, 52), has_exr [52], payload [53, ...).
constexpr std::size_t kLengthAt = 4;
constexpr std::size_t kCrcAt = 12;
constexpr std::size_t kBodyAt = 16;
constexpr std::size_t kMetaBytes = 8 * 4 + 4 + 1;
constexpr std::size_t kRecordHeadBytes = kBodyAt + kMetaBytes;
constexpr unsigned char kHasExr = 1;
constexpr unsigned char kHasPasses = 2;

// Explicit little-endian encoding: the journal must read back the same on any host, and
// memcpy of a struct would also copy padding.
void put_u32(char* at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_u64(char* at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
std::uint32_t get_u32(const char* at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(at[i])) << (8 * i);
  return v;
}
std::uint64_t get_u64(const char* at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(at[i])) << (8 * i);
  return v;
}
void put_rect(char* at, const protocol::Rect& r) {
  put_u32(at, static_cast<std::uint32_t>(r.x0));
  put_u32(at + 4, static_cast<std::uint32_t>(r.y0));
  put_u32(at + 8, static_cast<std::uint32_t>(r.x1));
  put_u32(at + 12, static_cast<std::uint32_t>(r.y1));
}
protocol::Rect get_rect(const char* at) {
  return {static_cast<std::int32_t>(get_u32(at)), static_cast<std::int32_t>(get_u32(at + 4)),
          static_cast<std::int32_t>(get_u32(at + 8)), static_cast<std::int32_t>(get_u32(at + 12))};
}

std::uint32_t crc32_of(std::uint32_t crc, const char* data, std::size_t size) {
  // crc32_z takes a size_t length, so payloads over 4 GiB need no chunking.
  return static_cast<std::uint32_t>(::crc32_z(crc, reinterpret_cast<const Bytef*>(data), size));
}

// The checksum skips its own field and covers everything else in the record.
// The body after the head may be written in two pieces (pass layout, pixels); one checksum.
std::uint32_t record_crc(const char* head, std::string_view body, std::string_view more = {}) {
  std::uint32_t crc = crc32_of(0, head, kCrcAt);
  crc = crc32_of(crc, head + kBodyAt, kMetaBytes);
  crc = crc32_of(crc, body.data(), body.size());
  // zlib treats a null buffer as "give me the initial value", not as no bytes.
  return more.empty() ? crc : crc32_of(crc, more.data(), more.size());
}

// The same test guards append() and replay(), so every record append() accepted replays.
bool valid_region(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views) {
  return views >= 1 && views <= protocol::kMaxViews && !core.empty() && rendered.contains(core) &&
         rendered.x0 >= 0 && rendered.y0 >= 0 && rendered.x1 <= protocol::kMaxImageSide &&
         rendered.y1 <= protocol::kMaxImageSide;
}

std::string file_header(const std::string& job_key) {
  std::string header(kFileMagic);
  header.resize(kFileMagic.size() + 8);
  put_u32(header.data() + kFileMagic.size(), kSpoolFormatVersion);
  put_u32(header.data() + kFileMagic.size() + 4, static_cast<std::uint32_t>(job_key.size()));
  header += job_key;
  std::array<char, 4> crc{};
  put_u32(crc.data(), crc32_of(0, header.data(), header.size()));
  header.append(crc.data(), crc.size());
  return header;
}

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw std::runtime_error("spool " + what + " '" + path.string() + "': " + std::strerror(errno));
}

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void write_all(int fd, const char* data, std::size_t size, std::uint64_t offset, const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", path);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
}

// Reads up to `size` bytes; fewer only at the end of the file.
std::size_t read_up_to(int fd, char* data, std::size_t size, std::uint64_t offset, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", path);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

std::uint64_t file_size(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("cannot stat", path);
  return static_cast<std::uint64_t>(st.st_size);
}

void sync_data(int fd, const std::filesystem::path& path) {
  if (::fdatasync(fd) != 0) fail("cannot sync", path);
}

// A new or reset file is only durable once the directory entry naming it is.
void sync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory", dir);
  const FdGuard guard(fd);
  if (::fsync(fd) != 0) fail("cannot sync directory", dir);
}

void truncate_to(int fd, std::uint64_t size, const std::filesystem::path& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fail("cannot truncate", path);
}

}  // namespace

std::filesystem::path spool_dir_for(const std::filesystem::path& output) {
  if (!output.has_filename()) throw std::invalid_argument("output path '" + output.string() + "' has no file name");
  return output.parent_path() / (output.filename().string() + ".bnr-spool");
}

void discard_spool(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kSpoolJournalFile;
  FdGuard fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0 || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return;  // none, or another broker's
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // locked meanwhile, as RegionSpool::remove
}

RegionSpool RegionSpool::open(std::filesystem::path dir, const std::string& job_key) {
  if (job_key.size() > kMaxSpoolKeyBytes)
    throw std::invalid_argument("spool job key of " + std::to_string(job_key.size()) + " bytes is too long");

  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create spool directory '" + dir.string() + "': " + ec.message());
  if (created) sync_dir(dir.has_parent_path() ? dir.parent_path() : std::filesystem::path("."));

  const std::filesystem::path path = dir / kSpoolJournalFile;
  FdGuard fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) fail("cannot open", path);
  // Taken before reading anything, so a second broker can neither read a half-reset file nor
  // reset a journal the first one is appending to. The lock dies with the descriptor, so a
  // killed broker never leaves a stale lock behind.
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      throw std::runtime_error("spool '" + dir.string() + "' is in use by another bnr-broker");
    fail("cannot lock", path);
  }

  // The header is a pure function of the key, so comparing bytes is the whole check, and
  // nothing the file declares (such as a huge key length) is ever trusted.
  const std::string header = file_header(job_key);
  const std::uint64_t size = file_size(fd.get(), path);
  if (size >= header.size()) {
    std::string found(header.size(), '\0');
    if (read_up_to(fd.get(), found.data(), found.size(), 0, path) == found.size() && found == header)
      return RegionSpool(std::move(dir), fd.release(), header.size(), size, size == header.size());
  }

  // Resetting in place rather than writing a new file and renaming it keeps the lock on the
  // one inode. A crash in the middle leaves a short or empty file, which the next open()
  // resets again: the old journal was being discarded anyway.
  truncate_to(fd.get(), 0, path);
  write_all(fd.get(), header.data(), header.size(), 0, path);
  sync_data(fd.get(), path);
  sync_dir(dir);
  return RegionSpool(std::move(dir), fd.release(), header.size(), header.size(), true);
}

RegionSpool::RegionSpool(std::filesystem::path dir, int fd, std::uint64_t records_begin, std::uint64_t end,
                         bool checked)
    : dir_(std::move(dir)), fd_(fd), records_begin_(records_begin), end_(end), checked_(checked) {}

RegionSpool::RegionSpool(RegionSpool&& other) noexcept
    : dir_(std::move(other.dir_)),
      fd_(std::exchange(other.fd_, -1)),
      records_begin_(other.records_begin_),
      end_(other.end_),
      checked_(other.checked_) {}

RegionSpool& RegionSpool::operator=(RegionSpool&& other) noexcept {
  if (this != &other) {
    close_fd();
    dir_ = std::move(other.dir_);
    fd_ = std::exchange(other.fd_, -1);
    records_begin_ = other.records_begin_;
    end_ = other.end_;
    checked_ = other.checked_;
  }
  return *this;
}

RegionSpool::~RegionSpool() { close_fd(); }

void RegionSpool::close_fd() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RegionSpool::append(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views,
                         bool has_exr, std::string_view payload, const protocol::PassLayout& passes) {
  if (fd_ < 0) throw std::logic_error("append to a closed or removed spool");
  if (!valid_region(core, rendered, views))
    throw std::invalid_argument("spool refuses a region whose core is empty or outside its rendered rectangle, "
                                "or with a bad view count");
  const std::uint64_t expected = protocol::region_payload_bytes(rendered, views, has_exr, passes.channels.size());
  if (payload.size() != expected)
    throw std::invalid_argument("spool refuses a payload of " + std::to_string(payload.size()) +
                                " bytes; the rectangle implies " + std::to_string(expected));
  // Appending behind an unchecked torn tail would hide the new record from every replay.
  if (!checked_) scan(nullptr);

  // The layout and the pixels form one checksummed payload; the layout's length leads it.
  std::string layout;
  if (!passes.empty()) {
    const std::string bytes = protocol::encode_pass_layout(passes);
    layout.resize(4);
    put_u32(layout.data(), static_cast<std::uint32_t>(bytes.size()));
    layout += bytes;
  }
  std::array<char, kRecordHeadBytes> head{};
  put_u32(head.data(), kRecordMagic);
  put_u64(head.data() + kLengthAt, kMetaBytes + layout.size() + payload.size());
  put_rect(head.data() + kBodyAt, core);
  put_rect(head.data() + kBodyAt + 16, rendered);
  put_u32(head.data() + kBodyAt + 32, views);
  head[kBodyAt + 36] = static_cast<char>((has_exr ? kHasExr : 0) | (passes.empty() ? 0 : kHasPasses));
  put_u32(head.data() + kCrcAt, record_crc(head.data(), layout, payload));

  const std::filesystem::path path = dir_ / kSpoolJournalFile;
  try {
    write_all(fd_, head.data(), head.size(), end_, path);
    write_all(fd_, layout.data(), layout.size(), end_ + head.size(), path);
    write_all(fd_, payload.data(), payload.size(), end_ + head.size() + layout.size(), path);
    sync_data(fd_, path);
  } catch (...) {
    // Best effort: leave no partial record for the next append to land behind. If this fails
    // too, the checksum still stops replay() at the partial record.
    if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) checked_ = false;
    throw;
  }
  end_ += head.size() + layout.size() + payload.size();
}

std::size_t RegionSpool::replay(const std::function<void(const SpooledRegion&)>& visit) {
  if (fd_ < 0) throw std::logic_error("replay of a closed or removed spool");
  return scan(&visit);
}

std::size_t RegionSpool::scan(const std::function<void(const SpooledRegion&)>* visit) {
  const std::filesystem::path path = dir_ / kSpoolJournalFile;
  const std::uint64_t size = file_size(fd_, path);
  if (size < records_begin_) throw std::runtime_error("spool '" + path.string() + "' was cut short while in use");
  std::uint64_t offset = records_begin_;
  std::size_t count = 0;
  std::string payload;  // reused: one record's payload in memory at a time
  std::array<char, kRecordHeadBytes> head{};

  while (offset < size) {
    const std::uint64_t left = size - offset;
    if (left < head.size()) break;
    if (read_up_to(fd_, head.data(), head.size(), offset, path) != head.size()) break;
    if (get_u32(head.data()) != kRecordMagic) break;
    const std::uint64_t body = get_u64(head.data() + kLengthAt);
    // Checked before allocating: a length the file cannot hold is a torn or hostile record.
    if (body < kMetaBytes || body - kMetaBytes > left - head.size()) break;
    SpooledRegion region;
    region.core = get_rect(head.data() + kBodyAt);
    region.rendered = get_rect(head.data() + kBodyAt + 16);
    region.views = get_u32(head.data() + kBodyAt + 32);
    const auto flags = static_cast<unsigned char>(head[kBodyAt + 36]);
    if ((flags & ~(kHasExr | kHasPasses)) != 0 || !valid_region(region.core, region.rendered, region.views)) break;
    region.has_exr = (flags & kHasExr) != 0;
    const std::uint64_t payload_bytes = body - kMetaBytes;

    payload.resize(static_cast<std::size_t>(payload_bytes));
    if (read_up_to(fd_, payload.data(), payload.size(), offset + head.size(), path) != payload.size()) break;
    if (record_crc(head.data(), payload) != get_u32(head.data() + kCrcAt)) break;
    std::string_view pixels = payload;
    if ((flags & kHasPasses) != 0) {
      if (pixels.size() < 4 || get_u32(pixels.data()) > pixels.size() - 4) break;
      std::optional<protocol::PassLayout> layout = protocol::decode_pass_layout(pixels.substr(4, get_u32(pixels.data())));
      if (!layout || layout->empty()) break;
      pixels.remove_prefix(4 + get_u32(pixels.data()));
      region.passes = std::move(*layout);
    }
    if (pixels.size() !=
        protocol::region_payload_bytes(region.rendered, region.views, region.has_exr, region.passes.channels.size()))
      break;

    region.payload = pixels;
    if (visit != nullptr) (*visit)(region);
    ++count;
    offset += head.size() + payload_bytes;
  }

  // Everything past the last good record is a torn write or corruption. Cutting it off now
  // means the next append starts at a record boundary instead of behind unreadable bytes. No
  // sync of its own: if the cut is lost in a crash, the tail comes back and is cut again, and
  // the next append's fdatasync makes the cut durable together with the new record.
  if (offset < size) truncate_to(fd_, offset, path);
  end_ = offset;
  checked_ = true;
  return count;
}

void RegionSpool::remove() {
  if (fd_ < 0) return;
  // Deleted while still locked, so no other broker can have opened a fresh journal here that
  // this would delete under it.
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  close_fd();
  if (ec) throw std::runtime_error("cannot remove spool '" + dir_.string() + "': " + ec.message());
}

}  // namespace bnr::broker
