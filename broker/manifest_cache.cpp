#include "manifest_cache.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "content_hash.h"
#include "image_file_util.h"
#include "messages.h"
#include "split_text.h"

namespace bnr::broker {
namespace fs = std::filesystem;

namespace {

template <typename T>
bool parse_number(std::string_view s, T& out) {
  std::istringstream in{std::string(s)};
  in >> out;
  return !in.fail() && in.eof();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

constexpr std::string_view kListingSeparator = "--\n";

}  // namespace

std::optional<FileStamp> stamp_of(const fs::path& file) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{static_cast<std::uint64_t>(st.st_size),
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                   static_cast<std::uint64_t>(st.st_ino)};
}

std::string format_hash_line(const fs::path& file, const FileStamp& s, const std::string& hash) {
  return "hash\t" + hash + "\t" + std::to_string(s.size) + "\t" + std::to_string(s.mtime_ns) + "\t" +
         std::to_string(s.inode) + "\t" + file.string() + "\n";
}

std::vector<HashEntry> parse_hash_lines(std::string_view text) {
  std::vector<HashEntry> out;
  for (std::string_view line : tools::split(text, '\n')) {
    const auto f = tools::split(line, '\t');
    if (f.size() != 6 || f[0] != "hash" || !protocol::is_content_hash(f[1]) || f[5].empty()) continue;
    HashEntry e{fs::path(std::string(f[5])), {}, std::string(f[1])};
    if (!parse_number(f[2], e.stamp.size) || !parse_number(f[3], e.stamp.mtime_ns) ||
        !parse_number(f[4], e.stamp.inode))
      continue;
    out.push_back(std::move(e));
  }
  return out;
}

ManifestCache::ManifestCache(fs::path dir) : dir_(std::move(dir)) {
  if (dir_.empty()) return;
  for (HashEntry& e : parse_hash_lines(read_file(dir_ / "file-hashes.tsv"))) {
    const std::string key = e.file.string();
    hashes_[key] = {std::move(e), ++uses_};
  }
}

std::optional<std::string> ManifestCache::hash(const fs::path& file, const FileStamp& stamp) const {
  const auto it = hashes_.find(file.string());
  if (it == hashes_.end() || !(it->second.first.stamp == stamp)) return std::nullopt;
  return it->second.first.hash;
}

void ManifestCache::remember_hash(const fs::path& file, const FileStamp& stamp, const std::string& hash) {
  hashes_[file.string()] = {HashEntry{file, stamp, hash}, ++uses_};
}

fs::path ManifestCache::listing_file(const fs::path& blend) const {
  return dir_ / ("listing-" + tools::content_hash(blend.string()).substr(0, 32) + ".tsv");
}

std::optional<std::string> ManifestCache::listing(const fs::path& blend) const {
  return recorded_listing(blend, /*even_if_changed=*/false);
}

std::optional<std::string> ManifestCache::last_listing(const fs::path& blend) const {
  return recorded_listing(blend, /*even_if_changed=*/true);
}

std::optional<std::string> ManifestCache::recorded_listing(const fs::path& blend, bool even_if_changed) const {
  if (dir_.empty()) return std::nullopt;
  const std::string text = read_file(listing_file(blend));
  const std::size_t sep = text.find(kListingSeparator);
  if (sep == std::string::npos) return std::nullopt;
  const std::vector<HashEntry> deps = parse_hash_lines(std::string_view(text).substr(0, sep));
  // The first dependency is the .blend itself: a file of another name hashing the same
  // (two projects sharing a listing file name) must not answer for it.
  if (deps.empty() || deps.front().file != blend) return std::nullopt;
  if (!even_if_changed)
    for (const HashEntry& d : deps) {
      const auto now = stamp_of(d.file);
      if (!now || !(*now == d.stamp)) return std::nullopt;
    }
  return text.substr(sep + kListingSeparator.size());
}

void ManifestCache::remember_listing(const fs::path& blend, const std::vector<fs::path>& depends_on,
                                     const std::string& listing) {
  if (dir_.empty()) return;
  std::string text;
  std::vector<fs::path> deps = {blend};
  deps.insert(deps.end(), depends_on.begin(), depends_on.end());
  for (const fs::path& d : deps) {
    const auto stamp = stamp_of(d);
    if (!stamp) return;  // cannot vouch for it: do not cache
    text += format_hash_line(d, *stamp, std::string(64, '0'));
  }
  text += kListingSeparator;
  text += listing;
  try {
    fs::create_directories(dir_);
    tools::write_atomically(listing_file(blend), "", [&](const fs::path& tmp) {
      std::ofstream(tmp, std::ios::binary) << text;
    });
    prune_listings();
  } catch (const std::exception&) {
  }
}

void ManifestCache::prune_listings() const {
  // One file per scene path ever rendered (temporary scenes too): keep the newest ones.
  tools::keep_newest_files(dir_, "listing-", kMaxListings);
}

bool ManifestCache::save() const {
  if (dir_.empty()) return false;
  std::vector<const std::pair<HashEntry, std::uint64_t>*> entries;
  for (const auto& [key, entry] : hashes_) entries.push_back(&entry);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->second > b->second; });
  if (entries.size() > kMaxEntries) entries.resize(kMaxEntries);
  std::string text;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)  // oldest first: reload keeps the order
    text += format_hash_line((*it)->first.file, (*it)->first.stamp, (*it)->first.hash);
  try {
    fs::create_directories(dir_);
    tools::write_atomically(dir_ / "file-hashes.tsv", "", [&](const fs::path& tmp) {
      std::ofstream out(tmp, std::ios::binary);
      out << text;
      if (!out) throw std::runtime_error("cannot write");
    });
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace bnr::broker
