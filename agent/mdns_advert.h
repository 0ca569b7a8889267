// Advertises this agent on the local network: a "_bnr._tcp" DNS-SD service for its port, with
// the TXT record of protocol/mdns_txt.h. dns_sd.h API (Avahi's compatibility library on
// Linux), so it needs a running avahi-daemon; without one the agent works, unadvertised.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "messages.h"

struct _DNSServiceRef_t;  // dns_sd.h's DNSServiceRef points to it; kept out of this header

namespace bnr::agent {

class MdnsAdvert {
 public:
  // Starts registering `port` under the instance name `info.name` (empty: the host name);
  // Avahi renames on a conflict ("name #2"). Throws std::runtime_error with one line such as
  // "mDNS unavailable: is avahi-daemon running? (DNSServiceRegister error -65537)" when the
  // daemon cannot be reached; the caller warns and goes on without mDNS. `curve_key` (the
  // agent's public key, Z85) and `join_proofs` (the farms it joined, protocol/farm_join.h's
  // join_proofs) go into the TXT record when not empty.
  MdnsAdvert(const protocol::AgentInfo& info, int port, const std::string& curve_key = {},
             const std::string& join_proofs = {});
  // Withdraws the advert (the daemon sends the goodbye).
  ~MdnsAdvert();
  MdnsAdvert(const MdnsAdvert&) = delete;
  MdnsAdvert& operator=(const MdnsAdvert&) = delete;

  // Readable when process() has something to do; poll it beside the other sockets.
  [[nodiscard]] int fd() const;

  // Call only when fd() is readable (it blocks otherwise). Returns a line worth logging when
  // the state changed: registered (with the name finally used), or failed, after which
  // failed() is true and the advert should be dropped (fd() must no longer be polled).
  [[nodiscard]] std::optional<std::string> process();

  // Replaces the TXT record's join proofs (the agent joined a farm while running). False when
  // the daemon refused the update or the advert failed.
  bool set_join_proofs(const std::string& join_proofs);

  [[nodiscard]] bool registered() const { return registered_; }
  [[nodiscard]] bool failed() const { return failed_; }
  // The instance name in use once registered() (may differ from info.name after a conflict).
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  struct Callbacks;  // dns_sd's C callbacks, defined in the .cpp
  struct RefDeleter {
    void operator()(_DNSServiceRef_t* ref) const;
  };

  std::unique_ptr<_DNSServiceRef_t, RefDeleter> ref_;
  int port_ = 0;
  protocol::AgentInfo info_;  // what the TXT record says, kept for set_join_proofs
  std::string curve_key_;
  bool registered_ = false;
  bool failed_ = false;
  std::string name_;
  std::optional<std::string> event_;
};

}  // namespace bnr::agent
