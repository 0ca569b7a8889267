#include "curve_auth.h"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <random>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace bnr::protocol {
namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

// A name next to `path` that no other process picks: pid plus a random number.
fs::path temp_path_for(const fs::path& path) {
  std::random_device rd;
  return path.string() + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(rd());
}

// Writes `text` into a new file at `path` with `mode`, durably. Throws.
void write_new_file(const fs::path& path, std::string_view text, unsigned mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) throw std::runtime_error("cannot create " + path.string() + ": " + errno_text());
  // The umask can only take permissions away; set exactly `mode`.
  bool ok = fchmod(fd, static_cast<mode_t>(mode)) == 0;
  std::size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  const std::string why = ok ? std::string() : errno_text();
  close(fd);
  if (!ok) {
    unlink(path.c_str());
    throw std::runtime_error("cannot write " + path.string() + ": " + why);
  }
}

void create_parent(const fs::path& path) {
  if (!path.has_parent_path()) return;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) throw std::runtime_error("cannot create " + path.parent_path().string() + ": " + ec.message());
}

std::string z85_of_raw_key(const zmq::message_t& raw) {
  char text[kCurveKeyChars + 1] = {};
  if (raw.size() != 32 || zmq_z85_encode(text, static_cast<const std::uint8_t*>(raw.data()), raw.size()) == nullptr)
    return {};
  return text;
}

}  // namespace

fs::path config_dir() {
  if (const char* dir = std::getenv("BNR_CONFIG_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0') return fs::path(xdg) / "bnr";
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr && *home != '\0' ? home : "/tmp") / ".config" / "bnr";
}

void require_curve() {
  if (zmq_has("curve") == 0)
    throw std::runtime_error(
        "this libzmq was built without CURVE security (zmq_has(\"curve\") is false); bnr needs a libzmq built "
        "with libsodium or its bundled TweetNaCl, such as Debian's libzmq5");
}

CurveKeyPair make_key_pair() {
  require_curve();
  char public_key[kCurveKeyChars + 1] = {};
  char secret_key[kCurveKeyChars + 1] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0)
    throw std::runtime_error(std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno()));
  return {public_key, secret_key};
}

std::optional<std::string> read_text_file(const fs::path& path) {
  // errno of the open itself: checking for the file afterwards would race with its creator.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw std::runtime_error("cannot read " + path.string() + ": " + errno_text());
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = errno_text();
      close(fd);
      throw std::runtime_error("cannot read " + path.string() + ": " + why);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  return text;
}

void replace_text_file(const fs::path& path, std::string_view text, unsigned mode) {
  create_parent(path);
  const fs::path temp = temp_path_for(path);
  write_new_file(temp, text, mode);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    unlink(temp.c_str());
    throw std::runtime_error("cannot replace " + path.string() + ": " + why);
  }
}

std::string read_or_create_file(const fs::path& path, const std::function<std::string()>& make, unsigned mode) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (std::optional<std::string> text = read_text_file(path)) return std::move(*text);
    create_parent(path);
    const std::string text = make();
    const fs::path temp = temp_path_for(path);
    write_new_file(temp, text, mode);
    // link() never replaces: when another process created the file first, this one reads
    // and uses that file, so all of them share one identity.
    const int linked = link(temp.c_str(), path.c_str());
    const int link_errno = errno;
    if (linked != 0 && link_errno != EEXIST) {
      // A file system without hard links: rename, which replaces (a rare race loses a file
      // nobody has used yet).
      if (rename(temp.c_str(), path.c_str()) == 0) return text;
      const std::string why = errno_text();
      unlink(temp.c_str());
      throw std::runtime_error("cannot create " + path.string() + ": " + why);
    }
    unlink(temp.c_str());
    if (linked == 0) return text;
  }
  throw std::runtime_error("cannot read " + path.string() + ": it keeps disappearing");
}

CurveKeyPair load_or_create_key_pair(const fs::path& path, std::string_view owner) {
  require_curve();
  const std::string text = read_or_create_file(path, [&] { return format_key_file(make_key_pair(), owner); }, 0600);
  std::string error;
  const std::optional<CurveKeyPair> keys = parse_key_file(text, &error);
  if (!keys) throw std::runtime_error(path.string() + ": " + error + " (move the file away to make a new key pair)");
  char derived[kCurveKeyChars + 1] = {};
  if (zmq_curve_public(derived, keys->secret_key.c_str()) != 0 || keys->public_key != derived)
    throw std::runtime_error(path.string() +
                             ": its public-key is not the secret-key's (move the file away to make a new key pair)");
  return *keys;
}

void set_curve_server(zmq::socket_t& socket, const CurveKeyPair& own) {
  try {
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_publickey, own.public_key);
    socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
    socket.set(zmq::sockopt::zap_domain, "bnr");
  } catch (const zmq::error_t& e) {
    throw std::runtime_error(std::string("cannot set up CURVE on a socket: ") + e.what());
  }
}

void set_curve_client(zmq::socket_t& socket, const CurveKeyPair& own, const std::string& server_key) {
  if (!is_curve_key(server_key)) throw std::runtime_error("'" + server_key + "' is not a CURVE public key");
  try {
    socket.set(zmq::sockopt::curve_serverkey, server_key);
    socket.set(zmq::sockopt::curve_publickey, own.public_key);
    socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error(std::string("cannot set up CURVE on a socket: ") + e.what());
  }
}

