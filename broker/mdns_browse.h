// Finds the agents advertised on the local network ("_bnr._tcp", see protocol/mdns_txt.h)
// with the dns_sd.h API (Avahi's compatibility library on Linux: needs avahi-daemon).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mdns_txt.h"

namespace bnr::broker {

struct DiscoveredAgent {
  std::string service_name;  // DNS-SD instance name, unique on the link, e.g. "host1"
  std::string host;          // the host that offers it, e.g. "host1.local."
  std::string address;       // its IPv4 address, dotted quad
  int port = 0;
  std::uint32_t interface_index = 0;  // where it was found (lo = 1 on Linux)
  protocol::AgentTxt txt;             // protocol version, name, id, threads, Blender version

  // "address:port", what --agent takes.
  [[nodiscard]] std::string endpoint() const { return address + ":" + std::to_string(port); }
};

// A browse that goes on as long as the object lives, for a broker that lets agents join a
// job mid-render. Never blocks except inside run_for.
class AgentBrowser {
 public:
  // Starts browsing; when mDNS cannot be used, error() says why in one line.
  AgentBrowser();
  ~AgentBrowser();
  AgentBrowser(const AgentBrowser&) = delete;
  AgentBrowser& operator=(const AgentBrowser&) = delete;

  // Waits up to `max_wait` for the daemon's answers and takes in what arrived (0: only what
  // is there already).
  void run_for(std::chrono::milliseconds max_wait);
  // The agents whose service, TXT record and address have all arrived and that have not
  // been withdrawn since, sorted by service name. A TXT record that changes later (an agent
  // that joined a farm) is followed.
  [[nodiscard]] std::vector<DiscoveredAgent> agents() const;
  [[nodiscard]] const std::string& error() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Browses for `window` (blocking that long) and returns the agents whose service, TXT record
// and IPv4 address all arrived within it, sorted by service name. Each service name appears
// once (one seen on several interfaces or protocols is reported with the first address
// found). A service removed during the window is left out; one withdrawn less than ~1 s
// before the browse may still appear (the daemon's cache keeps it 1 s after its goodbye, RFC
// 6762 10.1). Agents of any protocol version are reported: compare txt.protocol_version.
// Window: on loopback every browse of 30 ms or more found a registered agent; allow for
// responders' 20-120 ms answer delay and a lost packet on a real network (about 1 s).
// When mDNS cannot be used at all (no avahi-daemon, no D-Bus) it returns at once, empty,
// and sets `*error` (if given) to one line such as "mDNS unavailable: is avahi-daemon
// running? (DNSServiceBrowse error -65537)"; otherwise `*error` is cleared.
[[nodiscard]] std::vector<DiscoveredAgent> browse_agents(std::chrono::milliseconds window,
                                                         std::string* error = nullptr);

}  // namespace bnr::broker
