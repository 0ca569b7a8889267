#include "region_spool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace bnr::broker {
namespace {

// An owning copy of a SpooledRegion: the payload view dies with the visit call.
struct Region {
  protocol::Rect core{};
  protocol::Rect rendered{};
  std::uint32_t views = 1;
  bool has_exr = false;
  std::string payload{};
  bool operator==(const Region&) const = default;
};

// Bytes that differ between regions and positions, so a swapped or shifted payload shows.
std::string payload_for(const protocol::Rect& rendered, std::uint32_t views, bool has_exr, int seed) {
  std::string out(protocol::region_payload_bytes(rendered, views, has_exr), '\0');
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>((i * 31 + static_cast<std::size_t>(seed) * 101) & 0xFF);
  return out;
}

Region region(const protocol::Rect& core, const protocol::Rect& rendered, std::uint32_t views, bool has_exr,
              int seed) {
  return {core, rendered, views, has_exr, payload_for(rendered, views, has_exr, seed)};
}

void append(RegionSpool& spool, const Region& r) { spool.append(r.core, r.rendered, r.views, r.has_exr, r.payload); }

std::vector<Region> replay_all(RegionSpool& spool) {
  std::vector<Region> out;
  const std::size_t count = spool.replay([&](const SpooledRegion& s) {
    out.push_back({s.core, s.rendered, s.views, s.has_exr, std::string(s.payload)});
  });
  EXPECT_EQ(count, out.size());
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class RegionSpoolJournal : public ::testing::Test {
 protected:
  tools::TempDir temp_{"bnr-spool-test"};
  std::filesystem::path dir_ = spool_dir_for(temp_ / "frame.png");
  std::filesystem::path journal_ = dir_ / kSpoolJournalFile;
  const std::string key_ = "scene=abc123 png16 1920x1080";

  // Three small regions: columns of a 12x4 frame, with margins, one view or two, with and
  // without float pixels.
  const Region a_ = region({0, 0, 4, 4}, {0, 0, 5, 4}, 1, false, 1);
  const Region b_ = region({4, 0, 8, 4}, {3, 0, 9, 4}, 2, true, 2);
  const Region c_ = region({8, 0, 12, 4}, {7, 0, 12, 4}, 1, true, 3);
};

TEST_F(RegionSpoolJournal, AppendedRegionsReplayByteIdenticalAndInOrderAfterReopening) {
  {
    RegionSpool spool = RegionSpool::open(dir_, key_);
    EXPECT_TRUE(replay_all(spool).empty());
    append(spool, a_);
    append(spool, b_);
    append(spool, c_);
  }
  RegionSpool reopened = RegionSpool::open(dir_, key_);
  EXPECT_EQ(reopened.dir(), dir_);
  EXPECT_EQ(replay_all(reopened), (std::vector<Region>{a_, b_, c_}));
  // Replay leaves the journal as it was: a second pass sees the same records.
  EXPECT_EQ(replay_all(reopened), (std::vector<Region>{a_, b_, c_}));
}

TEST_F(RegionSpoolJournal, ADifferentKeyStartsEmptyAndDiscardsTheOldJournal) {
  {
    RegionSpool spool = RegionSpool::open(dir_, key_);
    append(spool, a_);
  }
  {
    RegionSpool other = RegionSpool::open(dir_, key_ + " exr");
    EXPECT_TRUE(replay_all(other).empty());
  }
  RegionSpool again = RegionSpool::open(dir_, key_);
  EXPECT_TRUE(replay_all(again).empty());
}

TEST_F(RegionSpoolJournal, AnUnreadableHeaderStartsAnEmptyJournal) {
  std::filesystem::create_directories(dir_);
  write_file(journal_, "BNRSPOOL\x01");
  {
    RegionSpool spool = RegionSpool::open(dir_, key_);
    EXPECT_TRUE(replay_all(spool).empty());
    append(spool, a_);
  }
  RegionSpool reopened = RegionSpool::open(dir_, key_);
  EXPECT_EQ(replay_all(reopened), (std::vector<Region>{a_}));
}

TEST_F(RegionSpoolJournal, ARecordTornAtAnyByteIsDroppedAndLaterAppendsFollowTheLastGoodOne) {
  // A small last record keeps the number of cuts (each costing an fdatasync) low while still
  // covering every field: header, both rects, views, the exr flag, display and float pixels.
  const Region last = region({5, 1, 6, 2}, {4, 1, 6, 2}, 1, true, 4);
  std::uintmax_t first_end = 0;
  {
    RegionSpool spool = RegionSpool::open(dir_, key_);
    append(spool, a_);
    first_end = std::filesystem::file_size(journal_);
    append(spool, last);
  }
  const std::string full = read_file(journal_);
  ASSERT_GT(full.size(), first_end);

  for (std::size_t cut = first_end; cut < full.size(); ++cut) {
    SCOPED_TRACE("journal cut at byte " + std::to_string(cut) + " of " + std::to_string(full.size()));
    write_file(journal_, full.substr(0, cut));
    {
      RegionSpool spool = RegionSpool::open(dir_, key_);
      ASSERT_EQ(replay_all(spool), (std::vector<Region>{a_}));
      ASSERT_EQ(std::filesystem::file_size(journal_), first_end);
      append(spool, c_);
    }
    RegionSpool reopened = RegionSpool::open(dir_, key_);
    ASSERT_EQ(replay_all(reopened), (std::vector<Region>{a_, c_}));
  }
}

TEST_F(RegionSpoolJournal, AppendingWithoutReplayStillCutsATornTailFirst) {
  std::uintmax_t first_end = 0;
  {
    RegionSpool spool = RegionSpool::open(dir_, key_);
    append(spool, a_);
    first_end = std::filesystem::file_size(journal_);
    append(spool, b_);
  }
  std::filesystem::resize_file(journal_, first_end + 7);
  {
    RegionSpool spool = RegionSpool::open(dir_, key_);
    append(spool, c_);
  }
  RegionSpool reopened = RegionSpool::open(dir_, key_);
  EXPECT_EQ(replay_all(reopened), (std::vector<Region>{a_, c_}));
}

TEST_F(RegionSpoolJournal, AFlippedPayloadByteDropsThatRecordAndAllAfterIt) {
  std::uintmax_t first_end = 0;
  std::uintmax_t second_end = 0;
  {
    RegionSpool spool = RegionSpool::open(dir_, key_);
    append(spool, a_);
    first_end = std::filesystem::file_size(journal_);
    append(spool, b_);
    second_end = std::filesystem::file_size(journal_);
    append(spool, c_);
  }
  std::string bytes = read_file(journal_);
  bytes[second_end - 10] = static_cast<char>(bytes[second_end - 10] ^ 0x01);  // inside b_'s payload
  write_file(journal_, bytes);

  RegionSpool spool = RegionSpool::open(dir_, key_);
  EXPECT_EQ(replay_all(spool), (std::vector<Region>{a_}));
  EXPECT_EQ(std::filesystem::file_size(journal_), first_end);
}

TEST_F(RegionSpoolJournal, ADeclaredLengthLargerThanTheFileEndsTheReplayWithoutAllocatingIt) {
  std::uintmax_t first_end = 0;
  {
    RegionSpool spool = RegionSpool::open(dir_, key_);
    append(spool, a_);
    first_end = std::filesystem::file_size(journal_);
    append(spool, b_);
  }
  // The record's body length is the uint64 after its 4-byte magic: claim ~2^62 bytes.
  std::string bytes = read_file(journal_);
  for (std::size_t i = 0; i < 8; ++i) bytes[first_end + 4 + i] = static_cast<char>(i == 7 ? 0x40 : 0x00);
  write_file(journal_, bytes);

  RegionSpool spool = RegionSpool::open(dir_, key_);
  EXPECT_EQ(replay_all(spool), (std::vector<Region>{a_}));
  EXPECT_EQ(std::filesystem::file_size(journal_), first_end);
}

TEST_F(RegionSpoolJournal, APayloadOfTheWrongLengthIsRefusedAndNothingIsWritten) {
  RegionSpool spool = RegionSpool::open(dir_, key_);
  const std::uintmax_t empty_size = std::filesystem::file_size(journal_);
  EXPECT_THROW(spool.append(a_.core, a_.rendered, 1, false, a_.payload.substr(1)), std::invalid_argument);
  EXPECT_THROW(spool.append(a_.core, a_.rendered, 1, false, a_.payload + "x"), std::invalid_argument);
  EXPECT_THROW(spool.append(a_.core, a_.rendered, 1, true, a_.payload), std::invalid_argument);  // exr implied
  EXPECT_THROW(spool.append(a_.core, a_.rendered, 2, false, a_.payload), std::invalid_argument);  // 2 views implied
  EXPECT_EQ(std::filesystem::file_size(journal_), empty_size);
  EXPECT_TRUE(replay_all(spool).empty());
}

TEST_F(RegionSpoolJournal, ACoreOutsideItsRenderedRectangleOrZeroViewsIsRefused) {
  RegionSpool spool = RegionSpool::open(dir_, key_);
  const protocol::Rect rendered{2, 0, 6, 4};
  EXPECT_THROW(spool.append({1, 0, 4, 4}, rendered, 1, false, payload_for(rendered, 1, false, 0)),
               std::invalid_argument);
  EXPECT_THROW(spool.append({3, 0, 3, 4}, rendered, 1, false, payload_for(rendered, 1, false, 0)),
               std::invalid_argument);
  EXPECT_THROW(spool.append({2, 0, 6, 4}, rendered, 0, false, ""), std::invalid_argument);
  EXPECT_TRUE(replay_all(spool).empty());
}

TEST_F(RegionSpoolJournal, ASecondSpoolOnTheSameDirectoryIsRefusedWhileTheFirstIsOpen) {
  RegionSpool first = RegionSpool::open(dir_, key_);
  EXPECT_THROW((void)RegionSpool::open(dir_, key_), std::runtime_error);
}

TEST_F(RegionSpoolJournal, RemoveDeletesTheDirectoryAndEndsTheSpool) {
  RegionSpool spool = RegionSpool::open(dir_, key_);
  append(spool, a_);
  ASSERT_TRUE(std::filesystem::exists(journal_));
  spool.remove();
  EXPECT_FALSE(std::filesystem::exists(dir_));
  EXPECT_THROW(append(spool, b_), std::logic_error);
  EXPECT_NO_THROW(spool.remove());
}

TEST_F(RegionSpoolJournal, DiscardDeletesAClosedSpoolButNotOneABrokerHasOpen) {
  {
    RegionSpool open = RegionSpool::open(dir_, key_);
    append(open, a_);
    discard_spool(dir_);
    EXPECT_TRUE(std::filesystem::exists(journal_)) << "another broker's spool is not ours to delete";
    EXPECT_EQ(replay_all(open).size(), 1U);
  }
  discard_spool(dir_);
  EXPECT_FALSE(std::filesystem::exists(dir_));
  EXPECT_NO_THROW(discard_spool(dir_));  // nothing there
}

TEST(SpoolDirFor, TheSpoolSitsBesideTheOutputUnderAVisibleName) {
  EXPECT_EQ(spool_dir_for("/renders/shot.png"), std::filesystem::path("/renders/shot.png.bnr-spool"));
  EXPECT_EQ(spool_dir_for("shot.exr"), std::filesystem::path("shot.exr.bnr-spool"));
  EXPECT_THROW((void)spool_dir_for("/renders/"), std::invalid_argument);
}

}  // namespace
}  // namespace bnr::broker
