#include "device_kind.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(DeviceKind, CpuAndAgentsFromBeforeDevicesAreCpuEverythingElseIsGpu) {
  EXPECT_EQ(device_kind("CPU"), DeviceKind::kCpu);
  EXPECT_EQ(device_kind(""), DeviceKind::kCpu) << "agents before devices render on the CPU";
  EXPECT_EQ(device_kind("OPTIX: NVIDIA RTX A4000"), DeviceKind::kGpu);
  EXPECT_EQ(device_kind("HIP: AMD Radeon RX 7900"), DeviceKind::kGpu);
  EXPECT_STREQ(device_kind_name(DeviceKind::kGpu), "GPU");
}

}  // namespace
}  // namespace bnr::broker
