#include "curve_keys.h"

#include <cstdint>

namespace bnr::protocol {
namespace {

constexpr std::string_view kZ85 =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the first whitespace-delimited word; `rest` is what follows it, trimmed.
std::string_view first_word(std::string_view line, std::string_view* rest) {
  std::size_t end = 0;
  while (end < line.size() && !is_space(line[end])) ++end;
  if (rest != nullptr) *rest = trim(line.substr(end));
  return line.substr(0, end);
}

// Calls `f(line_number, trimmed_line)` for every line of `text`.
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  int number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    f(++number, trim(line));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

std::string quoted_excerpt(std::string_view s) {
  constexpr std::size_t kMax = 48;
  std::string out(s.substr(0, kMax));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return "'" + out + (s.size() > kMax ? "...'" : "'");
}

std::string line_problem(int line, const std::string& what) { return "line " + std::to_string(line) + ": " + what; }

const char* kind_word(KnownKind kind) { return kind == KnownKind::kEndpoint ? "endpoint" : "agent"; }

}  // namespace

bool is_curve_key(std::string_view text) {
  if (text.size() != kCurveKeyChars) return false;
  for (std::size_t group = 0; group < text.size(); group += 5) {
    std::uint64_t value = 0;
    for (std::size_t i = group; i < group + 5; ++i) {
      const std::size_t digit = kZ85.find(text[i]);
      if (digit == std::string_view::npos) return false;
      value = value * 85 + digit;
    }
    if (value > 0xFFFFFFFFULL) return false;  // 85^5 > 2^32: not every group is a 32-bit word
  }
  return true;
}

std::string short_key(std::string_view key) {
  if (key.size() <= 8) return std::string(key);
  return std::string(key.substr(0, 8)) + "...";
}

std::string shell_quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string format_key_file(const CurveKeyPair& keys, std::string_view owner) {
  std::string out;
  out += "# " + std::string(owner) + "'s CURVE key pair (ZeroMQ, Z85 text). Keep this file private:\n";
  out += "# whoever has the secret key can act as this " + std::string(owner) + ".\n";
  out += "public-key = " + keys.public_key + "\n";
  out += "secret-key = " + keys.secret_key + "\n";
  return out;
}

std::optional<CurveKeyPair> parse_key_file(std::string_view text, std::string* error) {
  CurveKeyPair keys;
  std::string problem;
  for_each_line(text, [&](int number, std::string_view line) {
    if (!problem.empty() || line.empty() || line.front() == '#') return;
    const std::size_t eq = line.find('=');  // the first '=': a Z85 key may contain '=' itself
    const std::string_view name = trim(line.substr(0, eq));
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : trim(line.substr(eq + 1));
    std::string* slot = name == "public-key" ? &keys.public_key : name == "secret-key" ? &keys.secret_key : nullptr;
    if (slot == nullptr || eq == std::string_view::npos) {
      problem = line_problem(number, "expected 'public-key = KEY' or 'secret-key = KEY', got " + quoted_excerpt(line));
    } else if (!slot->empty()) {
      problem = line_problem(number, std::string(name) + " appears twice");
    } else if (!is_curve_key(value)) {
      problem = line_problem(number, std::string(name) + " is not a CURVE key (40 Z85 characters)");
    } else {
      *slot = std::string(value);
    }
  });
  if (problem.empty() && (keys.public_key.empty() || keys.secret_key.empty()))
    problem = keys.public_key.empty() ? "no public-key line" : "no secret-key line";
  if (!problem.empty()) {
    if (error != nullptr) *error = problem;
    return std::nullopt;
  }
  if (error != nullptr) error->clear();
  return keys;
}

const AuthorizedKey* AuthorizedKeys::find(std::string_view key) const {
  for (const AuthorizedKey& k : keys)
    if (k.key == key) return &k;
  return nullptr;
}

AuthorizedKeys parse_authorized_keys(std::string_view text) {
  AuthorizedKeys out;
  for_each_line(text, [&](int number, std::string_view line) {
    if (line.empty()) return;
    std::string_view note;
    const std::string_view word = first_word(line, &note);
    if (is_curve_key(word)) {
      if (out.find(word) == nullptr) out.keys.push_back({std::string(word), std::string(note)});
    } else if (line.front() != '#') {
      out.problems.push_back(
          line_problem(number, quoted_excerpt(word) + " is not a broker's public key (40 Z85 characters); ignored"));
    }
  });
  return out;
}

const KnownAgent* KnownAgents::find(KnownKind kind, std::string_view name) const {
  for (const KnownAgent& e : entries)
    if (e.kind == kind && e.name == name) return &e;
  return nullptr;
}

KnownAgents parse_known_agents(std::string_view text) {
  KnownAgents out;
  for_each_line(text, [&](int number, std::string_view line) {
    if (line.empty() || line.front() == '#') return;
    std::string_view rest;
    const std::string_view kind = first_word(line, &rest);
    std::string_view name;
    const std::string_view key = first_word(rest, &name);
    if (kind != "endpoint" && kind != "agent") {
      out.problems.push_back(line_problem(number, "expected 'endpoint KEY HOST:PORT' or 'agent KEY ID'; ignored"));
    } else if (!is_curve_key(key)) {
      out.problems.push_back(line_problem(number, quoted_excerpt(key) + " is not an agent's public key; ignored"));
    } else if (name.empty()) {
      out.problems.push_back(line_problem(number, "no " + std::string(kind == "agent" ? "agent id" : "HOST:PORT") +
                                                      " after the key; ignored"));
    } else {
      const KnownKind k = kind == "endpoint" ? KnownKind::kEndpoint : KnownKind::kAgentId;
      if (out.find(k, name) == nullptr) out.entries.push_back({k, std::string(name), std::string(key), number});
    }
  });
  return out;
}

std::string known_conflict(const KnownAgents& known, std::string_view file, KnownKind kind, std::string_view name,
                           std::string_view key) {
  const KnownAgent* entry = known.find(kind, name);
  if (entry == nullptr || entry->key == key) return {};
  return (kind == KnownKind::kEndpoint ? "the agent at " + std::string(name) : "agent id '" + std::string(name) + "'") +
         " is known with another key (" + short_key(entry->key) + ", not " + short_key(key) + ": " + std::string(file) +
         " line " + std::to_string(entry->line) + "); if that agent's key really changed, delete that line";
}

std::string append_known_agent(std::string_view text, const KnownAgent& entry) {
  std::string out(text);
  const std::string_view name = trim(entry.name);
  if (name.empty() || name.find_first_of("\r\n") != std::string_view::npos || !is_curve_key(entry.key)) return out;
  if (trim(out).empty()) {
    out = "# bnr-broker's known agents: the CURVE public key each agent proved to hold when this\n"
          "# broker first connected to it. A different key later is refused; if an agent's key\n"
          "# really changed (a reinstalled machine), delete its line.\n";
  } else if (out.back() != '\n') {
    out += '\n';
  }
  out += std::string(kind_word(entry.kind)) + " " + entry.key + " " + std::string(name) + "\n";
  return out;
}

}  // namespace bnr::protocol
