#include "farm_join.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <stdexcept>

#include <sodium.h>
#include <zmq.h>

namespace bnr::protocol {
namespace {

constexpr std::size_t kRaw = 32;                 // a key or a secret
constexpr std::size_t kChecksum = 4;             // catches any mistyped character (and most more)
constexpr std::size_t kPayload = 2 * kRaw + kChecksum;
constexpr std::string_view kBase32 = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::string_view kProofContext = "bnr-farm-proof-v1\n";

using Raw = std::array<std::uint8_t, kRaw>;

void init_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not initialise");
}

std::optional<Raw> raw_of_z85(std::string_view text) {
  if (text.size() != 40) return std::nullopt;
  const std::string terminated(text);
  Raw raw{};
  if (zmq_z85_decode(raw.data(), terminated.c_str()) == nullptr) return std::nullopt;
  return raw;
}

std::string z85_of_raw(const std::uint8_t* raw) {
  char text[41] = {};
  if (zmq_z85_encode(text, raw, kRaw) == nullptr) return {};
  return text;
}

// The first kChecksum bytes of BLAKE2b over the prefix and the fields: the prefix is in it so
// a token of a later format version never checks out as this one.
std::array<std::uint8_t, kChecksum> checksum(const std::uint8_t* fields, std::size_t size) {
  init_sodium();
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, kChecksum);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kJoinTokenPrefix.data()),
                            kJoinTokenPrefix.size());
  crypto_generichash_update(&state, fields, size);
  std::array<std::uint8_t, kChecksum> out{};
  crypto_generichash_final(&state, out.data(), out.size());
  return out;
}

std::string base32(const std::array<std::uint8_t, kPayload>& bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const std::uint8_t b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buffer << (5 - bits)) & 31];
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::optional<JoinToken> fail(std::string* error, std::string what) {
  if (error != nullptr) *error = std::move(what);
  return std::nullopt;
}

}  // namespace

std::string encode_join_token(const JoinToken& token) {
  const std::optional<Raw> key = raw_of_z85(token.broker_key);
  const std::optional<Raw> secret = raw_of_z85(token.farm_secret);
  if (!key || !secret) return {};
  std::array<std::uint8_t, kPayload> bytes{};
  std::copy(key->begin(), key->end(), bytes.begin());
  std::copy(secret->begin(), secret->end(), bytes.begin() + kRaw);
  const auto sum = checksum(bytes.data(), 2 * kRaw);
  std::copy(sum.begin(), sum.end(), bytes.begin() + 2 * kRaw);
  return std::string(kJoinTokenPrefix) + base32(bytes);
}

std::optional<JoinToken> decode_join_token(std::string_view text, std::string* error) {
  const std::string_view word = trim(text);
  const std::string hint = " (bnr-broker --join-token prints one)";
  std::string prefix(word.substr(0, kJoinTokenPrefix.size()));
  for (char& c : prefix) c = lower(c);
  if (prefix != kJoinTokenPrefix)
    return fail(error, "not a bnr join token: it should start with " + std::string(kJoinTokenPrefix) + hint);
  if (word.size() != kJoinTokenChars)
    return fail(error, "the join token has " + std::to_string(word.size()) + " characters, not " +
                           std::to_string(kJoinTokenChars) + ": it was " +
                           (word.size() < kJoinTokenChars ? "cut off" : "run together with something") +
                           " when copied" + hint);
  std::array<std::uint8_t, kPayload> bytes{};
  std::uint32_t buffer = 0;
  int bits = 0;
  std::size_t out = 0;
  for (std::size_t i = kJoinTokenPrefix.size(); i < word.size(); ++i) {
    const std::size_t digit = kBase32.find(lower(word[i]));
    if (digit == std::string_view::npos)
      return fail(error, "the join token has '" + std::string(1, word[i]) + "' at character " + std::to_string(i + 1) +
                             ", which a join token never contains (only a-z and 2-7)" + hint);
    buffer = (buffer << 5) | static_cast<std::uint32_t>(digit);
    bits += 5;
    if (bits >= 8) {
      bytes[out++] = static_cast<std::uint8_t>(buffer >> (bits - 8));
      bits -= 8;
    }
  }
  const std::string mistyped = "the join token's checksum does not match: a character was mistyped or changed" + hint;
  if ((buffer & ((1U << bits) - 1)) != 0) return fail(error, mistyped);  // the unused last bits are zero
  const auto sum = checksum(bytes.data(), 2 * kRaw);
  if (!std::equal(sum.begin(), sum.end(), bytes.begin() + 2 * kRaw)) return fail(error, mistyped);
  JoinToken token{z85_of_raw(bytes.data()), z85_of_raw(bytes.data() + kRaw)};
  if (error != nullptr) error->clear();
  return token;
}

