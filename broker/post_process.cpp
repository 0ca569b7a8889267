#include "post_process.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

#include "blender_version.h"
#include "child_process.h"
#include "composite_script.h"
#include "scene_analysis_script.h"
#include "temp_dir.h"

namespace bnr::broker {
namespace fs = std::filesystem;
namespace {

// rename() where it can; across file systems (the work directory is in /tmp), a copy beside
// the target renamed over it, so no half-written file is ever at `to`.
void move_into_place(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (!ec) return;
  const fs::path temp = to.string() + ".bnr-tmp-" + std::to_string(getpid());
  fs::copy_file(from, temp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(temp, to, ec);
  if (ec) {
    fs::remove(temp);
    throw std::runtime_error("cannot write " + to.string() + ": " + ec.message());
  }
}

std::string reason_in(const std::string& output) {
  const std::size_t at = output.find("bnr-error\t");
  if (at != std::string::npos) {
    const std::size_t end = output.find('\n', at);
    return output.substr(at + 10, end == std::string::npos ? std::string::npos : end - at - 10);
  }
  return tools::blender_reason_in(output);
}

// The one file Blender wrote into `dir` for the stem "frame".
fs::path written_frame(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("frame", 0) == 0) found.push_back(e.path());
  if (found.size() != 1)
    throw std::runtime_error("Blender's compositor wrote " + std::to_string(found.size()) + " images, expected one");
  return found.front();
}

// A compositor-only run writes a multilayer EXR whose view layers are empty (nothing was
// rendered) beside the right Composite layer: the merged passes take the layers' place.
tools::ExrLayers with_merged_layers(tools::ExrLayers image, tools::ExrLayers merged, bool half) {
  merged.compression = image.compression;
  std::vector<std::string> names;
  for (const tools::ExrChannel& c : merged.channels) names.push_back(c.name);
  const std::vector<bool> halves = blender_stores_half(names);
  for (std::size_t i = 0; i < merged.channels.size(); ++i) merged.channels[i].half = half && halves[i];
  for (tools::ExrChannel& c : image.channels)
    if (c.name.rfind("Composite.", 0) == 0) merged.channels.push_back(std::move(c));
  std::sort(merged.channels.begin(), merged.channels.end(),
            [](const tools::ExrChannel& a, const tools::ExrChannel& b) { return a.name < b.name; });
  merged.text = std::move(image.text);
  return merged;
}

// A compositor-only run knows nothing of the render. Blender's EXR gets, in one rewrite: a
// multilayer file the merged passes; any file the metadata Blender's own render would have
// given it (Cryptomatte manifests, render statistics) from the regions', and the job's time.
void complete_exr(const fs::path& exr, const fs::path& merged_file,
                  const std::vector<std::pair<std::string, std::string>>& merged_text, const CompositeRequest& request) {
  tools::ExrLayers image = tools::read_exr_layers(exr);
  const bool multilayer = image.find_text("BlenderMultiChannel") != nullptr;
  if (multilayer) image = with_merged_layers(std::move(image), tools::read_exr_layers(merged_file), request.half_passes);
  for (const auto& [name, value] : merged_text) {
    if (name == "BlenderMultiChannel") continue;  // marks a multilayer file; Blender's own says whether this is one
    if (image.find_text(name) == nullptr) image.text.emplace_back(name, value);
  }
  if (std::string* time = image.find_text("RenderTime"); time != nullptr && !request.render_time.empty())
    *time = request.render_time;
  tools::write_exr_layers(exr, image);
}

}  // namespace

std::vector<bool> blender_stores_half(const std::vector<std::string>& channels) {
  const auto split = [](const std::string& name) {
    const std::size_t dot = name.rfind('.');
    return dot == std::string::npos ? std::pair<std::string, std::string>{"", name}
                                    : std::pair<std::string, std::string>{name.substr(0, dot), name.substr(dot + 1)};
  };
  std::map<std::string, bool> colour;  // per pass: every channel R, G, B or A
  for (const std::string& c : channels) {
    const auto [pass, letter] = split(c);
    const bool rgba = letter == "R" || letter == "G" || letter == "B" || letter == "A";
    auto [it, fresh] = colour.emplace(pass, rgba);
    if (!fresh) it->second = it->second && rgba;
  }
  std::vector<bool> out;
  for (const std::string& c : channels) out.push_back(colour[split(c).first]);
  return out;
}

fs::path with_format_extension(const fs::path& requested, const std::string& ext) {
  fs::path out = requested;
  return out.replace_extension(ext);
}

std::vector<fs::path> composite_frame(const tools::ExrLayers& merged_in_memory, const CompositeRequest& request,
                                      const std::function<void()>& release) {
  const tools::TempDir dir("bnr-composite");
  const fs::path layers = dir / "merged.exr";
  const fs::path script = dir / "composite.py";
  tools::write_exr_layers(layers, merged_in_memory);
  const auto merged_text = merged_in_memory.text;  // all the output needs of it from here on
  if (release) release();
  std::ofstream(script, std::ios::binary) << composite_script();
  std::ofstream(dir / "scene_analysis.py", std::ios::binary) << scene_analysis_script();  // it imports this

  std::vector<std::string> argv = {request.blender, "-b", "--factory-startup", "--disable-autoexec",
                                   fs::absolute(request.scene).string(), "--python-exit-code", "2", "--python",
                                   script.string(), "--", "--layers", layers.string(), "--out",
                                   (dir / "frame").string()};
  if (request.frame) argv.insert(argv.end(), {"--frame", std::to_string(*request.frame)});
  if (!request.exr.empty()) argv.insert(argv.end(), {"--exr", (dir / "linear.exr").string()});
  const tools::RunResult run = tools::run_command(argv, request.timeout);
  if (run.exit_code != 0)
    throw std::runtime_error("compositing the merged frame failed" +
                             std::string(run.exit_code == -1 ? " (Blender did not finish)" : "") + ": " +
                             reason_in(run.output));

  const fs::path image = written_frame(dir.path());
  if (image.extension() == ".exr") complete_exr(image, layers, merged_text, request);
  std::vector<fs::path> written = {with_format_extension(request.output, image.extension().string())};
  move_into_place(image, written.back());
  if (!request.exr.empty()) {
    move_into_place(dir / "linear.exr", request.exr);
    written.push_back(request.exr);
  }
  return written;
}

}  // namespace bnr::broker
