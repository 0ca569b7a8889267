// Answers agents' FetchChunk requests from the files on disk: the broker never holds a scene
// in memory, only the chunk being sent, so a 2 GB scene costs a few MiB per agent.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "scene_manifest.h"

namespace bnr::broker {

class ChunkReader {
 public:
  explicit ChunkReader(const SceneManifest& manifest);
  ~ChunkReader();
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  struct Chunk {
    std::string bytes;   // empty when `error` is set
    std::string error;   // why the request cannot be answered, one line
    bool agent_fault = false;  // the request itself is wrong (unknown file, past its end)
  };
  // Up to `length` bytes of the file with `hash` from `offset` (fewer only at its end). A file
  // that changed since it was hashed (shorter now) is an error that is not the agent's fault.
  [[nodiscard]] Chunk read(const std::string& hash, std::uint64_t offset, std::uint64_t length);

 private:
  struct Source {
    std::string path;
    std::uint64_t size = 0;
    int fd = -1;
  };
  std::map<std::string, Source> by_hash_;
};

}  // namespace bnr::broker
