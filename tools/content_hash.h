// Content hashes of scene files: BLAKE2b-256 (libsodium), 64 lower-case hex digits. The
// broker hashes what it ships, the agent verifies what it receives and caches by the hash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <sodium.h>

namespace bnr::tools {

// Hashes bytes fed in pieces; digest() ends it.
class ContentHasher {
 public:
  ContentHasher();
  void update(std::string_view bytes);
  [[nodiscard]] std::string hex_digest();

 private:
  crypto_generichash_state state_{};
};

[[nodiscard]] std::string content_hash(std::string_view bytes);
// Reads the file in 1 MiB pieces. Throws std::runtime_error when it cannot be read.
[[nodiscard]] std::string content_hash_of_file(const std::filesystem::path& path);

}  // namespace bnr::tools
