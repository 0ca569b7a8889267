#include "farm_files.h"

#include <stdexcept>
#include <system_error>
#include <utility>

#include "curve_auth.h"

namespace bnr::protocol {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kSecretField = "farm-secret";

std::string format_farm_secret(const std::string& secret) {
  return "# bnr-broker's farm secret: agents that joined with its token (bnr-broker --join-token)\n"
         "# prove they hold it. Keep this file private; a new secret (delete this file) means every\n"
         "# agent must join again.\n" +
         std::string(kSecretField) + " = " + secret + "\n";
}

std::string parse_farm_secret(const fs::path& path, std::string_view text) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.rfind(kSecretField, 0) != 0) continue;
    line.remove_prefix(kSecretField.size());
    // Only the first '=' separates: '=' is a Z85 character, so a secret may begin with one.
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.empty() || line.front() != '=') break;
    line.remove_prefix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (is_farm_secret(line)) return std::string(line);
    break;
  }
  throw std::runtime_error(path.string() + ": no valid 'farm-secret = SECRET' line (delete the file to make a new " +
                           "secret; every agent must then join again)");
}

}  // namespace

std::string load_or_create_farm_secret(const fs::path& path) {
  const std::string text = read_or_create_file(path, [] { return format_farm_secret(make_farm_secret()); }, 0600);
  return parse_farm_secret(path, text);
}

std::optional<std::string> read_farm_secret(const fs::path& path) {
  const std::optional<std::string> text = read_text_file(path);
  if (!text) return std::nullopt;
  return parse_farm_secret(path, *text);
}

JoinedFarms read_joined_farms(const fs::path& path) {
  return parse_joined_farms(read_text_file(path).value_or(""));
}

JoinedFarmsFile::JoinedFarmsFile(fs::path path) : path_(std::move(path)) {}

std::optional<JoinedFarms> JoinedFarmsFile::changed() {
  std::error_code ec;
  const fs::file_time_type time = fs::last_write_time(path_, ec);
  const bool exists = !ec;
  const std::uintmax_t size = exists ? fs::file_size(path_, ec) : 0;
  if (read_ && exists == exists_ && (!exists || (time == time_ && size == size_))) return std::nullopt;
  read_ = true;
  exists_ = exists;
  time_ = time;
  size_ = size;
  try {
    return read_joined_farms(path_);
  } catch (const std::exception& e) {
    JoinedFarms none;
    none.problems.push_back(e.what());
    return none;
  }
}

JoinResult join_farm(const fs::path& config_dir, const JoinToken& token) {
  JoinResult result;
  const fs::path farms_file = config_dir / "joined_farms";
  const JoinedFarms farms = read_joined_farms(farms_file);
  result.already_joined = !farms.farms.empty() && farms.farms.front() == token;
  if (!result.already_joined)
    replace_text_file(farms_file, format_joined_farms(with_joined(farms.farms, token)), 0600);

  const fs::path brokers_file = config_dir / "authorized_brokers";
  std::string brokers = read_text_file(brokers_file).value_or("");
  if (parse_authorized_keys(brokers).find(token.broker_key) == nullptr) {
    if (!brokers.empty() && brokers.back() != '\n') brokers += '\n';
    brokers += token.broker_key + " joined with bnr-agent --join\n";
    replace_text_file(brokers_file, brokers, 0644);
    result.newly_authorized = true;
  }
  return result;
}

}  // namespace bnr::protocol
