// Which Blender this agent runs, checked once at start-up.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bnr::tools {

struct BlenderVersion {
  int major = 0, minor = 0, patch = 0;
  [[nodiscard]] std::string str() const;
};

// Parses the first "Blender X.Y[.Z]" of `blender --version` output.
[[nodiscard]] std::optional<BlenderVersion> parse_blender_version(const std::string& output);

// Oldest Blender whose Python API the worker uses (border, persistent data, multiview).
inline constexpr BlenderVersion kMinimumBlender{3, 0, 0};

// Blender's own reason for failing, from the last lines it printed (oldest first): the last
// line that reports an error, else the last line.
[[nodiscard]] std::string blender_reason(std::span<const std::string> lines);
// The same, from everything Blender printed.
[[nodiscard]] std::string blender_reason_in(std::string_view output);

// Runs `blender --version`. Throws std::runtime_error with a one-line, actionable message when
// True for kMinimumBlender and newer.
[[nodiscard]] bool is_supported(const BlenderVersion& v);

// Blender is missing, does not answer, or is older than kMinimumBlender.
[[nodiscard]] BlenderVersion check_blender(const std::string& blender);

}  // namespace bnr::tools
