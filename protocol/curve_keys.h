// CURVE keys as bnr stores and shows them: ZeroMQ's Z85 text (40 characters for a 32-byte
// key) in three small text files under the config directory. Pure (std only): reading and
// writing the files, making keys and setting up sockets are in curve_auth.h.
//
//   broker.key, agent.key   this broker's / agent's key pair (mode 0600):
//       # comment lines
//       public-key = <Z85>
//       secret-key = <Z85>
//   authorized_brokers      (agent) the brokers it serves: one public key per line, optionally
//                           followed by a note ("<Z85> alice's laptop"); '#' starts a comment
//                           line, like SSH's authorized_keys
//   known_agents            (broker) the key each agent proved to hold at the first
//                           connection (trust on first use), one per line:
//                             endpoint <Z85> HOST:PORT   an agent given with --agent
//                             agent <Z85> AGENT-ID       an agent found with mDNS
//
// Z85 has no quote, backslash or space but does have '$', '&', '<', '(' and other shell
// characters: keys are shown single-quoted wherever a user pastes them into a shell.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bnr::protocol {

inline constexpr std::size_t kCurveKeyChars = 40;

// True for the Z85 text of a 32-byte key: 40 characters of the Z85 alphabet whose 5-character
// groups each stay within 32 bits.
[[nodiscard]] bool is_curve_key(std::string_view text);

// The first 8 characters and "..." for tables and logs (not for anything a user must copy).
[[nodiscard]] std::string short_key(std::string_view key);

// `text` in single quotes for a POSIX shell (a quote inside is written '\'').
[[nodiscard]] std::string shell_quoted(std::string_view text);

struct CurveKeyPair {
  std::string public_key{};  // Z85
  std::string secret_key{};  // Z85
  bool operator==(const CurveKeyPair&) const = default;
};

// The text of a key file; `owner` ("bnr-broker", "bnr-agent") goes into its comment.
[[nodiscard]] std::string format_key_file(const CurveKeyPair& keys, std::string_view owner);
// Both keys of a key file, or nullopt and a one-line `*error`. Blank lines and lines starting
// with '#' are skipped; each key appears once. Whether the public key belongs to the secret
// one needs libzmq (curve_auth.h checks it).
[[nodiscard]] std::optional<CurveKeyPair> parse_key_file(std::string_view text, std::string* error);

struct AuthorizedKey {
  std::string key{};
  std::string note{};  // the rest of its line, may be empty
};

struct AuthorizedKeys {
  std::vector<AuthorizedKey> keys{};   // in file order; a repeated key is kept once
  std::vector<std::string> problems{};  // "line 3: ..." for each line that was ignored
  [[nodiscard]] const AuthorizedKey* find(std::string_view key) const;
};

// An authorized_brokers file. A line whose first word is a key authorizes it; lines starting
// with '#' are comments (no key starts with '#': no 32-bit Z85 group does); any other
// non-blank line is a problem and ignored.
[[nodiscard]] AuthorizedKeys parse_authorized_keys(std::string_view text);

enum class KnownKind { kEndpoint, kAgentId };

struct KnownAgent {
  KnownKind kind = KnownKind::kEndpoint;
  std::string name{};  // HOST:PORT, or the agent id its adverts carry (may contain spaces)
  std::string key{};
  int line = 0;        // 1-based line in the file; 0 when not from a file
};

struct KnownAgents {
  std::vector<KnownAgent> entries{};   // the first line for a (kind, name) wins
  std::vector<std::string> problems{};  // "line 3: ..." for each line that was ignored
  [[nodiscard]] const KnownAgent* find(KnownKind kind, std::string_view name) const;
};

[[nodiscard]] KnownAgents parse_known_agents(std::string_view text);

// Empty when (kind, name) is unknown in `known` or known with `key`; otherwise one line saying
// which key is known for it, in which line of `file`, and how to accept a changed key.
[[nodiscard]] std::string known_conflict(const KnownAgents& known, std::string_view file, KnownKind kind,
                                         std::string_view name, std::string_view key);

// `text` (a known_agents file, maybe empty) with `entry` appended as one line; an empty file
// first gets a comment saying what the file is. `text` comes back unchanged when the entry
// cannot be written as one line (a line break in its name, an empty name, not a key).
[[nodiscard]] std::string append_known_agent(std::string_view text, const KnownAgent& entry);

}  // namespace bnr::protocol
