#include "mdns_advert.h"

#include <arpa/inet.h>
#include <dns_sd.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "mdns_txt.h"

namespace bnr::agent {

namespace {

// Avahi's compatibility layer prints a multi-line "uses the Apple Bonjour compatibility
// layer" warning to stderr and syslog on first use unless this is set; bnr uses dns_sd.h on
// purpose (the same code runs against Apple's mDNSResponder). A user's own value stays.
void quiet_avahi_compat_warning() {
  static const bool done = [] { return setenv("AVAHI_COMPAT_NOWARN", "1", 0) == 0; }();
  (void)done;
}

constexpr int kMaxLocalRenames = 20;

// `text` cut to at most `bytes` bytes without splitting a UTF-8 character.
std::string cut_utf8(const std::string& text, std::size_t bytes) {
  if (text.size() <= bytes) return text;
  while (bytes > 0 && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80) --bytes;
  return text.substr(0, bytes);
}

}  // namespace

struct MdnsAdvert::Callbacks {
  static void DNSSD_API registered(DNSServiceRef, DNSServiceFlags, DNSServiceErrorType error, const char* name,
                                   const char*, const char*, void* context) {
    auto& self = *static_cast<MdnsAdvert*>(context);
    if (error != kDNSServiceErr_NoError) {
      self.failed_ = true;
      self.registered_ = false;
      self.event_ = error == kDNSServiceErr_NameConflict
                        ? "mDNS advert failed: name conflict; continuing without mDNS"
                        : "mDNS advert failed (error " + std::to_string(error) + "); continuing without mDNS";
      return;
    }
    const std::string now = name != nullptr ? name : "";
    if (self.registered_ && now == self.name_) return;
    self.registered_ = true;
    self.name_ = now;
    self.event_ = "mDNS: advertised as \"" + now + "\" (" + protocol::kMdnsServiceType + ", port " +
                  std::to_string(self.port_) + ")";
  }
};

void MdnsAdvert::RefDeleter::operator()(_DNSServiceRef_t* ref) const { DNSServiceRefDeallocate(ref); }

MdnsAdvert::MdnsAdvert(const protocol::AgentInfo& info, int port, const std::string& curve_key,
                       const std::string& join_proofs)
    : port_(port) {
  if (port <= 0 || port > 65535) throw std::runtime_error("mDNS: cannot advertise port " + std::to_string(port));
  quiet_avahi_compat_warning();
  const std::string txt = protocol::encode_agent_txt(info, protocol::kProtocolVersion, curve_key, join_proofs);
  info_ = info;
  curve_key_ = curve_key;
  // An instance name is one DNS label, at most 63 bytes (Avahi refuses longer ones); the
  // TXT record keeps the whole name.
  const std::string name = cut_utf8(info.name, 63);
  // A name already registered through the same daemon (a second agent on this host with the
  // same name) is refused right here rather than renamed like a conflict on the network,
  // so pick "name #2", "name #3"... as Avahi would.
  DNSServiceRef ref = nullptr;
  DNSServiceErrorType error = kDNSServiceErr_NameConflict;
  for (int attempt = 1; attempt <= kMaxLocalRenames && error == kDNSServiceErr_NameConflict; ++attempt) {
    const std::string candidate =
        attempt == 1 || name.empty() ? name : cut_utf8(name, 63 - 4) + " #" + std::to_string(attempt);
    error = DNSServiceRegister(&ref, 0, kDNSServiceInterfaceIndexAny, candidate.empty() ? nullptr : candidate.c_str(),
                               protocol::kMdnsServiceType, nullptr, nullptr, htons(static_cast<std::uint16_t>(port)),
                               static_cast<std::uint16_t>(txt.size()), txt.data(), &Callbacks::registered, this);
    if (name.empty()) break;
  }
  if (error == kDNSServiceErr_Unknown)
    throw std::runtime_error("mDNS unavailable: is avahi-daemon running? (DNSServiceRegister error " +
                             std::to_string(error) + ")");
  if (error != kDNSServiceErr_NoError)
    throw std::runtime_error("mDNS advert refused (DNSServiceRegister error " + std::to_string(error) + ")");
  ref_.reset(ref);
}

MdnsAdvert::~MdnsAdvert() = default;

bool MdnsAdvert::set_join_proofs(const std::string& join_proofs) {
  if (failed_) return false;
  const std::string txt = protocol::encode_agent_txt(info_, protocol::kProtocolVersion, curve_key_, join_proofs);
  // A null record ref is the service's own TXT record: the daemon announces the new one.
  return DNSServiceUpdateRecord(ref_.get(), nullptr, 0, static_cast<std::uint16_t>(txt.size()), txt.data(), 0) ==
         kDNSServiceErr_NoError;
}

int MdnsAdvert::fd() const { return DNSServiceRefSockFD(ref_.get()); }

std::optional<std::string> MdnsAdvert::process() {
  if (failed_) return std::nullopt;
  const DNSServiceErrorType error = DNSServiceProcessResult(ref_.get());
  if (error != kDNSServiceErr_NoError && !failed_) {
    failed_ = true;
    registered_ = false;
    event_ = "mDNS advert failed (error " + std::to_string(error) + "); continuing without mDNS";
  }
  return std::exchange(event_, std::nullopt);
}

}  // namespace bnr::agent
