#include "device_probe.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <sstream>
#include <stdexcept>

#include "blender_version.h"
#include "child_process.h"

namespace bnr::agent {
namespace {

constexpr std::array<const char*, 6> kDevices = {"CPU", "CUDA", "OPTIX", "HIP", "ONEAPI", "METAL"};

}  // namespace

std::string parse_device(const std::string& flag_value) {
  std::string upper = flag_value;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  for (const char* d : kDevices)
    if (upper == d) return upper;
  throw std::runtime_error("--device: '" + flag_value + "' is not one of CPU, CUDA, OPTIX, HIP, ONEAPI, METAL");
}

std::string device_from_probe(const std::string& device, const std::string& output, int exit_code) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("bnr-device\t", 0) == 0) return line.substr(line.find('\t') + 1);
    if (line.rfind("bnr-device-error\t", 0) == 0)
      throw std::runtime_error("--device " + device + ": " + line.substr(line.find('\t') + 1));
  }
  throw std::runtime_error("--device " + device + ": Blender did not say which device it renders on (exit code " +
                           std::to_string(exit_code) + "): " + tools::blender_reason_in(output));
}

std::optional<BlenderIdentity> identity_from_spare(const std::string& device, const WorkerLine& report) {
  const auto version = tools::parse_blender_version("Blender " + report.get("blender"));
  if (report.kind != "spare" || !version || !tools::is_supported(*version)) return std::nullopt;
  if (const std::string why = report.get("device_error"); !why.empty())
    throw std::runtime_error("--device " + device + ": " + why);
  const std::string reported = report.get("device");
  if (reported.empty()) return std::nullopt;
  return BlenderIdentity{version->str(), reported};
}

std::string probe_device(const std::string& blender, const std::string& device,
                         const std::filesystem::path& worker_script) {
  const tools::RunResult r = tools::run_command(
      {blender, "-b", "--factory-startup", "--disable-autoexec", "--python-exit-code", "2", "--python",
       worker_script.string(), "--", "--probe-device", "--cycles-device", device},
      std::chrono::seconds(120));
  if (r.timed_out) throw std::runtime_error("--device " + device + ": Blender did not answer in 120 s");
  return device_from_probe(device, r.output, r.exit_code);
}

}  // namespace bnr::agent
