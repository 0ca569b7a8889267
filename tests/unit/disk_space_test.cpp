#include "disk_space.h"

#include <gtest/gtest.h>

namespace bnr::agent {
namespace {

TEST(DiskSpace, FilesThatFitNeedNoReason) {
  EXPECT_FALSE(disk_full_reason(100, 100, "/cache"));
  EXPECT_FALSE(disk_full_reason(0, 0, "/cache"));
}

TEST(DiskSpace, AShortDiskIsOneLineWithWhatIsNeededWhatIsFreeAndWhere) {
  const std::optional<std::string> why = disk_full_reason(std::uint64_t{3} << 20, std::uint64_t{1} << 20, "/var/cache/bnr");
  ASSERT_TRUE(why);
  EXPECT_EQ(why->rfind("disk full: need 3.0 MiB", 0), 0U) << *why;
  EXPECT_NE(why->find("1.0 MiB free on /var/cache/bnr"), std::string::npos) << *why;
  EXPECT_EQ(why->find('\n'), std::string::npos);
}

TEST(DiskSpace, TheDiskHoldingADirectoryHasAFreeSize) {
  EXPECT_TRUE(free_disk_bytes("/"));
  EXPECT_FALSE(free_disk_bytes("/nonexistent/bnr"));
}

}  // namespace
}  // namespace bnr::agent
