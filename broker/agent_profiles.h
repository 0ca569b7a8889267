// What the broker learned about each agent's speed, kept between jobs so the next job starts
// from it. Keyed by the stable agent id agents report (host/name).
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace bnr::broker {

using SpeedProfiles = std::map<std::string, double>;  // agent id -> speed (work per second)

// Text form: one "agent-id<TAB>speed" line per agent. Lines that do not parse are skipped.
[[nodiscard]] SpeedProfiles parse_profiles(const std::string& text);
[[nodiscard]] std::string format_profiles(const SpeedProfiles& profiles);

// Newer speeds replace older ones; agents not in this job keep theirs. Speeds are relative,
// so the new ones are rescaled to the old ones' scale over the agents both know.
[[nodiscard]] SpeedProfiles merge_profiles(const SpeedProfiles& old_profiles, const SpeedProfiles& learned);

// $BNR_CONFIG_DIR, else $XDG_CONFIG_HOME/bnr, else ~/.config/bnr; + "agent-speeds.tsv".
[[nodiscard]] std::filesystem::path profiles_path();
// Missing or unreadable file: empty profiles (a first run is not an error).
[[nodiscard]] SpeedProfiles load_profiles(const std::filesystem::path& path);
// Atomic (temp file + rename). Returns false when it could not be written.
bool save_profiles(const std::filesystem::path& path, const SpeedProfiles& profiles);
// Deletes the profiles file (bnr-broker --forget-speeds) and returns what it held. Throws
// std::runtime_error with the reason when the file is there but cannot be removed.
SpeedProfiles forget_profiles(const std::filesystem::path& path);
// One line saying what forget_profiles forgot: "forgot the learned speeds of 2 agents in PATH:
// a 1.5, b 0.25", or that there was nothing to forget.
[[nodiscard]] std::string forgotten_text(const SpeedProfiles& forgotten, const std::filesystem::path& path);

}  // namespace bnr::broker
