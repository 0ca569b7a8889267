// Which Blender and device Cycles renders on in this agent's Blender (bnr-agent --device),
// asked once at start-up (from the spare Blender's report, else a probe run) so that a device
// the machine lacks is an error then, not at the first job.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "worker_protocol.h"

namespace bnr::agent {

// "CPU", "CUDA", "OPTIX", "HIP", "ONEAPI", "METAL" (any case) as the upper-case name; throws
// std::runtime_error naming the choices for anything else.
[[nodiscard]] std::string parse_device(const std::string& flag_value);

// What the worker's --probe-device run printed, Blender's own lines included: the device it
// reports (e.g. "CPU", "OPTIX: NVIDIA GeForce RTX 3080"). Throws std::runtime_error with one
// line, "--device CUDA: <the worker's reason>", when the device is not there, or with
// Blender's reason when the probe did not get that far.
[[nodiscard]] std::string device_from_probe(const std::string& device, const std::string& output, int exit_code);

// What the agent advertises of its Blender.
struct BlenderIdentity {
  std::string version;  // "X.Y.Z", as `blender --version` names it
  std::string device;   // as device_from_probe returns it
};

// A spare Blender's "spare" report, read as the probe's answer: nullopt when it is not one
// this agent can take (no supported version in it; the probe then says why), the same
// one-line error as device_from_probe when the device is not there.
[[nodiscard]] std::optional<BlenderIdentity> identity_from_spare(const std::string& device, const WorkerLine& report);

// Runs `blender -b --factory-startup` with the worker script in its --probe-device mode.
[[nodiscard]] std::string probe_device(const std::string& blender, const std::string& device,
                                       const std::filesystem::path& worker_script);

}  // namespace bnr::agent