std::string make_farm_secret() {
  init_sodium();
  Raw raw{};
  randombytes_buf(raw.data(), raw.size());
  return z85_of_raw(raw.data());
}

bool is_farm_secret(std::string_view text) { return raw_of_z85(text).has_value(); }

std::string farm_proof(std::string_view farm_secret, std::string_view agent_key) {
  const std::optional<Raw> secret = raw_of_z85(farm_secret);
  if (!secret || !raw_of_z85(agent_key)) return {};
  init_sodium();
  const std::string message = std::string(kProofContext) + std::string(agent_key);
  std::array<std::uint8_t, crypto_auth_BYTES> mac{};
  static_assert(crypto_auth_BYTES == kRaw && crypto_auth_KEYBYTES == kRaw);
  crypto_auth(mac.data(), reinterpret_cast<const unsigned char*>(message.data()), message.size(), secret->data());
  return z85_of_raw(mac.data());
}

std::string join_proofs(const std::vector<JoinToken>& farms, std::string_view agent_key) {
  std::string out;
  std::size_t count = 0;
  for (const JoinToken& farm : farms) {
    const std::string proof = farm_proof(farm.farm_secret, agent_key);
    if (proof.empty() || count == kMaxJoinedFarms) continue;
    out += (out.empty() ? "" : ",") + proof;
    ++count;
  }
  return out;
}

bool proves_farm(std::string_view proofs, std::string_view farm_secret, std::string_view agent_key) {
  const std::optional<Raw> secret = raw_of_z85(farm_secret);
  if (!secret || !raw_of_z85(agent_key)) return false;
  init_sodium();
  const std::string message = std::string(kProofContext) + std::string(agent_key);
  while (!proofs.empty()) {
    const std::size_t comma = proofs.find(',');
    const std::optional<Raw> mac = raw_of_z85(proofs.substr(0, comma));
    if (mac && crypto_auth_verify(mac->data(), reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), secret->data()) == 0)
      return true;
    if (comma == std::string_view::npos) break;
    proofs.remove_prefix(comma + 1);
  }
  return false;
}

JoinedFarms parse_joined_farms(std::string_view text) {
  JoinedFarms out;
  int number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    const std::size_t space = line.find_first_of(" \t");
    const std::string_view key = line.substr(0, space);
    const std::string_view secret = space == std::string_view::npos ? std::string_view() : trim(line.substr(space));
    if (!raw_of_z85(key) || !raw_of_z85(secret)) {
      out.problems.push_back("line " + std::to_string(number) + ": expected 'BROKER-KEY FARM-SECRET'; ignored");
      continue;
    }
    bool seen = false;
    for (const JoinToken& farm : out.farms) seen = seen || farm.broker_key == key;
    if (!seen) out.farms.push_back({std::string(key), std::string(secret)});
  }
  return out;
}

std::string format_joined_farms(const std::vector<JoinToken>& farms) {
  std::string out =
      "# bnr-agent's farms (bnr-agent --join TOKEN): each broker's public key and the farm secret\n"
      "# this agent proves to hold in its mDNS advert. Keep this file private.\n";
  for (const JoinToken& farm : farms) out += farm.broker_key + " " + farm.farm_secret + "\n";
  return out;
}

std::vector<JoinToken> with_joined(std::vector<JoinToken> farms, const JoinToken& token) {
  std::vector<JoinToken> out{token};
  for (JoinToken& farm : farms)
    if (farm.broker_key != token.broker_key && out.size() < kMaxJoinedFarms) out.push_back(std::move(farm));
  return out;
}

}  // namespace bnr::protocol
