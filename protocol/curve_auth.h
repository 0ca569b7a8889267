// CURVE on bnr's sockets: every broker<->agent connection is authenticated and encrypted
// (ZeroMQ's CurveZMQ). This is the io side of curve_keys.h: the key files under the user's
// config directory, the agent's list of brokers it serves (which its ZAP handler consults),
// the broker's known agents, and the socket options and monitors of both ends.
// Setup failures throw std::runtime_error with one line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "curve_keys.h"

namespace bnr::protocol {

// $BNR_CONFIG_DIR, else $XDG_CONFIG_HOME/bnr, else ~/.config/bnr (where the broker also keeps
// its agent speeds).
[[nodiscard]] std::filesystem::path config_dir();

// Throws unless this libzmq was built with CURVE (zmq_has("curve")).
void require_curve();

// A new random key pair.
[[nodiscard]] CurveKeyPair make_key_pair();

// The key pair in `path` (e.g. config_dir() / "broker.key"). A missing file is created with a
// new pair: mode 0600, parent directories as needed, written to a temporary file and then
// hard-linked into place, so processes that start together all end up with the same pair.
// Throws when the file cannot be read or written, does not parse, or its public key is not
// the secret key's. `owner` ("bnr-broker") names it in the file's comment.
[[nodiscard]] CurveKeyPair load_or_create_key_pair(const std::filesystem::path& path, std::string_view owner);

// The text of `path`; a missing file is first created with make()'s text and permission bits
// `mode` (parent directories as needed), atomically and never over a file another process
// created meanwhile (that one is read instead). Throws when it cannot be read or written.
[[nodiscard]] std::string read_or_create_file(const std::filesystem::path& path,
                                              const std::function<std::string()>& make, unsigned mode);

// The file's text; nullopt when it does not exist. Throws when it exists but cannot be read.
[[nodiscard]] std::optional<std::string> read_text_file(const std::filesystem::path& path);
// Replaces `path` atomically (a temporary file in the same directory renamed over it), with
// permission bits `mode`. Throws.
void replace_text_file(const std::filesystem::path& path, std::string_view text, unsigned mode);

// The agent's socket: serves CURVE as `own`; each client's key then goes to the ZAP handler.
void set_curve_server(zmq::socket_t& socket, const CurveKeyPair& own);
// The broker's socket: talks only to the peer holding the secret key of `server_key`.
void set_curve_client(zmq::socket_t& socket, const CurveKeyPair& own, const std::string& server_key);

// What a socket monitor reports.
struct SocketEvent {
  std::uint16_t event = 0;  // ZMQ_EVENT_*
  std::uint32_t value = 0;  // HANDSHAKE_FAILED_AUTH: the ZAP status; _PROTOCOL: ZMQ_PROTOCOL_ERROR_*
};
// Starts ZeroMQ's monitor of `socket` for ZMQ_EVENT_CONNECTED, _HANDSHAKE_SUCCEEDED and
// _HANDSHAKE_FAILED_{NO_DETAIL,PROTOCOL,AUTH}, and returns the PAIR socket the events arrive
// on. A refused handshake never shows on the socket itself: this is how its end learns why.
// `name` must be unique within `context`. Call before the socket connects or binds.
[[nodiscard]] zmq::socket_t monitor_handshakes(zmq::socket_t& socket, zmq::context_t& context,
                                               const std::string& name);
// The next event, if one is waiting.
[[nodiscard]] std::optional<SocketEvent> receive_event(zmq::socket_t& monitor);

// ZAP (ZeroMQ RFC 27): libzmq asks the REP socket bound at kZapEndpoint in a socket's context
// whether to accept each client that completed the CURVE handshake.
inline constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
struct ZapRequest {
  std::string request_id{};
  std::string address{};     // the client's IP address
  std::string mechanism{};   // "CURVE" on bnr's sockets
  std::string client_key{};  // Z85; empty for another mechanism
};
// The next request waiting on `handler`, nullopt if none. A malformed one (not from libzmq)
// is answered with status 500 here and skipped.
[[nodiscard]] std::optional<ZapRequest> receive_zap_request(zmq::socket_t& handler);
// Accepts (200) or refuses (400) the client. A refused client's socket monitor then reports
// ZMQ_EVENT_HANDSHAKE_FAILED_AUTH with value 400 and libzmq does not reconnect it.
void send_zap_reply(zmq::socket_t& handler, const ZapRequest& request, bool allowed, const std::string& status_text);

// The brokers an agent serves: keys from --authorize, the keys in its authorized_brokers file
// (re-read whenever the file changes, so adding a line needs no restart), or every broker with
// trust_any. A missing file authorizes nothing.
class BrokerAuthorizer {
 public:
  BrokerAuthorizer(std::vector<std::string> keys, std::filesystem::path file, bool trust_any);

  struct Verdict {
    bool allowed = false;
    std::string source{};  // why: "--trust-any", "--authorize", "authorized_brokers (note)"
  };
  // Re-reads the file first if it changed.
  [[nodiscard]] Verdict check(const std::string& key);
  // Keys authorized now (flags and file; 0 with trust_any means "any").
  [[nodiscard]] std::size_t count();
  // Lines of the file that were ignored, each once per change of the file: "FILE line 3: ...".
  [[nodiscard]] std::vector<std::string> take_problems();
  [[nodiscard]] const std::filesystem::path& file() const { return file_; }
  [[nodiscard]] bool trust_any() const { return trust_any_; }

 private:
  void refresh();

  std::vector<std::string> flag_keys_;
  std::filesystem::path file_;
  bool trust_any_ = false;
  AuthorizedKeys file_keys_;
  bool file_seen_ = false;
  std::filesystem::file_time_type file_time_{};
  std::uintmax_t file_size_ = 0;
  std::vector<std::string> problems_;
};

// The broker's known_agents file: the key each agent proved to hold at the first connection.
class KnownAgentsFile {
 public:
  // Reads `path` (missing: nothing known). Throws when it exists but cannot be read.
  explicit KnownAgentsFile(std::filesystem::path path);

  [[nodiscard]] const KnownAgents& known() const { return known_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Empty when (kind, name) is unknown or known with `key`; otherwise one line saying which key
  // is known for it, in which line of the file, and how to accept a changed key.
  [[nodiscard]] std::string conflict(KnownKind kind, const std::string& name, const std::string& key) const;
  // Adds the entry unless (kind, name) is already known. Re-reads the file first, so lines
  // other brokers added meanwhile stay. False when the file could not be written.
  bool remember(KnownKind kind, const std::string& name, const std::string& key);

 private:
  std::filesystem::path path_;
  KnownAgents known_;
};

}  // namespace bnr::protocol
