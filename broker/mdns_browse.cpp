#include "mdns_browse.h"

#include <arpa/inet.h>
#include <dns_sd.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <map>
#include <memory>
#include <utility>

namespace bnr::broker {

namespace {

// See agent/mdns_advert.cpp: keeps Avahi's "compatibility layer" warning off stderr.
void quiet_avahi_compat_warning() {
  static const bool done = [] { return setenv("AVAHI_COMPAT_NOWARN", "1", 0) == 0; }();
  (void)done;
}

struct RefDeleter {
  void operator()(_DNSServiceRef_t* ref) const { DNSServiceRefDeallocate(ref); }
};
using Ref = std::unique_ptr<_DNSServiceRef_t, RefDeleter>;

struct Browse;

// One service on its way from a name to an address: DNSServiceResolve (host, port, TXT),
// then DNSServiceQueryRecord for the host's A record. Avahi's compat library has no
// DNSServiceGetAddrInfo, and an A-record query works the same against Apple's daemon.
struct Lookup {
  Browse* browse = nullptr;
  DiscoveredAgent agent;
  std::string full_name;     // the service's DNS name, for its TXT watch
  Ref ref;                   // the resolve, then the query
  std::vector<Ref> retired;  // the resolve, released once its callback has returned
  bool done = false;
};

// A found service's TXT record, watched for as long as the service is there: an agent that
// joins a farm while it runs changes its TXT record (the join proofs).
struct TxtWatch {
  Browse* browse = nullptr;
  std::string service;
  Ref ref;
};

struct Browse {
  Ref ref;
  std::map<std::string, std::unique_ptr<TxtWatch>> txt_watches;  // by service name
  std::vector<std::unique_ptr<TxtWatch>> retired_watches;         // of services just removed
  std::map<std::pair<std::string, std::uint32_t>, int> present;  // sightings per (name, interface)
  std::vector<std::unique_ptr<Lookup>> lookups;
  std::map<std::string, DiscoveredAgent> found;
  std::string error;

