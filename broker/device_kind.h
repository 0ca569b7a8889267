// Agents rendering on a GPU and on the CPU give slightly different pixels (seams), so a frame
// is rendered on one kind only unless the user allows mixing. Pure.
#pragma once

#include <string_view>

namespace bnr::broker {

enum class DeviceKind { kCpu, kGpu };

// From AgentInfo::device: "CPU" and "" (agents from before devices render on the CPU) are
// the CPU; anything else ("CUDA: ...", "OPTIX: ...") is a GPU.
[[nodiscard]] inline DeviceKind device_kind(std::string_view device) {
  return device.empty() || device == "CPU" ? DeviceKind::kCpu : DeviceKind::kGpu;
}

[[nodiscard]] inline const char* device_kind_name(DeviceKind kind) { return kind == DeviceKind::kCpu ? "CPU" : "GPU"; }

}  // namespace bnr::broker
