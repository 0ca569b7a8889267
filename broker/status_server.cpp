#include "status_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

namespace bnr::broker {
namespace {

constexpr std::size_t kMaxClients = 16;
constexpr auto kClientTime = std::chrono::seconds(10);
constexpr std::uintmax_t kMaxPreviewBytes = 256u << 20;

int listen_on(const ListenAddress& where, std::uint16_t& bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string what = "--http " + where.host + ":" + std::to_string(where.port);
  if (const int rc = getaddrinfo(where.host.c_str(), std::to_string(where.port).c_str(), &hints, &found); rc != 0)
    throw std::runtime_error(what + ": " + gai_strerror(rc));
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  const bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                  bind(fd, found->ai_addr, found->ai_addrlen) == 0 && listen(fd, 16) == 0;
  const int err = errno;
  freeaddrinfo(found);
  if (!ok) {
    if (fd >= 0) close(fd);
    throw std::runtime_error(what + ": cannot listen: " + std::strerror(err));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  bound_port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return fd;
}

void watch(int epoll, int op, int fd, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  epoll_ctl(epoll, op, fd, &ev);
}

}  // namespace

StatusServer::StatusServer(const ListenAddress& where, std::filesystem::path preview)
    : preview_(std::move(preview)) {
  listener_ = listen_on(where, port_);
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) {
    close(listener_);
    throw std::runtime_error(std::string("--http: epoll: ") + std::strerror(errno));
  }
  watch(epoll_, EPOLL_CTL_ADD, listener_, EPOLLIN);
}

StatusServer::~StatusServer() {
  for (const auto& [fd, client] : clients_) close(fd);
  close(epoll_);
  close(listener_);
}

void StatusServer::serve() {
  epoll_event events[32];
  const int n = epoll_wait(epoll_, events, 32, 0);
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == listener_) {
      accept_clients();
      continue;
    }
    const auto it = clients_.find(fd);
    if (it == clients_.end()) continue;
    if (events[i].events & (EPOLLERR | EPOLLHUP)) {
      close_client(fd);
    } else if (it->second.reply.empty()) {
      read_from(fd, it->second);
    } else {
      write_to(fd, it->second);
    }
  }
  const auto now = std::chrono::steady_clock::now();
  std::vector<int> late;
  for (const auto& [fd, client] : clients_)
    if (now >= client.deadline) late.push_back(fd);
  for (const int fd : late) close_client(fd);
}

void StatusServer::accept_clients() {
  for (;;) {
    const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: none left; anything else: that client is gone
    if (clients_.size() >= kMaxClients) {
      close(fd);
      continue;
    }
    clients_[fd].deadline = std::chrono::steady_clock::now() + kClientTime;
    watch(epoll_, EPOLL_CTL_ADD, fd, EPOLLIN);
  }
}

void StatusServer::read_from(int fd, Client& c) {
  char buf[4096];
  const ssize_t n = recv(fd, buf, std::min(sizeof buf, kMaxRequestBytes - c.received.size()), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_client(fd);
    return;
  }
  c.received.append(buf, static_cast<std::size_t>(n));
  const HttpRequest request = parse_request(c.received);
  if (request.verdict != HttpRequest::Verdict::incomplete) answer(fd, c, request);
}

void StatusServer::answer(int fd, Client& c, const HttpRequest& request) {
  c.reply = respond(request, status_, [this] { return preview_bytes(); });
  watch(epoll_, EPOLL_CTL_MOD, fd, EPOLLOUT);
  write_to(fd, c);
}

void StatusServer::write_to(int fd, Client& c) {
  while (c.sent < c.reply.size()) {
    const ssize_t n = send(fd, c.reply.data() + c.sent, c.reply.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) break;
    c.sent += static_cast<std::size_t>(n);
  }
  // Unread bytes at close() would reset the connection and could cut the reply short.
  char sink[4096];
  for (int i = 0; i < 4 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  close_client(fd);
}

void StatusServer::close_client(int fd) {
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  clients_.erase(fd);
}

std::optional<std::string> StatusServer::preview_bytes() const {
  std::error_code ec;
  const auto size = std::filesystem::file_size(preview_, ec);
  if (ec || size == 0 || size > kMaxPreviewBytes) return std::nullopt;
  std::ifstream in(preview_, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in && !in.eof()) return std::nullopt;
  return bytes.empty() ? std::nullopt : std::optional<std::string>(std::move(bytes));
}

}  // namespace bnr::broker
