// A slow, lossy point-to-point IPv4 link between this network namespace and a network
// namespace of its own, for processes run inside it (exec_prefix()).
//
// The link behaves like `tc qdisc add dev X root netem delay D loss P` on both ends: every
// packet is held for `delay` and dropped with probability `loss`, independently each way,
// so the kernels' TCP really retransmits. It is built from two TUN devices (one in each
// namespace) and a forwarder thread in this process, not from a veth pair with netem,
// because the kernels these tests run on may lack sch_netem (the test machine's does: only
// pfifo, bfifo, tbf and htb, and no classifiers or nftables to drop with). Addresses come
// from a private /30 in 10.201.0.0/16 picked by PID, so parallel test processes do not clash.
// Needs root (CAP_NET_ADMIN) and /dev/net/tun; skip_reason() says when either is missing.
//
// Teardown: the destructor stops the forwarder, closes both TUN devices (the kernel removes a
// non-persistent TUN device with its last fd, also when the test process dies) and deletes the
// namespace. Namespaces of earlier test processes that died are deleted at construction.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace bnr::testing {

class LossyLink {
 public:
  struct Impairment {
    std::chrono::milliseconds delay{0};  // one way, each direction
    double loss = 0.0;                   // probability a packet is dropped, each direction
  };
  explicit LossyLink(const Impairment& impairment);
  ~LossyLink();
  LossyLink(const LossyLink&) = delete;
  LossyLink& operator=(const LossyLink&) = delete;

  // Non-empty: the link could not be made on this machine (the test should skip).
  [[nodiscard]] const std::string& skip_reason() const { return skip_reason_; }
  [[nodiscard]] const std::string& netns() const { return netns_; }
  [[nodiscard]] const std::string& inner_address() const { return inner_address_; }  // in the namespace
  [[nodiscard]] const std::string& outer_address() const { return outer_address_; }  // here
  // Runs a command inside the namespace: {"ip", "netns", "exec", NAME}; ip execs the command,
  // so the PID a test ends is the command's own.
  [[nodiscard]] std::vector<std::string> exec_prefix() const { return {"ip", "netns", "exec", netns_}; }
  // Packets carried and dropped so far, both directions together.
  [[nodiscard]] std::uint64_t forwarded() const { return forwarded_; }
  [[nodiscard]] std::uint64_t dropped() const { return dropped_; }

 private:
  void set_up();
  void tear_down();
  void forward();

  Impairment impairment_;
  std::string skip_reason_;
  std::string netns_;
  std::string outer_device_;
  std::string inner_device_;
  std::string outer_address_;
  std::string inner_address_;
  int outer_fd_ = -1;
  int inner_fd_ = -1;
  bool netns_made_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> forwarded_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace bnr::testing
