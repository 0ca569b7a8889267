// The files behind joining a farm (farm_join.h), in the config directory (curve_auth.h's
// config_dir()):
//   farm.secret     (broker) its farm secret, made when it first prints a join token (0600):
//                     # comment lines
//                     farm-secret = <Z85>
//   joined_farms    (agent) the farms it joined: "<broker key> <farm secret>" per line (0600)
// and the agent's side of --join, which also authorizes the broker in authorized_brokers.
// Failures throw std::runtime_error with one line.
#pragma once

#include <cstdint>
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

// An agent's joined_farms file, re-read when it changes (a bnr-agent --join while this agent
// runs): changed() is cheap enough to call every turn of a poll loop (one stat).
class JoinedFarmsFile {
 public:
  explicit JoinedFarmsFile(std::filesystem::path path);
  // The farms in the file now, when it changed since the last call (the first call reads it);
  // nullopt when it did not. A file that cannot be read counts as no farms.
  [[nodiscard]] std::optional<JoinedFarms> changed();

 private:
  std::filesystem::path path_;
  bool read_ = false;
  bool exists_ = false;
  std::filesystem::file_time_type time_{};
  std::uintmax_t size_ = 0;
};

struct JoinResult {
  bool newly_authorized = false;  // the broker's key was not in authorized_brokers before
  bool already_joined = false;    // joined_farms had this very token already
};
// bnr-agent --join: records the token's farm in `config_dir`/joined_farms and authorizes its
// broker in `config_dir`/authorized_brokers (a line with a note), each unless already there.
JoinResult join_farm(const std::filesystem::path& config_dir, const JoinToken& token);

}  // namespace bnr::protocol
