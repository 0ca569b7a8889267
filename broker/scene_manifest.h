// What a job ships to agents: the .blend and every external file it uses, each with its size
// and content hash. The broker machine's Blender lists the files (it alone can read a .blend's
// references); the rest is parsing and hashing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages.h"
#include "ready_check.h"
#include "split_check.h"

namespace bnr::broker {

// What broker/scene_files.py reported (pure data, see that script for the line format).
// The scene's own output settings as saved (Output Properties > Output).
struct OutputFacts {
  std::string format;  // Blender's file_format: "PNG", "OPEN_EXR_MULTILAYER", ...
  std::string depth;   // color_depth: "8", "16", "32", or "" for formats without one
  [[nodiscard]] bool multilayer() const { return format == "OPEN_EXR_MULTILAYER"; }
};

struct SceneListing {
  std::string blender_version;              // of the Blender that listed the scene
  std::vector<std::filesystem::path> files;  // absolute, normalised, without the .blend itself
  std::vector<std::string> warnings;         // missing files, things that are not sent
  std::vector<std::filesystem::path> missing;  // referenced, absent when it was listed
  std::optional<FrameFacts> frame;           // unset from a script before frame lines
  std::optional<OutputFacts> output;         // unset from a script before output lines
  std::optional<DenoiseFacts> denoise;       // unset from a script before denoise lines
};

// Parses the script's output. Unknown line kinds are ignored (a newer script may add some);
// relative "file" paths are refused as a warning, never shipped.
[[nodiscard]] SceneListing parse_scene_listing(std::string_view text);

// The script's lines for `listing`: parse_scene_listing(format_scene_listing(l)) gives l back,
// but for tabs and newlines in a field (spaces then) and a missing file's warning (twice).
[[nodiscard]] std::string format_scene_listing(const SceneListing& listing);

// Where an absolute broker path goes under an agent's job directory: the path without its
// leading '/' (see protocol::SceneFile::path for why the whole path is mirrored).
[[nodiscard]] std::string tree_path_of(const std::filesystem::path& absolute);

struct ManifestFile {
  std::filesystem::path source;  // absolute path on this machine
  std::uint64_t size = 0;
  std::string hash;
};

struct SceneManifest {
  std::string blender_version;     // empty when this machine has no usable Blender
  std::vector<ManifestFile> files;  // files[0] is the .blend
  std::vector<std::string> warnings;
  // The frame as this machine's Blender reads the scene (size, views, file suffixes); unset
  // without a usable Blender. Agents that see another frame are not used.
  std::optional<FrameFacts> frame;
  std::optional<OutputFacts> output;  // unset without a usable Blender
  // Whether the scene denoises and this machine's Blender can; unset without a usable Blender.
  std::optional<DenoiseFacts> denoise;

  [[nodiscard]] std::uint64_t total_bytes() const;
  // The OpenJob form: tree paths, sizes and hashes, the .blend first.
  [[nodiscard]] std::vector<protocol::SceneFile> wire_files() const;
};

// Lists (with `blender`) and hashes the files `scene` needs; what it learns is cached beside
// the agent speeds (see manifest_cache.h), so an unchanged scene costs a few stat() calls. A
// machine without Blender still renders: the manifest then holds the .blend alone, with a
// warning that external files are not sent. Throws std::runtime_error with Blender's own
// reason when it cannot load the scene. Its steps:
[[nodiscard]] SceneManifest build_manifest(const std::filesystem::path& scene, const std::string& blender);
// The listing an earlier run cached, while none of the files it depends on changed.
[[nodiscard]] std::optional<SceneListing> cached_listing(const std::filesystem::path& scene, const std::string& blender);
// Blender's listing (cached for the next run); nullopt when `blender` is not a usable Blender.
[[nodiscard]] std::optional<SceneListing> list_scene(const std::filesystem::path& scene, const std::string& blender);
// Hashes what `listing` names (nullopt: the .blend alone, with the no-Blender warning).
[[nodiscard]] SceneManifest manifest_from(const std::filesystem::path& scene, std::optional<SceneListing> listing,
                                          const std::string& blender);

// A guess at an unlisted scene's listing, to start agents on while Blender lists it: the
// files of this path's last listing that are still there, with its frame and output; with
// none, the .blend alone, written as PNG. No Blender version: the real listing brings it.
[[nodiscard]] SceneListing guessed_listing(const std::filesystem::path& scene);

// The manifest a job starts with at once. Listing a scene takes a Blender start (over a
// second), as long as the agents' own loading: when no listing is cached the job starts on a
// guess and `listing` brings build_manifest's answer (or its error) meanwhile. On the guess
// "the .blend alone" it waits for the first ready agent (see ListingTask, listing_from_agent);
// on a guess from an earlier listing it runs at once.
class ListingTask;
struct ManifestPlan {
  SceneManifest manifest;
  std::shared_ptr<ListingTask> listing;  // set only when `manifest` is a guess
};
[[nodiscard]] ManifestPlan plan_manifest(const std::filesystem::path& scene, const std::string& blender);

// The listing of a scene guessed to be its .blend alone, from what a ready agent's Blender read
// of that .blend (`seen`) and this machine's Blender version: the guess as a listing would
// confirm it, when that agent found no other file the scene reads and the scene does not
// denoise (only this machine's Blender can say whether it could denoise the merged frame).
// nullopt when only a listing can tell. Pure.
[[nodiscard]] std::optional<SceneManifest> listing_from_agent(const SceneManifest& guess, const protocol::SceneInfo& seen,
                                                              const std::string& this_blender);

// Why a job set up from `guess` cannot go on as one from `truth` (other files, another output
// kind or frame); empty when it can. Pure.
[[nodiscard]] std::string listing_change(const SceneManifest& guess, const SceneManifest& truth);

}  // namespace bnr::broker
