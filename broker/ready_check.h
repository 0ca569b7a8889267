// What the broker accepts of an agent's JobReady. The broker owns the frame: its size, views
// and file suffixes come from its own Blender's reading of the scene when it has one, and an
// agent that sees another frame is not used. Everything else an agent reports is checked
// before it sizes a buffer or names a file. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "messages.h"

namespace bnr::broker {

// The frame as the broker's own Blender read the scene (see scene_manifest.h).
struct FrameFacts {
  std::int32_t width = 0;
  std::int32_t height = 0;
  std::vector<std::string> views{};          // empty: mono
  std::vector<std::string> view_suffixes{};
  bool operator==(const FrameFacts&) const = default;
};

[[nodiscard]] FrameFacts frame_facts(const protocol::SceneInfo& scene);

// A view's file suffix goes into an output path: letters, digits, '_', '-', '.', at most 64,
// and never "..". Empty is fine (mono).
[[nodiscard]] bool safe_view_suffix(const std::string& suffix);

// Bytes the merged frame holds: 16-bit RGBA per view, plus float RGBA with the EXR.
[[nodiscard]] std::uint64_t frame_bytes(const protocol::SceneInfo& scene, bool with_exr);

// Empty when `ready` can be used, else why not, one line. `expected`: the frame the broker
// read itself (unset when this machine has no Blender: then the first agent's frame is taken,
// and later ones must agree with it through `expected` as well). `max_frame_bytes` bounds the
// merge buffers a frame may ask for.
[[nodiscard]] std::string ready_problem(const protocol::SceneInfo& ready, const std::optional<FrameFacts>& expected,
                                        bool with_exr, std::uint64_t max_frame_bytes);

}  // namespace bnr::broker
