#include "content_hash.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>
#include <vector>

namespace bnr::tools {
namespace {
constexpr std::size_t kDigestBytes = 32;
}

ContentHasher::ContentHasher() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not initialise");
  crypto_generichash_init(&state_, nullptr, 0, kDigestBytes);
}

void ContentHasher::update(std::string_view bytes) {
  crypto_generichash_update(&state_, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

std::string ContentHasher::hex_digest() {
  std::array<unsigned char, kDigestBytes> digest{};
  crypto_generichash_final(&state_, digest.data(), digest.size());
  std::array<char, kDigestBytes * 2 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data(), kDigestBytes * 2);
}

std::string content_hash(std::string_view bytes) {
  ContentHasher h;
  h.update(bytes);
  return h.hex_digest();
}

std::string content_hash_of_file(const std::filesystem::path& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot read " + path.string() + ": " + std::strerror(errno));
  ContentHasher h;
  std::vector<char> buffer(1 << 20);
  for (;;) {
    const ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      throw std::runtime_error("cannot read " + path.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    h.update({buffer.data(), static_cast<std::size_t>(n)});
  }
  close(fd);
  return h.hex_digest();
}

}  // namespace bnr::tools
