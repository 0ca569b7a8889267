// Protocol messages on ZeroMQ sockets: the only code that turns frames into bytes for codec.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "codec.h"

namespace bnr::protocol {

// Sends [routing_id] header body bulk. routing_id is for ROUTER sockets; empty for DEALER.
// Non-blocking: false when the message could not be queued (peer gone, queue full).
bool send_message(zmq::socket_t& socket, const Message& message, std::string_view bulk = {},
                  const std::string& routing_id = {});

struct Received {
  std::string routing_id;                // ROUTER sockets: the sender
  // The ZAP handler's user id for the sender's connection (bnr's agents set the broker's
  // CURVE public key, Z85); empty when there is none.
  std::string user_id;
  std::vector<zmq::message_t> frames;    // keeps the bulk's bytes alive
  Decoded decoded;                       // decoded.packet->bulk points into frames
};

// Receives one multipart message if one is waiting (nullopt otherwise) and decodes it.
// A frame count or content that decode() refuses comes back with decoded.error set.
[[nodiscard]] std::optional<Received> receive_message(zmq::socket_t& socket, bool router);

// Largest frame a socket accepts: the .blend of an OpenJob, pixels of a region.
inline constexpr std::int64_t kMaxFrameBytes = std::int64_t{4} << 30;

}  // namespace bnr::protocol
