// What an agent sends for a rendered region: the files Blender wrote for it (the worker's
// "done" line names them), read and packed into RegionDone's bulk layout (protocol/messages.h).
#pragma once

#include <cstdint>
#include <string>

#include "messages.h"
#include "worker_protocol.h"

namespace bnr::agent {

struct RegionPayload {
  std::string bulk;
  protocol::PassLayout passes;  // empty unless passes were asked for
};

// Reads the region's display PNGs (always), linear EXRs (`exr`) and multilayer pass EXRs
// (`passes`), one of each per view, and checks each covers exactly `rect`. Throws
// std::runtime_error with a one-line reason when a file is missing, unreadable, the wrong
// size, or when views' pass layers differ.
[[nodiscard]] RegionPayload read_region_payload(const WorkerLine& done, const protocol::Rect& rect,
                                                std::uint32_t views, bool exr, bool passes);

}  // namespace bnr::agent