zmq::socket_t monitor_handshakes(zmq::socket_t& socket, zmq::context_t& context, const std::string& name) {
  const std::string endpoint = "inproc://" + name;
  constexpr int kEvents = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                          ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), kEvents) != 0)
    throw std::runtime_error(std::string("cannot monitor a socket: ") + zmq_strerror(zmq_errno()));
  zmq::socket_t monitor(context, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(endpoint);
  return monitor;
}

std::optional<SocketEvent> receive_event(zmq::socket_t& monitor) {
  zmq::message_t head;
  if (!monitor.recv(head, zmq::recv_flags::dontwait)) return std::nullopt;
  zmq::message_t address;  // the second frame always follows the first
  while (head.more() && monitor.recv(address, zmq::recv_flags::dontwait) && address.more()) {
  }
  SocketEvent event;
  if (head.size() >= 6) {
    std::memcpy(&event.event, head.data(), sizeof event.event);
    std::memcpy(&event.value, static_cast<const char*>(head.data()) + 2, sizeof event.value);
  }
  return event;
}

std::optional<ZapRequest> receive_zap_request(zmq::socket_t& handler) {
  for (;;) {
    std::vector<zmq::message_t> frames;
    for (;;) {
      zmq::message_t frame;
      if (!handler.recv(frame, frames.empty() ? zmq::recv_flags::dontwait : zmq::recv_flags::none))
        return std::nullopt;
      const bool more = frame.more();
      frames.push_back(std::move(frame));
      if (!more) break;
    }
    // RFC 27: version, request id, domain, address, identity, mechanism, credentials...
    ZapRequest request;
    if (frames.size() >= 2) request.request_id = frames[1].to_string();
    if (frames.size() >= 6 && frames[0].to_string_view() == "1.0") {
      request.address = frames[3].to_string();
      request.mechanism = frames[5].to_string();
      if (request.mechanism == "CURVE" && frames.size() >= 7) request.client_key = z85_of_raw_key(frames[6]);
      return request;
    }
    // A REP socket must answer before it can read the next request.
    const std::array<std::string, 6> reply = {"1.0", request.request_id, "500", "malformed ZAP request", "", ""};
    for (std::size_t i = 0; i < reply.size(); ++i)
      (void)handler.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

void send_zap_reply(zmq::socket_t& handler, const ZapRequest& request, bool allowed, const std::string& status_text) {
  // The user id becomes the "User-Id" property of the client's messages: its key.
  const std::array<std::string, 6> reply = {"1.0", request.request_id, allowed ? "200" : "400", status_text,
                                            allowed ? request.client_key : std::string(), ""};
  for (std::size_t i = 0; i < reply.size(); ++i)
    (void)handler.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

BrokerAuthorizer::BrokerAuthorizer(std::vector<std::string> keys, fs::path file, bool trust_any)
    : flag_keys_(std::move(keys)), file_(std::move(file)), trust_any_(trust_any) {
  refresh();
}

void BrokerAuthorizer::refresh() {
  std::error_code ec;
  const bool exists = fs::is_regular_file(file_, ec);
  if (!exists) {
    file_seen_ = false;
    file_keys_ = {};
    return;
  }
  const auto time = fs::last_write_time(file_, ec);
  const auto size = fs::file_size(file_, ec);
  if (file_seen_ && time == file_time_ && size == file_size_) return;
  file_seen_ = true;
  file_time_ = time;
  file_size_ = size;
  try {
    file_keys_ = parse_authorized_keys(read_text_file(file_).value_or(""));
    for (const std::string& p : file_keys_.problems) problems_.push_back(file_.string() + " " + p);
  } catch (const std::exception& e) {
    file_keys_ = {};
    problems_.push_back(e.what());
  }
}

BrokerAuthorizer::Verdict BrokerAuthorizer::check(const std::string& key) {
  refresh();
  if (trust_any_) return {true, "--trust-any"};
  for (const std::string& k : flag_keys_)
    if (k == key) return {true, "--authorize"};
  if (const AuthorizedKey* k = file_keys_.find(key))
    return {true, file_.filename().string() + (k->note.empty() ? "" : " (" + k->note + ")")};
  return {false, {}};
}

std::size_t BrokerAuthorizer::count() {
  refresh();
  std::size_t n = file_keys_.keys.size();
  for (const std::string& k : flag_keys_) n += file_keys_.find(k) == nullptr;
  return n;
}

std::vector<std::string> BrokerAuthorizer::take_problems() { return std::exchange(problems_, {}); }

KnownAgentsFile::KnownAgentsFile(fs::path path) : path_(std::move(path)) {
  known_ = parse_known_agents(read_text_file(path_).value_or(""));
}

std::string KnownAgentsFile::conflict(KnownKind kind, const std::string& name, const std::string& key) const {
  return known_conflict(known_, path_.string(), kind, name, key);
}

bool KnownAgentsFile::remember(KnownKind kind, const std::string& name, const std::string& key) {
  try {
    const std::string text = read_text_file(path_).value_or("");
    known_ = parse_known_agents(text);
    if (known_.find(kind, name) != nullptr) return true;
    const std::string updated = append_known_agent(text, {kind, name, key, 0});
    if (updated == text) return false;
    replace_text_file(path_, updated, 0644);
    known_ = parse_known_agents(updated);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace bnr::protocol
