#include "agent_profiles.h"

#include "curve_auth.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <sstream>
#include <unistd.h>

namespace bnr::broker {

SpeedProfiles parse_profiles(const std::string& text) {
  SpeedProfiles out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t tab = line.rfind('\t');
    if (tab == std::string::npos || tab == 0) continue;
    char* end = nullptr;
    const std::string number = line.substr(tab + 1);
    const double speed = std::strtod(number.c_str(), &end);
    if (end == number.c_str() || !std::isfinite(speed) || speed <= 0) continue;
    out[line.substr(0, tab)] = speed;
  }
  return out;
}

std::string format_profiles(const SpeedProfiles& profiles) {
  std::ostringstream out;
  out.precision(6);
  for (const auto& [id, speed] : profiles)
    if (id.find_first_of("\t\n") == std::string::npos) out << id << '\t' << speed << '\n';
  return out.str();
}

SpeedProfiles merge_profiles(const SpeedProfiles& old_profiles, const SpeedProfiles& learned) {
  double old_sum = 0, new_sum = 0;
  for (const auto& [id, speed] : learned) {
    if (const auto it = old_profiles.find(id); it != old_profiles.end()) {
      old_sum += it->second;
      new_sum += speed;
    }
  }
  const double scale = old_sum > 0 && new_sum > 0 ? old_sum / new_sum : 1.0;
  SpeedProfiles out = old_profiles;
  for (const auto& [id, speed] : learned) out[id] = speed * scale;
  return out;
}

std::filesystem::path profiles_path() { return protocol::config_dir() / "agent-speeds.tsv"; }

SpeedProfiles load_profiles(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return parse_profiles(text.str());
}

bool save_profiles(const std::filesystem::path& path, const SpeedProfiles& profiles) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const std::filesystem::path temp = path.string() + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream out(temp, std::ios::trunc);
    out << format_profiles(profiles);
    if (!out) {
      std::filesystem::remove(temp, ec);
      return false;
    }
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) std::filesystem::remove(temp, ec);
  return !ec;
}

SpeedProfiles forget_profiles(const std::filesystem::path& path) {
  SpeedProfiles forgotten = load_profiles(path);
  std::error_code ec;
  if (!std::filesystem::remove(path, ec) && ec)
    throw std::runtime_error("cannot forget the learned speeds: cannot remove " + path.string() + ": " + ec.message());
  return forgotten;
}

std::string forgotten_text(const SpeedProfiles& forgotten, const std::filesystem::path& path) {
  if (forgotten.empty()) return "no learned speeds to forget in " + path.string();
  std::ostringstream out;
  out.precision(3);
  out << "forgot the learned speeds of " << forgotten.size() << (forgotten.size() == 1 ? " agent" : " agents")
      << " in " << path.string() << ":";
  const char* sep = " ";
  for (const auto& [id, speed] : forgotten) {
    out << sep << id << " " << speed;
    sep = ", ";
  }
  return out.str();
}

}  // namespace bnr::broker
