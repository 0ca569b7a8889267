// What building a manifest learned, kept between runs so re-rendering an unchanged scene
// starts at once: no Blender run to list its files (which loads the whole .blend, packed data
// included) and no re-hashing of gigabytes. A file counts as unchanged while its size,
// modification time and inode are; a listing stays valid while the .blend, every library it
// links and the Blender executable are unchanged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bnr::broker {

struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};

// The file's stamp, or nullopt when it cannot be stat()ed.
[[nodiscard]] std::optional<FileStamp> stamp_of(const std::filesystem::path& file);

// One cached fact per line, TAB-separated (pure; paths cannot hold tabs or newlines here):
//   hash <hash> <size> <mtime_ns> <inode> <path>
[[nodiscard]] std::string format_hash_line(const std::filesystem::path& file, const FileStamp& stamp,
                                           const std::string& hash);
struct HashEntry {
  std::filesystem::path file;
  FileStamp stamp;
  std::string hash;
};
// Lines that do not parse are skipped (a cache is only ever a shortcut).
[[nodiscard]] std::vector<HashEntry> parse_hash_lines(std::string_view text);

class ManifestCache {
 public:
  // Reads dir/file-hashes.tsv if it is there; `dir` empty: a cache that remembers nothing.
  explicit ManifestCache(std::filesystem::path dir);

  [[nodiscard]] std::optional<std::string> hash(const std::filesystem::path& file, const FileStamp& stamp) const;
  void remember_hash(const std::filesystem::path& file, const FileStamp& stamp, const std::string& hash);

  // The scene_files.py output recorded for `blend`, if none of the files it depended on
  // changed since.
  [[nodiscard]] std::optional<std::string> listing(const std::filesystem::path& blend) const;
  // The last listing recorded for `blend`, changed files or not: a guess to start with.
  [[nodiscard]] std::optional<std::string> last_listing(const std::filesystem::path& blend) const;
  void remember_listing(const std::filesystem::path& blend, const std::vector<std::filesystem::path>& depends_on,
                        const std::string& listing);

  // Writes the hashes back (atomically; at most kMaxEntries, most recently used first).
  // Best effort: false when it could not.
  bool save() const;

  static constexpr std::size_t kMaxEntries = 4096;
  static constexpr std::size_t kMaxListings = 256;  // the most recently written are kept

 private:
  [[nodiscard]] std::optional<std::string> recorded_listing(const std::filesystem::path& blend,
                                                            bool even_if_changed) const;
  [[nodiscard]] std::filesystem::path listing_file(const std::filesystem::path& blend) const;
  void prune_listings() const;
  std::filesystem::path dir_;
  std::map<std::string, std::pair<HashEntry, std::uint64_t>> hashes_;  // by path; use order
  std::uint64_t uses_ = 0;
};

}  // namespace bnr::broker
