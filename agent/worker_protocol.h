// The line protocol between the agent and the Python worker inside Blender
// (agent/blender_worker.py). One message per line: a kind, then TAB-separated key=value
// fields, values escaped so they never contain TAB or newline. Pure text handling.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages.h"

namespace bnr::agent {

struct WorkerLine {
  std::string kind;                          // "ready", "done", "failed", "error"
  std::map<std::string, std::string> fields;  // unescaped values

  [[nodiscard]] std::string get(const std::string& key) const;
  [[nodiscard]] std::vector<std::string> list(const std::string& key, char sep = ',') const;
};

[[nodiscard]] std::string escape_value(std::string_view value);
[[nodiscard]] std::string unescape_value(std::string_view value);

// Parses one line (without its newline). nullopt for an empty line.
[[nodiscard]] std::optional<WorkerLine> parse_worker_line(std::string_view line);
[[nodiscard]] std::string format_worker_line(const WorkerLine& line);

// The "ready" line as SceneInfo. Throws std::runtime_error when a number is malformed.
[[nodiscard]] protocol::SceneInfo scene_info_from_ready(const WorkerLine& ready);

// Blender's border fractions for a pixel rectangle (origin bottom-left, fractions of the
// final size). Blender and Cycles truncate float32(fraction) * size, so the exact fraction
// px / size can land one pixel short; the pixel centre (px + 0.5) / size cannot.
struct Border {
  double min_x = 0, max_x = 1, min_y = 0, max_y = 1;
};
[[nodiscard]] Border border_for(const protocol::Rect& rect, int width, int height);

// The pixel rectangle Blender derives from a border, modelled on its float32 truncation.
// Used by tests to prove border_for() round-trips for every size.
[[nodiscard]] protocol::Rect rect_blender_renders(const Border& border, int width, int height);

// The worker's command line to render `rect` into `dir`.
[[nodiscard]] std::string render_command(std::uint64_t id, const protocol::Rect& rect, int width,
                                         int height, const std::string& dir, bool exr,
                                         protocol::PassMode passes = protocol::PassMode::kNone);

// The command that makes a spare Blender (started with no scene, worker --spare) open one,
// as `blender -b SCENE` with the worker's --frame, --no-denoise and --tree-root would have.
[[nodiscard]] std::string open_command(const std::string& scene, std::optional<int> frame, bool no_denoise,
                                       const std::string& tree_root);

}  // namespace bnr::agent
