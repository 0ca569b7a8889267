#include "output_paths.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

TEST(OutputPaths, TheDefaultIsTheScenesNameAsPngHere) {
  EXPECT_EQ(default_png("shots/a.blend"), "a.png");
  EXPECT_EQ(default_png("/abs/b.c.blend"), "b.c.png");
}

TEST(OutputPaths, DistinctOutputsAreFine) {
  EXPECT_EQ(output_clash({{"a.blend", "a.png", "a.exr"}, {"b.blend", "b.png", ""}}, "/w"), "");
}

TEST(OutputPaths, TwoScenesOfTheSameNameWouldOverwriteEachOther) {
  const std::string why = output_clash({{"x/shot.blend", "shot.png", ""}, {"y/shot.blend", "./shot.png", ""}}, "/w");
  EXPECT_EQ(why, "scenes x/shot.blend and y/shot.blend would both write ./shot.png; render them in separate "
                 "directories or one at a time with -o");
}

TEST(OutputPaths, AnOutputMayNotBeAnInputOrTheOtherOutput) {
  EXPECT_NE(output_clash({{"/w/a.blend", "a.blend", ""}}, "/w").find("would overwrite the scene"), std::string::npos);
  EXPECT_NE(output_clash({{"a.blend", "out", "/w/out"}}, "/w").find("PNG and EXR outputs are the same file"),
            std::string::npos);
}

}  // namespace
}  // namespace bnr::broker
