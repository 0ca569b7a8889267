// The sockets behind bnr-broker --http: a small non-blocking HTTP/1.0 server polled from the
// job's loop (no threads). fd() is an epoll descriptor that is readable when a client needs
// attention: put it among the job's poll fds and call serve() each turn. What it answers is
// status_page.h. Bounded: requests of 8 KiB, 16 clients, 10 s per client.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "status_page.h"

namespace bnr::broker {

class StatusServer {
 public:
  // Listens on `where`; serves the preview from the bytes of `preview` (a file the job
  // rewrites atomically). Throws std::runtime_error with a one-line reason.
  StatusServer(const ListenAddress& where, std::filesystem::path preview);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  [[nodiscard]] int fd() const { return epoll_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  void set_status(const JobStatus& status) { status_ = status; }
  // Accepts, reads and answers whatever is ready, without blocking; drops clients that are
  // too slow.
  void serve();

 private:
  struct Client {
    std::string received;
    std::string reply;
    std::size_t sent = 0;
    std::chrono::steady_clock::time_point deadline;
  };
  void accept_clients();
  void read_from(int fd, Client& c);
  void write_to(int fd, Client& c);
  void answer(int fd, Client& c, const HttpRequest& request);
  void close_client(int fd);
  [[nodiscard]] std::optional<std::string> preview_bytes() const;

  int listener_ = -1;
  int epoll_ = -1;
  std::uint16_t port_ = 0;
  std::filesystem::path preview_;
  std::optional<JobStatus> status_;
  std::map<int, Client> clients_;
};

}  // namespace bnr::broker
