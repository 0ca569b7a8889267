#include "transport.h"

#include <array>

namespace bnr::protocol {

bool send_message(zmq::socket_t& socket, const Message& message, std::string_view bulk,
                  const std::string& routing_id) {
  const std::array<std::string, 2> head = encode(message);
  const auto more = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
  try {
    if (!routing_id.empty() && !socket.send(zmq::buffer(routing_id), more)) return false;
    if (!socket.send(zmq::buffer(head[0]), more)) return false;
    if (!socket.send(zmq::buffer(head[1]), more)) return false;
    return socket.send(zmq::buffer(bulk.data(), bulk.size()), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

std::optional<Received> receive_message(zmq::socket_t& socket, bool router) {
  Received r;
  for (;;) {
    zmq::message_t frame;
    if (!socket.recv(frame, zmq::recv_flags::dontwait)) {
      if (r.frames.empty()) return std::nullopt;
      break;  // cannot happen mid-message: ZeroMQ delivers multipart messages whole
    }
    const bool more = frame.more();
    r.frames.push_back(std::move(frame));
    if (!more) break;
  }
  std::size_t first = 0;
  if (router) {
    r.routing_id = r.frames.front().to_string();
    first = 1;
  }
  // libzmq attaches the ZAP reply's user id to every message of that connection; it is read
  // here, per message, so it always belongs to the connection that sent this one.
  try {
    if (const char* user = r.frames.back().gets("User-Id"); user != nullptr) r.user_id = user;
  } catch (const zmq::error_t&) {
    // No ZAP handler on this socket: no user id.
  }
  std::vector<std::string_view> views;
  for (std::size_t i = first; i < r.frames.size(); ++i) views.push_back(r.frames[i].to_string_view());
  r.decoded = decode(views);
  return r;
}

}  // namespace bnr::protocol
