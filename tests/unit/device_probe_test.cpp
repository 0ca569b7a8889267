#include "device_probe.h"

#include <gtest/gtest.h>

namespace bnr::agent {
namespace {

TEST(DeviceProbe, DeviceNamesAreCheckedAndUpperCased) {
  EXPECT_EQ(parse_device("optix"), "OPTIX");
  EXPECT_EQ(parse_device("CPU"), "CPU");
  EXPECT_THROW((void)parse_device("GPU"), std::runtime_error);
  EXPECT_THROW((void)parse_device(""), std::runtime_error);
}

TEST(DeviceProbe, ReportedDeviceIsWhatBlenderPrinted) {
  EXPECT_EQ(device_from_probe("OPTIX", "Blender 3.4.1\nRead prefs\nbnr-device\tOPTIX: NVIDIA RTX A4000\n\nBlender quit\n", 0),
            "OPTIX: NVIDIA RTX A4000");
}

TEST(DeviceProbe, AMissingDeviceIsOneLineNamingIt) {
  try {
    (void)device_from_probe("CUDA", "Blender 3.4.1\nbnr-device-error\tno CUDA device found\n", 0);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "--device CUDA: no CUDA device found");
  }
}

TEST(DeviceProbe, ABlenderThatSaidNothingIsAnErrorWithBlendersReason) {
  try {
    (void)device_from_probe("CPU", "Blender 3.4.1\nError: Python script failed\n", 2);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Error: Python script failed"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("exit code 2"), std::string::npos) << e.what();
  }
}

WorkerLine spare_line(std::map<std::string, std::string> fields) { return {"spare", std::move(fields)}; }

TEST(DeviceProbe, ASparesReportIsTheProbesAnswer) {
  const auto id = identity_from_spare("CPU", spare_line({{"blender", "4.2.3"}, {"device", "CPU"}}));
  ASSERT_TRUE(id);
  EXPECT_EQ(id->version, "4.2.3");
  EXPECT_EQ(id->device, "CPU");
  EXPECT_EQ(identity_from_spare("CPU", spare_line({{"blender", "3.4"}, {"device", "CPU"}}))->version, "3.4.0");
}

TEST(DeviceProbe, ASparesMissingDeviceIsTheProbesOneLineError) {
  try {
    (void)identity_from_spare("CUDA", spare_line({{"blender", "3.4.1"}, {"device_error", "no CUDA device found"}}));
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "--device CUDA: no CUDA device found");
  }
}

// The slow way (--version, the probe) then says what is wrong, in the words it always used.
TEST(DeviceProbe, AReportWithoutASupportedVersionOrADeviceIsNotTaken) {
  EXPECT_FALSE(identity_from_spare("CPU", spare_line({{"blender", "2.93.1"}, {"device", "CPU"}})));
  EXPECT_FALSE(identity_from_spare("CPU", spare_line({{"blender", "x"}, {"device", "CPU"}})));
  EXPECT_FALSE(identity_from_spare("CPU", spare_line({{"device", "CPU"}})));
  EXPECT_FALSE(identity_from_spare("CPU", spare_line({{"blender", "3.4.1"}})));
  EXPECT_FALSE(identity_from_spare("CPU", WorkerLine{"ready", {{"blender", "3.4.1"}, {"device", "CPU"}}}));
}

}  // namespace
}  // namespace bnr::agent
