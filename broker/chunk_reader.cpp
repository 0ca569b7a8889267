#include "chunk_reader.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "messages.h"

namespace bnr::broker {

ChunkReader::ChunkReader(const SceneManifest& manifest) {
  for (const ManifestFile& f : manifest.files) by_hash_.emplace(f.hash, Source{f.source.string(), f.size, -1});
}

ChunkReader::~ChunkReader() {
  for (auto& [hash, source] : by_hash_)
    if (source.fd >= 0) close(source.fd);
}

ChunkReader::Chunk ChunkReader::read(const std::string& hash, std::uint64_t offset, std::uint64_t length) {
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return {{}, "asked for a file that is not part of the job", true};
  Source& s = it->second;
  if (length == 0 || length > protocol::kMaxChunkBytes || offset >= s.size)
    return {{}, "asked for bytes " + std::to_string(offset) + "+" + std::to_string(length) + " of a " +
                    std::to_string(s.size) + "-byte file",
            true};
  if (s.fd < 0) {
    s.fd = open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (s.fd < 0) return {{}, "cannot read " + s.path + ": " + std::strerror(errno), false};
  }
  std::string bytes(std::min<std::uint64_t>(length, s.size - offset), '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = pread(s.fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {{}, "cannot read " + s.path + ": " + std::strerror(errno), false};
    if (n == 0) return {{}, s.path + " changed while it was being sent; run the job again", false};
    got += static_cast<std::size_t>(n);
  }
  return {std::move(bytes), {}, false};
}

}  // namespace bnr::broker