  [[nodiscard]] bool still_present(const std::string& name) const {
    const auto it = present.lower_bound({name, 0});
    return it != present.end() && it->first.first == name;
  }
  [[nodiscard]] bool looking_up(const std::string& name) const {
    for (const auto& l : lookups)
      if (!l->done && l->agent.service_name == name) return true;
    return false;
  }
};

void DNSSD_API on_txt(DNSServiceRef, DNSServiceFlags flags, uint32_t, DNSServiceErrorType error, const char*,
                      uint16_t rrtype, uint16_t, uint16_t rdlen, const void* rdata, uint32_t, void* context) {
  const auto& watch = *static_cast<TxtWatch*>(context);
  if (error != kDNSServiceErr_NoError || (flags & kDNSServiceFlagsAdd) == 0 || rrtype != kDNSServiceType_TXT) return;
  const auto it = watch.browse->found.find(watch.service);
  if (it != watch.browse->found.end())
    it->second.txt = protocol::parse_agent_txt(std::string_view(static_cast<const char*>(rdata), rdlen));
}

// Starts watching the TXT record of a service just found; without a watch (the daemon
// refused it) the record stays as resolved.
void watch_txt(Browse& browse, const Lookup& lookup) {
  auto watch = std::make_unique<TxtWatch>();
  watch->browse = &browse;
  watch->service = lookup.agent.service_name;
  DNSServiceRef ref = nullptr;
  if (lookup.full_name.empty() ||
      DNSServiceQueryRecord(&ref, 0, lookup.agent.interface_index, lookup.full_name.c_str(), kDNSServiceType_TXT,
                            kDNSServiceClass_IN, &on_txt, watch.get()) != kDNSServiceErr_NoError)
    return;
  watch->ref.reset(ref);
  browse.txt_watches[watch->service] = std::move(watch);
}

void DNSSD_API on_address(DNSServiceRef, DNSServiceFlags flags, uint32_t, DNSServiceErrorType error, const char*,
                          uint16_t rrtype, uint16_t, uint16_t rdlen, const void* rdata, uint32_t, void* context) {
  auto& lookup = *static_cast<Lookup*>(context);
  if (lookup.done) return;
  if (error != kDNSServiceErr_NoError) {
    lookup.done = true;
    return;
  }
  if ((flags & kDNSServiceFlagsAdd) == 0 || rrtype != kDNSServiceType_A || rdlen != 4) return;
  char text[INET_ADDRSTRLEN] = {};
  if (inet_ntop(AF_INET, rdata, text, sizeof text) == nullptr) return;
  lookup.agent.address = text;
  lookup.done = true;
  lookup.browse->found.emplace(lookup.agent.service_name, lookup.agent);
  watch_txt(*lookup.browse, lookup);
}

void DNSSD_API on_resolved(DNSServiceRef, DNSServiceFlags, uint32_t interface, DNSServiceErrorType error,
                           const char* full_name, const char* host, uint16_t port, uint16_t txt_length, const unsigned char* txt,
                           void* context) {
  auto& lookup = *static_cast<Lookup*>(context);
  if (lookup.done || !lookup.agent.host.empty()) return;  // Avahi may report a resolve again
  if (error != kDNSServiceErr_NoError || host == nullptr) {
    lookup.done = true;
    return;
  }
  lookup.agent.host = host;
  if (full_name != nullptr) lookup.full_name = full_name;
  lookup.agent.port = ntohs(port);
  lookup.agent.txt =
      protocol::parse_agent_txt(std::string_view(reinterpret_cast<const char*>(txt), txt != nullptr ? txt_length : 0));
  DNSServiceRef query = nullptr;
  if (DNSServiceQueryRecord(&query, 0, interface, host, kDNSServiceType_A, kDNSServiceClass_IN, &on_address, &lookup) !=
      kDNSServiceErr_NoError) {
    lookup.done = true;
    return;
  }
  lookup.retired.push_back(std::move(lookup.ref));
  lookup.ref.reset(query);
}

void DNSSD_API on_browse(DNSServiceRef, DNSServiceFlags flags, uint32_t interface, DNSServiceErrorType error,
                         const char* name, const char* type, const char* domain, void* context) {
  auto& browse = *static_cast<Browse*>(context);
  if (error != kDNSServiceErr_NoError || name == nullptr || type == nullptr || domain == nullptr) {
    browse.error = "mDNS browse failed (error " + std::to_string(error) + "): is avahi-daemon running?";
    return;
  }
  const std::string service = name;
  if ((flags & kDNSServiceFlagsAdd) == 0) {
    // Avahi reports IPv4 and IPv6 sightings separately, both with the same interface.
    auto it = browse.present.find({service, interface});
    if (it != browse.present.end() && --it->second <= 0) browse.present.erase(it);
    if (browse.still_present(service)) return;
    browse.found.erase(service);
    if (const auto w = browse.txt_watches.find(service); w != browse.txt_watches.end()) {
      browse.retired_watches.push_back(std::move(w->second));  // freed after the callbacks
      browse.txt_watches.erase(w);
    }
    for (auto& l : browse.lookups)
      if (l->agent.service_name == service) l->done = true;
    return;
  }
  ++browse.present[{service, interface}];
  if (browse.found.count(service) != 0 || browse.looking_up(service)) return;
  auto lookup = std::make_unique<Lookup>();
  lookup->browse = &browse;
  lookup->agent.service_name = service;
  lookup->agent.interface_index = interface;
  DNSServiceRef ref = nullptr;
  if (DNSServiceResolve(&ref, 0, interface, name, type, domain, &on_resolved, lookup.get()) != kDNSServiceErr_NoError)
    return;  // this sighting stays unresolved; another interface may still find the service
  lookup->ref.reset(ref);
  browse.lookups.push_back(std::move(lookup));
}

}  // namespace

struct AgentBrowser::State {
  Browse browse;
};

AgentBrowser::AgentBrowser() : state_(std::make_unique<State>()) {
  quiet_avahi_compat_warning();
  DNSServiceRef ref = nullptr;
  const DNSServiceErrorType started = DNSServiceBrowse(&ref, 0, kDNSServiceInterfaceIndexAny,
                                                       protocol::kMdnsServiceType, nullptr, &on_browse, &state_->browse);
  if (started != kDNSServiceErr_NoError)
    state_->browse.error =
        "mDNS unavailable: is avahi-daemon running? (DNSServiceBrowse error " + std::to_string(started) + ")";
  else
    state_->browse.ref.reset(ref);
}

AgentBrowser::~AgentBrowser() = default;

const std::string& AgentBrowser::error() const { return state_->browse.error; }

void AgentBrowser::run_for(std::chrono::milliseconds max_wait) {
  Browse& browse = state_->browse;
  if (!browse.error.empty()) return;
  std::vector<pollfd> fds;
  std::vector<std::pair<DNSServiceRef, Lookup*>> owners;  // parallel to fds; nullptr: the browse
  fds.push_back({DNSServiceRefSockFD(browse.ref.get()), POLLIN, 0});
  owners.emplace_back(browse.ref.get(), nullptr);
  for (const auto& l : browse.lookups) {
    fds.push_back({DNSServiceRefSockFD(l->ref.get()), POLLIN, 0});
    owners.emplace_back(l->ref.get(), l.get());
  }
  const std::size_t first_watch = fds.size();
  // By value: a browse callback may retire a watch (still alive until the end of this call).
  std::vector<std::pair<DNSServiceRef, std::string>> watches;
  for (const auto& [name, w] : browse.txt_watches) {
    fds.push_back({DNSServiceRefSockFD(w->ref.get()), POLLIN, 0});
    watches.emplace_back(w->ref.get(), name);
  }
  const int ready = poll(fds.data(), fds.size(), static_cast<int>(max_wait.count()));
  if (ready < 0 && errno != EINTR) {
    browse.error = std::string("mDNS browse failed: poll: ") + std::strerror(errno);
    return;
  }
  for (std::size_t i = 0; ready > 0 && i < fds.size(); ++i) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    if (i >= first_watch) {
      const auto& [watch_ref, name] = watches[i - first_watch];
      const auto it = browse.txt_watches.find(name);
      // A failed watch is dropped: the service keeps the TXT record it has.
      if (DNSServiceProcessResult(watch_ref) != kDNSServiceErr_NoError && it != browse.txt_watches.end() &&
          it->second->ref.get() == watch_ref) {
        browse.retired_watches.push_back(std::move(it->second));
        browse.txt_watches.erase(it);
      }
      continue;
    }
    auto [service_ref, lookup] = owners[i];
    if (lookup != nullptr && lookup->done) continue;
    const DNSServiceErrorType processed = DNSServiceProcessResult(service_ref);
    if (processed == kDNSServiceErr_NoError) continue;
    if (lookup != nullptr)
      lookup->done = true;
    else if (browse.error.empty())
      browse.error = "mDNS browse failed (error " + std::to_string(processed) + "): is avahi-daemon running?";
  }
  // Released only here: a callback may not free the reference it was called for.
  for (auto& l : browse.lookups) l->retired.clear();
  browse.retired_watches.clear();
  std::erase_if(browse.lookups, [](const std::unique_ptr<Lookup>& l) { return l->done; });
}

std::vector<DiscoveredAgent> AgentBrowser::agents() const {
  std::vector<DiscoveredAgent> out;
  out.reserve(state_->browse.found.size());
  for (const auto& [name, agent] : state_->browse.found) out.push_back(agent);
  return out;
}

std::vector<DiscoveredAgent> browse_agents(std::chrono::milliseconds window, std::string* error) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + window;
  AgentBrowser browser;
  for (auto now = Clock::now(); now < deadline && browser.error().empty(); now = Clock::now())
    browser.run_for(std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
  if (error != nullptr) *error = browser.error();
  return browser.error().empty() ? browser.agents() : std::vector<DiscoveredAgent>{};
}

}  // namespace bnr::broker
