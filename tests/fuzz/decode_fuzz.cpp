// libFuzzer target for the one decode boundary: any bytes, cut into frames, must be accepted
// or refused with a reason, never crash, leak or allocate without bound.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte says how many frames (0-4); each frame's length comes from the next two.
  if (size == 0) return 0;
  const std::size_t frames = data[0] % 5;
  std::size_t pos = 1;
  std::vector<std::string_view> views;
  for (std::size_t i = 0; i < frames; ++i) {
    std::size_t length = size - pos;
    if (i + 1 < frames && pos + 2 <= size) {
      length = std::min<std::size_t>((data[pos] << 8) | data[pos + 1], size - pos - 2);
      pos += 2;
    }
    views.emplace_back(reinterpret_cast<const char*>(data + pos), length);
    pos += length;
  }
  const bnr::protocol::Decoded decoded = bnr::protocol::decode(views);
  // Every refusal says why.
  if (!decoded.packet && decoded.error.empty()) __builtin_trap();
  return 0;
}
