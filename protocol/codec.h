// The one place where bytes from the network become messages. Nothing from a peer is trusted
// before decode() accepts it.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "messages.h"

namespace bnr::protocol {

// The header and body frames; the caller sends the bulk (possibly empty) as the third frame,
// straight from its own buffer so large pixel data is not copied here.
[[nodiscard]] std::array<std::string, 2> encode(const Message& message);

struct Packet {
  Message message;
  std::string_view bulk;  // points into the frames given to decode()
};

struct Decoded {
  std::optional<Packet> packet;  // set when the message is well-formed and valid
  std::string error;             // otherwise: why not, one line, for logs and Refused
};

// Checks the frame count, the protocol name and version, the kind, the body's msgpack types
// and sizes (bounded before allocation), and each message's own invariants (known values,
// sane rectangles, pixel payload length equal to what the rectangle implies). Never throws.
[[nodiscard]] Decoded decode(std::span<const std::string_view> frames);

[[nodiscard]] const char* kind_name(const Message& message);

// A PassLayout on its own (the broker's spool keeps one per region): msgpack, and back with
// the same bounds and checks as inside a RegionDone. nullopt when `bytes` is not one.
[[nodiscard]] std::string encode_pass_layout(const PassLayout& layout);
[[nodiscard]] std::optional<PassLayout> decode_pass_layout(std::string_view bytes);

}  // namespace bnr::protocol
