#include "blender_version.h"

#include "split_text.h"

#include <regex>
#include <stdexcept>

#include "child_process.h"

namespace bnr::tools {

std::string BlenderVersion::str() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::optional<BlenderVersion> parse_blender_version(const std::string& output) {
  static const std::regex pattern(R"(Blender (\d+)\.(\d+)(?:\.(\d+))?)");
  std::smatch m;
  if (!std::regex_search(output, m, pattern)) return std::nullopt;
  BlenderVersion v;
  v.major = std::stoi(m[1]);
  v.minor = std::stoi(m[2]);
  v.patch = m[3].matched ? std::stoi(m[3]) : 0;
  return v;
}

bool is_supported(const BlenderVersion& v) {
  const auto key = [](const BlenderVersion& b) { return b.major * 10000 + b.minor * 100 + b.patch; };
  return key(v) >= key(kMinimumBlender);
}

BlenderVersion check_blender(const std::string& blender) {
  const RunResult r = run_command({blender, "--version"}, std::chrono::seconds(60));
  if (r.exit_code == -1)
    throw std::runtime_error("Blender not found (" + r.output +
                             "); install it (apt-get install blender) or pass --blender PATH");
  if (r.timed_out) throw std::runtime_error("'" + blender + " --version' did not answer in 60 s");
  const auto v = parse_blender_version(r.output);
  if (r.exit_code != 0 || !v)
    throw std::runtime_error("'" + blender + "' does not look like Blender ('--version' exited " +
                             std::to_string(r.exit_code) + ")");
  if (!is_supported(*v))
    throw std::runtime_error("Blender " + v->str() + " is too old; bnr needs " +
                             kMinimumBlender.str() + " or newer");
  return *v;
}

std::string blender_reason(std::span<const std::string> lines) {
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (it->find("Error") != std::string::npos || it->find("error:") != std::string::npos) return *it;
  return lines.empty() ? std::string("Blender exited without a message") : lines.back();
}

std::string blender_reason_in(std::string_view output) {
  std::vector<std::string> lines;
  for (std::string_view line : split(output, '\n')) lines.emplace_back(line);
  return blender_reason(lines);
}

}  // namespace bnr::tools
