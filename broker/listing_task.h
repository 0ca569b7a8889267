// The broker's own listing of a scene (scene_manifest.h), run only when it is needed. A job
// on the guess "the .blend alone" first hears from its first ready agent, whose Blender has
// opened that .blend: when it reads no other file, the .blend is the whole scene, and the
// listing follows from what that agent saw and this machine's `blender --version` (a quarter
// of a second) instead of a Blender that loads the scene here too, which on a machine that
// also renders takes a core from the agents for over a second. Otherwise the listing starts.
#pragma once

#include <functional>
#include <future>
#include <optional>
#include <string>

#include "scene_manifest.h"

namespace bnr::broker {

class ListingTask {
 public:
  // `list`: the listing (build_manifest's answer, or its error); `this_blender`: this machine's
  // Blender version ("" when it has none), asked at once in the background; empty when only
  // the listing will do (then this_blender() says ""); `remember`: called with what settle()
  // is given, so the next run need not ask again (empty: nothing to remember it by).
  ListingTask(std::function<SceneManifest()> list, std::function<std::string()> this_blender,
              std::function<void(const SceneManifest&)> remember = {});
  ListingTask(const ListingTask&) = delete;
  ListingTask& operator=(const ListingTask&) = delete;
  ~ListingTask();  // waits for a listing or version question still running

  // Starts the listing (once; nothing after settle).
  void start();
  // The answer without a listing; false (ignored) once the listing started or was settled.
  // `remember`: hand it to the remember callback (not when it rests on what an agent with
  // another Blender read).
  bool settle(SceneManifest truth, bool remember = true);
  // Whether start() or settle() was called: result() is then (or will be) ready.
  [[nodiscard]] bool decided() const { return decided_; }
  [[nodiscard]] std::shared_future<SceneManifest> result() const { return result_; }
  // This machine's Blender version once known ("" without a usable Blender); nullopt while
  // `blender --version` runs.
  [[nodiscard]] std::optional<std::string> this_blender() const;

 private:
  std::function<SceneManifest()> list_;
  std::function<void(const SceneManifest&)> remember_;
  std::promise<SceneManifest> promise_;
  std::shared_future<SceneManifest> result_;
  std::future<void> listing_;
  std::shared_future<std::string> version_;
  bool decided_ = false;
};

}  // namespace bnr::broker
