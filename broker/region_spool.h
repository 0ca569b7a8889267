// A crash-safe journal of finished regions, so a broker killed mid-job can resume and render
// only the regions that are missing. Files only: no sockets, processes or clocks.
//
// The spool is one directory holding one append-only file, kSpoolJournalFile:
//   file header: "BNRSPOOL", format version (uint32), key length (uint32), key bytes,
//                CRC-32 of everything before it (uint32)
//   records:     magic "BNRR" (uint32), body length (uint64), CRC-32 of magic + length + body
//                (uint32), then the body: core rect and rendered rect (x0, y0, x1, y1 as int32
//                each), views (uint32), flags (uint8: 1 has_exr, 2 has passes), with passes
//                the pass layout's length (uint32) and bytes (protocol::encode_pass_layout),
//                then the payload (RegionDone's bulk, see protocol/messages.h)
// Integers are little-endian. A record is written with one append and made durable with
// fdatasync before append() returns, so after a crash the file holds whole records followed
// by at most one torn record, which the next replay() cuts off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "messages.h"

namespace bnr::broker {

inline constexpr std::uint32_t kSpoolFormatVersion = 1;
inline constexpr std::size_t kMaxSpoolKeyBytes = 64 * 1024;
inline constexpr const char* kSpoolJournalFile = "journal";

// Where the spool of `output` lives: "<output filename>.bnr-spool" in the output's directory,
// e.g. "renders/shot.png" -> "renders/shot.png.bnr-spool". Beside the output because that is
// where a rerun of the same command looks, and each output gets its own spool. Visible rather
// than ".shot.png.bnr-spool": a spool can hold hundreds of MB after a crash, and a user who
// lists the directory should see it, know what it belongs to, and be able to delete it to
// force a fresh render. Throws std::invalid_argument when `output` has no file name.
[[nodiscard]] std::filesystem::path spool_dir_for(const std::filesystem::path& output);

// Deletes the spool in `dir`, if there is one and no broker has it open (that one's to keep).
// Best effort: a spool that cannot be removed is left as it is.
void discard_spool(const std::filesystem::path& dir);

// One record as replay() hands it out. `payload` points into a buffer that is reused for the
// next record: it is valid only during the visit call.
struct SpooledRegion {
  protocol::Rect core{};      // the pixels of the region that count
  protocol::Rect rendered{};  // core plus overlap margin: what the payload covers
  std::uint32_t views = 1;
  bool has_exr = false;
  protocol::PassLayout passes{};
  std::string_view payload{};  // region_payload_bytes(rendered, views, has_exr, pass channels) bytes
};

// Owns the journal in one spool directory and holds an exclusive lock (flock) on it for its
// lifetime, so two brokers writing the same output cannot interleave records. Move-only.
class RegionSpool {
 public:
  // Opens or creates the spool in `dir` (created with its parents if missing) for the job that
  // `job_key` names: an opaque string the caller derives from everything that decides the
  // pixels (scene content hash, output settings, frame size). A journal with the same key and
  // format version is resumed with its records; anything else there (another key, another
  // version, an unreadable header, an empty or missing file) is replaced by an empty journal
  // for this key. Records are checked by the first replay() or append(), which cut off a
  // corrupt tail; a journal corrupt from its first record therefore ends up empty too.
  // Throws std::invalid_argument when job_key is longer than kMaxSpoolKeyBytes, and
  // std::runtime_error when the directory or file cannot be used or another RegionSpool (in
  // this or another process) has the journal open.
  [[nodiscard]] static RegionSpool open(std::filesystem::path dir, const std::string& job_key);

  RegionSpool(RegionSpool&& other) noexcept;
  RegionSpool& operator=(RegionSpool&& other) noexcept;
  RegionSpool(const RegionSpool&) = delete;
  RegionSpool& operator=(const RegionSpool&) = delete;
  ~RegionSpool();  // closes the journal (keeps it on disk) and releases the lock

  // Appends one finished region and returns once it is on disk (fdatasync). Throws
  // std::invalid_argument, writing nothing, unless core is non-empty, rendered contains core
  // and its coordinates lie in 0..kMaxImageSide, 1 <= views <= kMaxViews, and
  // payload.size() == region_payload_bytes(rendered, views, has_exr, passes' channels). Throws
  // std::runtime_error on an I/O failure (the journal is cut back to its last whole record).
  // The spool does not deduplicate: a region appended twice is replayed twice.
  void append(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views, bool has_exr,
              std::string_view payload, const protocol::PassLayout& passes = {});

  // Calls `visit` for every valid record, oldest first, and returns how many it visited. The
  // first torn or corrupt record (short, bad checksum, bad magic, a length the rest of the file
  // cannot hold or that its rectangle does not imply) ends the replay; the file is then cut
  // back to the end of the last good record so later appends follow it. Memory use is one
  // record's payload at most, whatever the file declares. An exception from `visit` propagates
  // and leaves the journal as it was. Throws std::runtime_error on an I/O failure.
  std::size_t replay(const std::function<void(const SpooledRegion&)>& visit);

  // Deletes the spool directory and everything in it (call it once the output is written).
  // Afterwards append() and replay() throw std::logic_error; remove() again does nothing.
  // Throws std::runtime_error when the directory cannot be deleted.
  void remove();

  [[nodiscard]] std::filesystem::path dir() const { return dir_; }

 private:
  RegionSpool(std::filesystem::path dir, int fd, std::uint64_t records_begin, std::uint64_t end, bool checked);
  // Walks the records, calling visit when given, and cuts off a bad tail; sets end_.
  std::size_t scan(const std::function<void(const SpooledRegion&)>* visit);
  void close_fd() noexcept;

  std::filesystem::path dir_;
  int fd_ = -1;
  std::uint64_t records_begin_ = 0;  // file offset of the first record
  std::uint64_t end_ = 0;            // file offset just past the last good record
  bool checked_ = false;             // whether end_ has been established by a scan
};

}  // namespace bnr::broker
