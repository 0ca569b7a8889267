// The mDNS/DNS-SD side of the wire contract: the service type agents advertise and what their
// TXT record says. Pure (std only), header-only so both bnr_agent and bnr_broker use it
// without another library.
//
// A TXT record (RFC 6763 section 6) is a sequence of strings, each one length byte followed
// by up to 255 bytes "key=value". bnr's keys:
//   proto=1            protocol::kProtocolVersion of the agent (decimal)
//   blender=3.4.1      Blender version the agent runs
//   threads=8          Blender render threads, 0 = all cores
//   name=host1         the agent's human-readable name
//   id=5f0c...         the agent's stable id (AgentInfo::agent_id)
//   key=rq:rM>}U?...   the agent's CURVE public key, Z85 (40 characters): brokers need it to
//                      connect; an advert without one is from an agent older than CURVE
//   join=P1,P2         the farms the agent joined (bnr-agent --join): for each, the proof
//                      farm_join.h's farm_proof(farm secret, the key above), Z85, at most
//                      kMaxJoinedFarms, comma-separated; absent when it joined none
//   device=CPU         what Cycles renders on (AgentInfo::device); absent from older agents
// Keys may only be appended; an old broker ignores keys it does not know.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "curve_keys.h"
#include "farm_join.h"
#include "messages.h"

namespace bnr::protocol {

inline constexpr const char* kMdnsServiceType = "_bnr._tcp";

// What one agent's TXT record says.
struct AgentTxt {
  std::uint32_t protocol_version = 0;  // 0: the key is missing or not a number
  AgentInfo info{};                    // missing keys keep AgentInfo's defaults
  std::string curve_key{};             // as advertised: check it with is_curve_key()
  std::string join_proofs{};           // well-formed (see join_proofs_well_formed) or empty
  bool operator==(const AgentTxt& o) const {
    return protocol_version == o.protocol_version && info.name == o.info.name && info.agent_id == o.info.agent_id &&
           info.threads == o.info.threads && info.blender_version == o.info.blender_version &&
           info.device == o.info.device && curve_key == o.curve_key && join_proofs == o.join_proofs;
  }
};

namespace mdns_txt_detail {

// Appends one length-prefixed "key=value", cutting the value at a UTF-8 character boundary
// so the entry fits in 255 bytes.
inline void append_entry(std::string& record, std::string_view key, std::string_view value) {
  const std::size_t room = 255 - key.size() - 1;
  if (value.size() > room) {
    std::size_t cut = room;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
    value = value.substr(0, cut);
  }
  record.push_back(static_cast<char>(key.size() + 1 + value.size()));
  record.append(key);
  record.push_back('=');
  record.append(value);
}

inline bool key_equals(std::string_view key, std::string_view lower_key) {
  if (key.size() != lower_key.size()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_key[i]) return false;
  }
  return true;
}

// A decimal number in [0, max] with nothing else around it.
inline bool parse_number(std::string_view text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  std::uint64_t n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > max) return false;
  out = n;
  return true;
}

}  // namespace mdns_txt_detail

// True for 1 to kMaxJoinedFarms comma-separated 32-byte Z85 values.
[[nodiscard]] inline bool join_proofs_well_formed(std::string_view proofs) {
  std::size_t count = 0;
  for (;;) {
    const std::size_t comma = proofs.find(',');
    if (!is_curve_key(proofs.substr(0, comma)) || ++count > kMaxJoinedFarms) return false;
    if (comma == std::string_view::npos) return true;
    proofs.remove_prefix(comma + 1);
  }
}

// The TXT record an agent advertises (the bytes DNSServiceRegister takes). Values longer than
// a TXT string allows are cut at a character boundary. An empty `curve_key` or `join_proofs`
// is left out.
[[nodiscard]] inline std::string encode_agent_txt(const AgentInfo& info,
                                                  std::uint32_t protocol_version = kProtocolVersion,
                                                  std::string_view curve_key = {}, std::string_view join_proofs = {}) {
  std::string record;
  mdns_txt_detail::append_entry(record, "proto", std::to_string(protocol_version));
  mdns_txt_detail::append_entry(record, "blender", info.blender_version);
  mdns_txt_detail::append_entry(record, "threads", std::to_string(info.threads));
  mdns_txt_detail::append_entry(record, "name", info.name);
  mdns_txt_detail::append_entry(record, "id", info.agent_id);
  if (!curve_key.empty()) mdns_txt_detail::append_entry(record, "key", curve_key);
  if (!join_proofs.empty()) mdns_txt_detail::append_entry(record, "join", join_proofs);
  if (!info.device.empty()) mdns_txt_detail::append_entry(record, "device", info.device);
  return record;
}

// Reads an agent's TXT record as it came off the network; never fails. Keys compare without
// case; only the first occurrence of a key counts, also when it has no '=' (RFC 6763 6.4);
// unknown keys and entries starting with '=' are ignored; a length byte that runs past the
// end ends the record; a number that is not a plain decimal in range leaves the default
// (threads: 0..65535); join proofs that are not well formed are left out.
[[nodiscard]] inline AgentTxt parse_agent_txt(std::string_view record) {
  static constexpr std::string_view kKeys[] = {"proto", "blender", "threads", "name", "id", "key", "join", "device"};
  AgentTxt txt;
  bool seen[std::size(kKeys)] = {};
  std::size_t pos = 0;
  while (pos < record.size()) {
    const std::size_t length = static_cast<unsigned char>(record[pos]);
    ++pos;
    if (length > record.size() - pos) break;
    const std::string_view entry = record.substr(pos, length);
    pos += length;
    const std::size_t eq = entry.find('=');
    const std::string_view key = entry.substr(0, eq);
    if (key.empty()) continue;
    std::size_t k = 0;
    while (k < std::size(kKeys) && !mdns_txt_detail::key_equals(key, kKeys[k])) ++k;
    if (k == std::size(kKeys) || seen[k]) continue;
    seen[k] = true;
    if (eq == std::string_view::npos) continue;  // a key without a value
    const std::string_view value = entry.substr(eq + 1);
    std::uint64_t n = 0;
    switch (k) {
      case 0:
        if (mdns_txt_detail::parse_number(value, UINT32_MAX, n)) txt.protocol_version = static_cast<std::uint32_t>(n);
        break;
      case 1:
        txt.info.blender_version = std::string(value);
        break;
      case 2:
        if (mdns_txt_detail::parse_number(value, 65535, n)) txt.info.threads = static_cast<std::int32_t>(n);
        break;
      case 3:
        txt.info.name = std::string(value);
        break;
      case 4:
        txt.info.agent_id = std::string(value);
        break;
      case 5:
        txt.curve_key = std::string(value);
        break;
      case 6:
        if (join_proofs_well_formed(value)) txt.join_proofs = std::string(value);
        break;
      case 7:
        txt.info.device = std::string(value);
        break;
    }
  }
  return txt;
}

}  // namespace bnr::protocol
