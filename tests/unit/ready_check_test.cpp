#include "ready_check.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

protocol::SceneInfo stereo(std::vector<std::string> suffixes) {
  protocol::SceneInfo s;
  s.width = 64;
  s.height = 8;
  s.views = {"left", "right"};
  s.view_suffixes = std::move(suffixes);
  s.stereo = "INDIVIDUAL";
  return s;
}

TEST(ReadyCheck, ViewSuffixesArePlainNames) {
  for (const char* ok : {"", "_L", "-right", "v.2", "_cam_01"}) EXPECT_TRUE(safe_view_suffix(ok)) << ok;
  for (const char* bad : {"/../x", "..", "a/b", "_L\n", "x y", "\\evil", "$HOME"}) EXPECT_FALSE(safe_view_suffix(bad)) << bad;
  EXPECT_FALSE(safe_view_suffix(std::string(65, 'a')));
}

TEST(ReadyCheck, IndividualViewsNeedDistinctSuffixes) {
  EXPECT_EQ(ready_problem(stereo({"_L", "_R"}), std::nullopt, false, 1 << 30), "");
  EXPECT_NE(ready_problem(stereo({"_L", "_L"}), std::nullopt, false, 1 << 30).find("same file suffix"), std::string::npos);
}

TEST(ReadyCheck, AnotherFrameThanTheBrokersIsNamed) {
  const FrameFacts mine{64, 8, {"left", "right"}, {"_L", "_R"}};
  EXPECT_EQ(ready_problem(stereo({"_L", "_R"}), mine, false, 1 << 30), "");
  const std::string why = ready_problem(stereo({"_left", "_R"}), mine, false, 1 << 30);
  EXPECT_NE(why.find("another frame (64x8, views left(_left) right(_R)) than this broker (64x8, views left(_L) right(_R))"),
            std::string::npos)
      << why;
}

TEST(ReadyCheck, FrameBytesCountViewsAndTheFloatImage) {
  protocol::SceneInfo s = stereo({"_L", "_R"});
  EXPECT_EQ(frame_bytes(s, false), 64U * 8 * 2 * 8);
  EXPECT_EQ(frame_bytes(s, true), 64U * 8 * 2 * 24);
  EXPECT_NE(ready_problem(s, std::nullopt, true, 1000).find("MiB to merge"), std::string::npos);
}

}  // namespace
}  // namespace bnr::broker
