// bnr-agent --device: the device Blender reports reaches brokers through the advert and
// JobReady; a device this machine lacks stops the agent at start with one line. (This machine
// has no GPU: the GPU path itself is not rendered here.)
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <sstream>

#include "avahi_harness.h"
#include "harness.h"
#include "mdns_browse.h"

namespace bnr::testing {
namespace {

TEST(Device, ACpuAgentAdvertisesTheCpuItsBlenderReports) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  const std::string name = "bnr-device-test-" + std::to_string(getpid());
  Agent agent(1, {"--device", "cpu", "--name", name}, /*advertise=*/true);
  std::optional<broker::DiscoveredAgent> found;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!found && std::chrono::steady_clock::now() < deadline)
    for (const auto& a : broker::browse_agents(std::chrono::milliseconds(500)))
      if (a.txt.info.name == name) found = a;
  ASSERT_TRUE(found) << avahi->avahi_log();
  EXPECT_EQ(found->txt.info.device, "CPU");
}

TEST(Device, JobReadyCarriesTheDeviceIntoTheBrokersSummary) {
  TempDir dir;
  const auto scene = make_scene(dir / "scene.blend", {"--size", "32x16", "--samples", "2"});
  Agent agent(1, {"--device", "CPU"});
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                         (dir / "out.png").string(), "--json", (dir / "s.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const tools::RunResult py = tools::run_command(
      {"python3", "-c", "import json, sys; print(json.load(open(sys.argv[1]))['jobs'][0]['agents'][0]['device'])",
       (dir / "s.json").string()},
      std::chrono::seconds(30));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  EXPECT_EQ(py.output, "CPU\n");
}

// The agent asks Blender before it listens: the error is one line and it never serves.
void expect_missing_device_error(const std::string& device) {
  const tools::RunResult r = run_agent({"--device", device, "--port", "0", "--no-mdns", "--bind", "127.0.0.1", "-q"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("bnr-agent: --device " + device + ": this machine's Blender finds no " + device + " device"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("port "), std::string::npos) << "it must not listen: " << r.output;
}

TEST(Device, CudaThatThisMachineLacksIsAnErrorAtStart) { expect_missing_device_error("CUDA"); }

TEST(Device, OptixThatThisMachineLacksIsAnErrorAtStart) { expect_missing_device_error("OPTIX"); }

TEST(Device, AnUnknownDeviceNameIsRefusedBeforeBlenderRuns) {
  const tools::RunResult r = run_agent({"--device", "GPU"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--device: 'GPU' is not one of CPU, CUDA, OPTIX, HIP, ONEAPI, METAL"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace bnr::testing
