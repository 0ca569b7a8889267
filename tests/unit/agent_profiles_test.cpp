#include "agent_profiles.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace bnr::broker {
namespace {

TEST(AgentProfiles, TextRoundTripsAndJunkLinesAreSkipped) {
  const SpeedProfiles p = {{"host-a/agent", 1.5}, {"host b/local", 0.25}};
  EXPECT_EQ(parse_profiles(format_profiles(p)), p);
  const SpeedProfiles junk = parse_profiles("no tab\n\t3\nx\tnan\ny\t-1\nz\t2.5\n");
  EXPECT_EQ(junk, (SpeedProfiles{{"z", 2.5}}));
}

TEST(AgentProfiles, NewSpeedsAreRescaledToTheOldScale) {
  const SpeedProfiles old_profiles = {{"a", 2.0}, {"b", 2.0}, {"gone", 7.0}};
  // This job saw a and b at 1:3 in its own units.
  const SpeedProfiles merged = merge_profiles(old_profiles, {{"a", 0.5}, {"b", 1.5}, {"new", 1.0}});
  EXPECT_DOUBLE_EQ(merged.at("a"), 1.0);
  EXPECT_DOUBLE_EQ(merged.at("b"), 3.0);
  EXPECT_DOUBLE_EQ(merged.at("new"), 2.0);
  EXPECT_DOUBLE_EQ(merged.at("gone"), 7.0);
}

TEST(AgentProfiles, SaveThenLoadFromTheConfigDirectory) {
  const std::string dir = ::testing::TempDir() + "bnr-profiles-test";
  std::filesystem::remove_all(dir);
  setenv("BNR_CONFIG_DIR", dir.c_str(), 1);
  const auto path = profiles_path();
  EXPECT_EQ(path, std::filesystem::path(dir) / "agent-speeds.tsv");
  EXPECT_TRUE(load_profiles(path).empty()) << "no file yet is an empty profile";
  ASSERT_TRUE(save_profiles(path, {{"a", 1.25}}));
  EXPECT_EQ(load_profiles(path), (SpeedProfiles{{"a", 1.25}}));
  unsetenv("BNR_CONFIG_DIR");
  std::filesystem::remove_all(dir);
}

TEST(AgentProfiles, ForgettingRemovesTheFileAndSaysWhatItHeld) {
  const std::filesystem::path dir = ::testing::TempDir() + "bnr-forget-test";
  std::filesystem::remove_all(dir);
  const auto path = dir / "agent-speeds.tsv";
  ASSERT_TRUE(save_profiles(path, {{"host-a/agent", 1.5}, {"host-b/agent", 0.25}}));
  const SpeedProfiles forgotten = forget_profiles(path);
  EXPECT_EQ(forgotten, (SpeedProfiles{{"host-a/agent", 1.5}, {"host-b/agent", 0.25}}));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(forgotten_text(forgotten, path),
            "forgot the learned speeds of 2 agents in " + path.string() + ": host-a/agent 1.5, host-b/agent 0.25");
  EXPECT_TRUE(forget_profiles(path).empty()) << "forgetting twice is not an error";
  EXPECT_EQ(forgotten_text({}, path), "no learned speeds to forget in " + path.string());
  std::filesystem::remove_all(dir);
}

TEST(AgentProfiles, ForgettingAFileThatCannotBeRemovedThrows) {
  const std::filesystem::path dir = ::testing::TempDir() + "bnr-forget-dir-test";
  std::filesystem::remove_all(dir);
  // A non-empty directory where the file should be: remove() fails, as on a read-only config.
  std::filesystem::create_directories(dir / "agent-speeds.tsv" / "x");
  EXPECT_THROW((void)forget_profiles(dir / "agent-speeds.tsv"), std::runtime_error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bnr::broker
