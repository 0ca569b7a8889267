// Joining a farm, the way `kubeadm join` works: a broker prints one join token that carries its
// CURVE public key and a farm secret; `bnr-agent --join TOKEN` authorizes that broker and from
// then on proves, in its mDNS advert, that it holds the secret:
//
//   proof = HMAC-SHA512-256(farm secret, "bnr-farm-proof-v1\n" + the agent's own public key)
//
// (libsodium's crypto_auth). A broker checks the proof against the key the advert carries
// before it connects; CURVE then proves the agent holds that key's secret key. So a proof
// copied from another agent's advert is useless: it only vouches for that agent's key.
//
// Pure functions (libsodium and libzmq's Z85 as math, no files, no sockets); the files that
// hold the secrets are in farm_files.h.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bnr::protocol {

// Every token starts with this; the digit is the token format's version.
inline constexpr std::string_view kJoinTokenPrefix = "bnrjoin1_";
// A token's length: the prefix, then 68 bytes (32 key, 32 secret, 4 checksum) in base32.
inline constexpr std::size_t kJoinTokenChars = kJoinTokenPrefix.size() + (68 * 8 + 4) / 5;
// How many farms an agent's advert can vouch for (one TXT string of at most 255 bytes).
inline constexpr std::size_t kMaxJoinedFarms = 6;

struct JoinToken {
  std::string broker_key{};   // Z85 (40 characters)
  std::string farm_secret{};  // Z85 (40 characters) of 32 random bytes
  bool operator==(const JoinToken&) const = default;
};

// One word: kJoinTokenPrefix and lower-case base32 (a-z, 2-7: nothing a shell or a terminal's
// double-click splits), ending in a checksum. Empty when a field is not a 32-byte Z85 value.
[[nodiscard]] std::string encode_join_token(const JoinToken& token);

// The token in `text` (surrounding white space ignored; upper-case letters accepted), or
// nullopt and a one-line `*error` saying what is wrong: not a bnr join token (prefix), cut
// off or too long (length), a character base32 does not have, or a checksum that does not
// match (mistyped).
[[nodiscard]] std::optional<JoinToken> decode_join_token(std::string_view text, std::string* error);

// A new farm secret: Z85 of 32 random bytes.
[[nodiscard]] std::string make_farm_secret();

// True for Z85 text of 32 bytes (a key or a farm secret).
[[nodiscard]] bool is_farm_secret(std::string_view text);

// The proof that the holder of `farm_secret` vouches for `agent_key` (both Z85): Z85, 40
// characters. Empty when either is not 32 bytes of Z85.
[[nodiscard]] std::string farm_proof(std::string_view farm_secret, std::string_view agent_key);


// True when one of the comma-separated `proofs` is farm_proof(farm_secret, agent_key)
// (compared in constant time). False for an empty secret or malformed proofs.
[[nodiscard]] bool proves_farm(std::string_view proofs, std::string_view farm_secret, std::string_view agent_key);

// An agent's joined_farms file: one farm per line, "<broker key> <farm secret>", '#' comments.
struct JoinedFarms {
  std::vector<JoinToken> farms{};       // in file order, one per broker key
  std::vector<std::string> problems{};  // "line 3: ..." for each line that was ignored
};
[[nodiscard]] JoinedFarms parse_joined_farms(std::string_view text);
// The file's text for `farms` (with a comment saying what it is).
[[nodiscard]] std::string format_joined_farms(const std::vector<JoinToken>& farms);
// `farms` with `token` first: it replaces the farm of the same broker key, and the oldest
// farms beyond kMaxJoinedFarms are dropped (an advert cannot vouch for more).
[[nodiscard]] std::vector<JoinToken> with_joined(std::vector<JoinToken> farms, const JoinToken& token);

// The value an agent's advert carries: the proof for each of `farms`, comma-separated (Z85
// has no comma), at most kMaxJoinedFarms of them (the first ones). Empty for no farm.
[[nodiscard]] std::string join_proofs(const std::vector<JoinToken>& farms, std::string_view agent_key);

}  // namespace bnr::protocol
