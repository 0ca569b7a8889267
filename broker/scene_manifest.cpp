#include "scene_manifest.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <unordered_set>
#include <unistd.h>

#include "blender_version.h"
#include "agent_profiles.h"
#include "child_process.h"
#include "content_hash.h"
#include "listing_task.h"
#include "manifest_cache.h"
#include "scene_analysis_script.h"
#include "scene_files_script.h"
#include "split_text.h"
#include "temp_dir.h"

namespace bnr::broker {
namespace fs = std::filesystem;

namespace {

ManifestFile describe(const fs::path& path, ManifestCache& cache) {
  const auto stamp = stamp_of(path);
  if (!stamp) throw std::runtime_error("cannot read " + path.string());
  if (auto hash = cache.hash(path, *stamp)) {
    cache.remember_hash(path, *stamp, *hash);  // keeps it among the most recently used
    return {path, stamp->size, *hash};
  }
  std::string hash = tools::content_hash_of_file(path);
  // A file written while it was hashed gets a new stamp: remember only what was hashed.
  if (stamp_of(path) == stamp) cache.remember_hash(path, *stamp, hash);
  return {path, stamp->size, std::move(hash)};
}

// The executable `blender` names: its stamp changes when Blender is upgraded.
fs::path resolve_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return fs::absolute(name);
  const char* path = std::getenv("PATH");
  for (const std::string_view dir : tools::split(path != nullptr ? path : "", ':')) {
    const fs::path candidate = fs::path(dir.empty() ? std::string_view(".") : dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// 0 for anything but a plain decimal number.
int int_field(const std::string& s) {
  int out = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() ? out : 0;
}

}  // namespace

SceneListing parse_scene_listing(std::string_view text) {
  SceneListing listing;
  std::unordered_set<std::string> seen;
  for (const std::string_view line : tools::split(text, '\n')) {
    const std::vector<std::string_view> fields = tools::split(line, '\t');
    const std::vector<std::string> f(fields.begin(), fields.end());
    if (f.size() < 2) continue;
    if (f[0] == "version") {
      listing.blender_version = f[1];
    } else if (f[0] == "file") {
      const fs::path p(f[1]);
      if (!p.is_absolute())
        listing.warnings.push_back("not sending " + f[1] + ": Blender reported a relative path");
      else if (seen.insert(p.lexically_normal().string()).second)
        listing.files.push_back(p.lexically_normal());
    } else if (f[0] == "missing") {
      listing.missing.emplace_back(f[1]);
      listing.warnings.push_back((f.size() > 2 ? f[2] + " uses " : "") + f[1] +
                                 ", which is missing on this machine (it renders as missing, as in Blender)");
    } else if (f[0] == "warning") {
      listing.warnings.push_back(f[1]);
    } else if (f[0] == "frame" && f.size() >= 3) {
      listing.frame.emplace();
      listing.frame->width = int_field(f[1]);
      listing.frame->height = int_field(f[2]);
    } else if (f[0] == "output" && f.size() >= 3) {
      listing.output = OutputFacts{f[1], f[2]};
    } else if (f[0] == "denoise" && f.size() >= 3) {
      listing.denoise = DenoiseFacts{f[1] == "1", f[2] == "1", f.size() > 3 ? f[3] : std::string()};
    } else if (f[0] == "view" && f.size() >= 3 && listing.frame) {
      listing.frame->views.push_back(f[1]);
      listing.frame->view_suffixes.push_back(f[2]);
    }
  }
  // Unreadable frame lines decide nothing: the agents' frame is taken then.
  if (listing.frame && (listing.frame->width <= 0 || listing.frame->height <= 0)) listing.frame.reset();
  return listing;
}

std::string format_scene_listing(const SceneListing& listing) {
  const auto field = [](std::string text) {  // one field of one line
    std::replace_if(text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
    return text;
  };
  std::string text = "version\t" + field(listing.blender_version) + "\n";
  for (const fs::path& f : listing.files) text += "file\t" + field(f.string()) + "\n";
  for (const fs::path& f : listing.missing) text += "missing\t" + field(f.string()) + "\n";
  for (const std::string& w : listing.warnings) text += "warning\t" + field(w) + "\n";
  if (listing.frame) {
    text += "frame\t" + std::to_string(listing.frame->width) + "\t" + std::to_string(listing.frame->height) + "\n";
    for (std::size_t v = 0; v < listing.frame->views.size() && v < listing.frame->view_suffixes.size(); ++v)
      text += "view\t" + field(listing.frame->views[v]) + "\t" + field(listing.frame->view_suffixes[v]) + "\n";
  }
  if (listing.output) text += "output\t" + field(listing.output->format) + "\t" + field(listing.output->depth) + "\n";
  if (listing.denoise)
    text += std::string("denoise\t") + (listing.denoise->scene_denoises ? "1" : "0") + "\t" +
            (listing.denoise->blender_can ? "1" : "0") + "\t" + field(listing.denoise->blender_says) + "\n";
  return text;
}

std::string tree_path_of(const fs::path& absolute) {
  const std::string s = absolute.lexically_normal().string();
  std::size_t start = 0;
  while (start < s.size() && s[start] == '/') ++start;
  return s.substr(start);
}

std::uint64_t SceneManifest::total_bytes() const {
  std::uint64_t total = 0;
  for (const ManifestFile& f : files) total += f.size;
  return total;
}

std::vector<protocol::SceneFile> SceneManifest::wire_files() const {
  std::vector<protocol::SceneFile> out;
  out.reserve(files.size());
  for (const ManifestFile& f : files) out.push_back({tree_path_of(f.source), f.size, f.hash});
  return out;
}

namespace {

// scene_files.py's output for `blend`, or nullopt when `blender` is not a usable Blender.
// Throws with Blender's reason when it read the file and refused it.
std::optional<std::string> list_with_blender(const fs::path& scene, const fs::path& blend, const std::string& blender) {
  tools::TempDir dir("bnr-broker-list");
  const fs::path script = dir / "scene_files.py";
  const fs::path out = dir / "files.tsv";
  std::ofstream(script, std::ios::binary) << scene_files_script();
  std::ofstream(dir / "scene_analysis.py", std::ios::binary) << scene_analysis_script();  // it imports this
  const tools::RunResult run = tools::run_command(
      {blender, "-b", "--factory-startup", "--disable-autoexec", blend.string(), "--python-exit-code", "2", "--python",
       script.string(), "--", "--out", out.string()},
      std::chrono::minutes(10));
  std::ifstream in(out, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!text.str().empty()) return text.str();
  // Blender started and read the file but said no: the agents' Blenders would too.
  if (run.exit_code != -1 && run.output.find("Read blend") != std::string::npos)
    throw std::runtime_error(scene.string() + ": Blender cannot load it: " + tools::blender_reason_in(run.output));
  return std::nullopt;
}

// Textures do not change the .blend: a listed file gone, or a missing one there now, means
// a cached listing is out of date.
bool still_true(const SceneListing& listing) {
  std::error_code ec;
  return std::all_of(listing.files.begin(), listing.files.end(), [&](const fs::path& f) { return fs::exists(f, ec); }) &&
         std::none_of(listing.missing.begin(), listing.missing.end(), [&](const fs::path& f) { return fs::exists(f, ec); });
}

ManifestCache scene_cache() { return ManifestCache(profiles_path().parent_path() / "scenes"); }

fs::path canonical_blend(const fs::path& scene) { return fs::weakly_canonical(fs::absolute(scene)); }

}  // namespace

std::optional<SceneListing> cached_listing(const fs::path& scene, const std::string& blender) {
  if (resolve_executable(blender).empty()) return std::nullopt;
  const auto cached = scene_cache().listing(canonical_blend(scene));
  if (!cached) return std::nullopt;
  SceneListing listing = parse_scene_listing(*cached);
  // A listing from before frame, output or denoise lines is relisted once.
  if (!still_true(listing) || !listing.frame || !listing.output || !listing.denoise) return std::nullopt;
  return listing;
}

namespace {

void remember_listing(const fs::path& blend, const SceneListing& listing, const std::string& text,
                      const std::string& blender) {
  const fs::path blender_exe = resolve_executable(blender);
  if (blender_exe.empty()) return;
  // Libraries decide what else is listed; textures do not.
  std::vector<fs::path> depends_on = {blender_exe};
  for (const fs::path& f : listing.files)
    if (f.extension() == ".blend") depends_on.push_back(f);
  scene_cache().remember_listing(blend, depends_on, text);
}

// A listing settled from an agent's reading (listing_from_agent) serves the next run as one
// from this machine's Blender would: that run's guess is then no guess.
void remember_settled(const fs::path& scene, const SceneManifest& truth, const std::string& blender) {
  if (truth.blender_version.empty() || truth.files.empty()) return;
  // Only of the .blend the agent read: one saved since (a texture added?) is listed next time.
  const fs::path blend = canonical_blend(scene);
  const std::optional<FileStamp> stamp = stamp_of(blend);
  const std::optional<std::string> hash = stamp ? scene_cache().hash(blend, *stamp) : std::nullopt;
  if (hash != truth.files[0].hash) return;
  SceneListing listing;
  listing.blender_version = truth.blender_version;
  for (std::size_t i = 1; i < truth.files.size(); ++i) listing.files.push_back(truth.files[i].source);
  listing.warnings = truth.warnings;
  listing.frame = truth.frame;
  listing.output = truth.output;
  listing.denoise = truth.denoise;
  remember_listing(canonical_blend(scene), listing, format_scene_listing(listing), blender);
}

}  // namespace

std::optional<SceneListing> list_scene(const fs::path& scene, const std::string& blender) {
  const fs::path blend = canonical_blend(scene);
  const std::optional<std::string> text = list_with_blender(scene, blend, blender);
  if (!text) return std::nullopt;
  SceneListing listing = parse_scene_listing(*text);
  remember_listing(blend, listing, *text, blender);
  return listing;
}

SceneListing guessed_listing(const fs::path& scene) {
  SceneListing guess;
  const auto last = scene_cache().last_listing(canonical_blend(scene));
  if (!last) return guess;
  const SceneListing was = parse_scene_listing(*last);
  std::error_code ec;
  for (const fs::path& f : was.files)
    if (fs::exists(f, ec)) guess.files.push_back(f);
  guess.frame = was.frame;
  guess.output = was.output;
  return guess;
}

SceneManifest manifest_from(const fs::path& scene, std::optional<SceneListing> listing, const std::string& blender) {
  ManifestCache cache = scene_cache();
  SceneManifest manifest;
  const fs::path blend = canonical_blend(scene);
  if (!listing) {
    manifest.warnings.push_back("no usable Blender on this machine (" + blender +
                                "): only the .blend is sent, not the external files it uses");
    manifest.files.push_back(describe(blend, cache));
    (void)cache.save();
    return manifest;
  }
  manifest.blender_version = listing->blender_version;
  manifest.warnings = std::move(listing->warnings);
  manifest.frame = listing->frame;
  manifest.output = listing->output;
  manifest.denoise = listing->denoise;
  manifest.files.push_back(describe(blend, cache));
  for (const fs::path& f : listing->files)
    if (f != blend) manifest.files.push_back(describe(f, cache));
  (void)cache.save();
  return manifest;
}

SceneManifest build_manifest(const fs::path& scene, const std::string& blender) {
  std::optional<SceneListing> listing = cached_listing(scene, blender);
  if (!listing) listing = list_scene(scene, blender);
  return manifest_from(scene, std::move(listing), blender);
}

ManifestPlan plan_manifest(const fs::path& scene, const std::string& blender) {
  if (std::optional<SceneListing> cached = cached_listing(scene, blender))
    return {manifest_from(scene, std::move(cached), blender), {}};
  if (resolve_executable(blender).empty()) return {build_manifest(scene, blender), {}};
  const SceneListing guess = guessed_listing(scene);
  // With an earlier listing's files the guess needs a listing anyway: Blender starts first,
  // and hashing the files for the guess overlaps its start-up. Only the guess "the .blend
  // alone" may do without it, and only then is this machine's version asked by itself.
  const bool blend_alone = guess.files.empty();
  auto listing = std::make_shared<ListingTask>(
      [scene, blender] { return manifest_from(scene, list_scene(scene, blender), blender); },
      blend_alone ? std::function<std::string()>([blender] { return tools::check_blender(blender).str(); })
                  : std::function<std::string()>(),
      [scene, blender](const SceneManifest& truth) { remember_settled(scene, truth, blender); });
  if (!blend_alone) listing->start();
  try {
    return {manifest_from(scene, guess, blender), listing};
  } catch (const std::runtime_error&) {
    // The .blend cannot be read: Blender's reason is the clearer one.
    listing->start();
    return {listing->result().get(), {}};
  }
}

std::optional<SceneManifest> listing_from_agent(const SceneManifest& guess, const protocol::SceneInfo& seen,
                                                const std::string& this_blender) {
  if (guess.files.size() != 1 || seen.external_files != 0 || seen.denoise || this_blender.empty() ||
      seen.output_format.empty())
    return std::nullopt;
  SceneManifest truth = guess;
  truth.blender_version = this_blender;
  truth.frame = frame_facts(seen);
  truth.output = OutputFacts{seen.output_format, seen.output_depth};
  truth.denoise = DenoiseFacts{false, false, "the scene does not denoise"};
  return truth;
}

namespace {

// How a job writes its output: what OutputFacts decide before agents are asked.
std::string output_kind(const std::optional<OutputFacts>& output) {
  if (!output || output->format == "PNG") return "PNG";
  if (output->multilayer()) return output->depth == "16" ? "multilayer EXR (half)" : "multilayer EXR";
  return "written by Blender";
}

}  // namespace

std::string listing_change(const SceneManifest& guess, const SceneManifest& truth) {
  if (truth.blender_version.empty()) return "this machine's Blender could not list the scene";
  const auto same_file = [](const ManifestFile& a, const ManifestFile& b) {
    return a.source == b.source && a.size == b.size && a.hash == b.hash;
  };
  if (!std::equal(guess.files.begin(), guess.files.end(), truth.files.begin(), truth.files.end(), same_file))
    return "it uses " + std::to_string(truth.files.size() - 1) + " external files, not the " +
           std::to_string(guess.files.size() - 1) + " guessed";
  if (output_kind(guess.output) != output_kind(truth.output))
    return "its output is " + output_kind(truth.output) + ", not " + output_kind(guess.output);
  if (guess.frame && truth.frame && !(*guess.frame == *truth.frame)) return "its frame size or views changed";
  return "";
}

}  // namespace bnr::broker
