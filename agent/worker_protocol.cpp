#include "worker_protocol.h"

#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace bnr::agent {
namespace {

int to_int(const WorkerLine& line, const std::string& key, int fallback) {
  const std::string v = line.get(key);
  if (v.empty()) return fallback;
  int out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size())
    throw std::runtime_error("worker sent a malformed number for " + key + ": '" + v + "'");
  return out;
}

bool to_bool(const WorkerLine& line, const std::string& key) { return line.get(key) == "1"; }

// %.17g keeps every bit of the double: Blender's Python parses it back to the same value.
std::string exact(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string WorkerLine::get(const std::string& key) const {
  const auto it = fields.find(key);
  return it == fields.end() ? std::string() : it->second;
}

std::vector<std::string> WorkerLine::list(const std::string& key, char sep) const {
  std::vector<std::string> out;
  const std::string v = get(key);
  if (v.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = v.find(sep, start);
    out.push_back(v.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::string escape_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string unescape_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) {
      const char n = value[++i];
      out += n == 't' ? '\t' : n == 'n' ? '\n' : n;
    } else {
      out += value[i];
    }
  }
  return out;
}

std::optional<WorkerLine> parse_worker_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return std::nullopt;
  WorkerLine out;
  std::size_t start = 0;
  bool first = true;
  for (;;) {
    const std::size_t end = line.find('\t', start);
    const std::string_view field = line.substr(start, end == std::string_view::npos ? end : end - start);
    if (first) {
      out.kind = std::string(field);
      first = false;
    } else if (!field.empty()) {
      const std::size_t eq = field.find('=');
      if (eq == std::string_view::npos) out.fields[std::string(field)] = "";
      else out.fields[std::string(field.substr(0, eq))] = unescape_value(field.substr(eq + 1));
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::string format_worker_line(const WorkerLine& line) {
  std::string out = line.kind;
  for (const auto& [k, v] : line.fields) out += "\t" + k + "=" + escape_value(v);
  return out;
}

protocol::SceneInfo scene_info_from_ready(const WorkerLine& ready) {
  protocol::SceneInfo s;
  s.width = to_int(ready, "width", 0);
  s.height = to_int(ready, "height", 0);
  s.frame = to_int(ready, "frame", 1);
  s.engine = ready.get("engine");
  s.views = ready.list("views");
  s.view_suffixes = ready.list("suffixes");
  s.stereo = ready.get("stereo").empty() ? "NONE" : ready.get("stereo");
  s.crosseyed = to_bool(ready, "crosseyed");
  s.squeezed = to_bool(ready, "squeezed");
  s.depth = to_int(ready, "depth", 8);
  s.color_mode = ready.get("color_mode");
  s.transparent = to_bool(ready, "transparent");
  s.adaptive = to_bool(ready, "adaptive");
  s.denoise = to_bool(ready, "denoise");
  s.margin = to_int(ready, "margin", 0);
  s.unsplittable = ready.list("unsplittable", ';');
  s.post_process = ready.list("post", ';');
  s.warnings = ready.list("warnings", ';');
  s.output_format = ready.get("format");
  s.output_depth = ready.get("color_depth");
  s.external_files = to_int(ready, "external", -1);
  return s;
}

Border border_for(const protocol::Rect& rect, int width, int height) {
  const double w = width;
  const double h = height;
  // Rows are counted from the top; Blender's border from the bottom.
  const int bottom = height - rect.y1;
  const int top = height - rect.y0;
  return {(rect.x0 + 0.5) / w, (rect.x1 + 0.5) / w, (bottom + 0.5) / h, (top + 0.5) / h};
}

protocol::Rect rect_blender_renders(const Border& border, int width, int height) {
  // RNA clamps the fractions to [0, 1] and stores float32; the renderer truncates f * size.
  auto px = [](double fraction, int size) {
    const float f = static_cast<float>(fraction < 0 ? 0 : fraction > 1 ? 1 : fraction);
    return static_cast<int>(f * static_cast<float>(size));
  };
  const int x0 = px(border.min_x, width);
  const int x1 = px(border.max_x, width);
  const int bottom = px(border.min_y, height);
  const int top = px(border.max_y, height);
  return {x0, height - top, x1, height - bottom};
}

std::string render_command(std::uint64_t id, const protocol::Rect& rect, int width, int height,
                           const std::string& dir, bool exr, protocol::PassMode passes) {
  const Border b = border_for(rect, width, height);
  WorkerLine line{"render",
                  {{"id", std::to_string(id)},
                   {"min_x", exact(b.min_x)},
                   {"max_x", exact(b.max_x)},
                   {"min_y", exact(b.min_y)},
                   {"max_y", exact(b.max_y)},
                   {"dir", dir},
                   {"exr", exr ? "1" : "0"},
                   {"passes", std::to_string(static_cast<int>(passes))}}};
  return format_worker_line(line);
}

std::string open_command(const std::string& scene, std::optional<int> frame, bool no_denoise,
                         const std::string& tree_root) {
  WorkerLine line{"open", {{"scene", scene}}};
  if (frame) line.fields["frame"] = std::to_string(*frame);
  if (no_denoise) line.fields["no_denoise"] = "1";
  if (!tree_root.empty()) line.fields["tree_root"] = tree_root;
  return format_worker_line(line);
}

}  // namespace bnr::agent
