// The files behind joining a farm (farm_join.h), in the config directory (curve_auth.h's
// config_dir()):
//   farm.secret     (broker) its farm secret, made when it first prints a join token (0600):
//                     # comment lines
//                     farm-secret = <Z85>
//   joined_farms    (agent) the farms it joined: "<broker key> <farm secret>" per line (0600)
// and the agent's side of --join, which also authorizes the broker in authorized_brokers.
// Failures throw std::runtime_error with one line.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "farm_join.h"

namespace bnr::protocol {

// The broker's farm secret in `path`, made (mode 0600) when the file does not exist yet.
[[nodiscard]] std::string load_or_create_farm_secret(const std::filesystem::path& path);
// The broker's farm secret, nullopt when it has none yet (no token was ever printed: no
// agent can have joined). Throws when the file exists but is unreadable or malformed.
[[nodiscard]] std::optional<std::string> read_farm_secret(const std::filesystem::path& path);

// The farms in an agent's joined_farms file (missing: none).
[[nodiscard]] JoinedFarms read_joined_farms(const std::filesystem::path& path);

struct JoinResult {
  bool newly_authorized = false;  // the broker's key was not in authorized_brokers before
  bool already_joined = false;    // joined_farms had this very token already
};
// bnr-agent --join: records the token's farm in `config_dir`/joined_farms and authorizes its
// broker in `config_dir`/authorized_brokers (a line with a note), each unless already there.
JoinResult join_farm(const std::filesystem::path& config_dir, const JoinToken& token);

}  // namespace bnr::protocol
