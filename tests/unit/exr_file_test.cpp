#include "exr_file.h"

#include <Imath/half.h>
#include <ImfChannelList.h>
#include <ImfFrameBuffer.h>
#include <ImfHeader.h>
#include <ImfOutputFile.h>
#include <ImfTiledOutputFile.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace bnr::tools {
namespace {

namespace fs = std::filesystem;

class ExrFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("bnr_exr_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  [[nodiscard]] std::vector<fs::path> files_in_dir() const {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir_)) files.push_back(entry.path());
    return files;
  }

  fs::path dir_;
};

// Scene-linear values as a renderer makes them: negatives, HDR highlights, tiny values.
ImageF hdr_image(int width, int height, std::uint32_t seed) {
  ImageF image(width, height);
  for (auto& v : image.rgba) {
    seed = seed * 1664525U + 1013904223U;
    v = (static_cast<float>(seed >> 8) / 16777216.0F - 0.1F) * 40.0F;
  }
  image.rgba[0] = 1e-30F;
  image.rgba[1] = 65504.0F * 4.0F;  // beyond half range
  return image;
}

// Writes channels with the given names as HALF, values from `image` in order.
void write_half_exr(const fs::path& path, const ImageF& image,
                    const std::vector<const char*>& names) {
  std::vector<Imath::half> halves(image.rgba.size());
  for (std::size_t i = 0; i < halves.size(); ++i) halves[i] = Imath::half(image.rgba[i]);
  Imf::Header header(image.width, image.height);
  for (const char* name : names) header.channels().insert(name, Imf::Channel(Imf::HALF));
  Imf::OutputFile file(path.c_str(), header);
  Imf::FrameBuffer frame;
  for (std::size_t c = 0; c < names.size(); ++c) {
    frame.insert(names[c],
                 Imf::Slice(Imf::HALF, reinterpret_cast<char*>(halves.data() + c),
                            4 * sizeof(Imath::half), 4 * sizeof(Imath::half) * image.width));
  }
  file.setFrameBuffer(frame);
  file.writePixels(image.height);
}

// Makes writes beyond `bytes` fail with EFBIG, as on a full disk, instead of raising SIGXFSZ.
// Keep assertions outside its scope: gtest's own output could be a file too.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old_limit_);
    rlimit limit = old_limit_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_limit_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_limit_{};
  void (*old_handler_)(int) = nullptr;
};

TEST_F(ExrFile, FloatRoundTripIsExact) {
  const ImageF image = hdr_image(64, 48, 1);
  write_exr(dir_ / "a.exr", image);
  const ImageF back = read_exr(dir_ / "a.exr");
  EXPECT_EQ(back.width, 64);
  EXPECT_EQ(back.height, 48);
  EXPECT_EQ(back.rgba, image.rgba);
}

TEST_F(ExrFile, OddSizesRoundTrip) {
  for (const auto& [w, h] : {std::pair{1, 1}, std::pair{7, 3}, std::pair{3, 17}}) {
    const ImageF image = hdr_image(w, h, static_cast<std::uint32_t>(w * 31 + h));
    const auto path = dir_ / ("odd_" + std::to_string(w) + "x" + std::to_string(h) + ".exr");
    write_exr(path, image);
    const ImageF back = read_exr(path);
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.height, h);
    EXPECT_EQ(back.rgba, image.rgba) << w << "x" << h;
  }
}

TEST_F(ExrFile, HalfChannelsReadAsFloat) {
  ImageF image(5, 3);
  for (std::size_t i = 0; i < image.rgba.size(); ++i) {
    image.rgba[i] = static_cast<float>(i) * 0.25F - 2.0F;  // exact in half
  }
  write_half_exr(dir_ / "half.exr", image, {"R", "G", "B", "A"});
  const ImageF back = read_exr(dir_ / "half.exr");
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.rgba, image.rgba);
}

TEST_F(ExrFile, MissingAlphaReadsAsOne) {
  ImageF image(2, 2);
  for (std::size_t i = 0; i < image.rgba.size(); ++i) image.rgba[i] = static_cast<float>(i);
  write_half_exr(dir_ / "rgb.exr", image, {"R", "G", "B"});
  const ImageF back = read_exr(dir_ / "rgb.exr");
  for (int p = 0; p < 4; ++p) {
    EXPECT_EQ(back.rgba[p * 4 + 0], image.rgba[p * 4 + 0]);
    EXPECT_EQ(back.rgba[p * 4 + 2], image.rgba[p * 4 + 2]);
    EXPECT_EQ(back.rgba[p * 4 + 3], 1.0F);
  }
}

TEST_F(ExrFile, ChannelsWithoutRgbThrowListingTheChannels) {
  ImageF image(2, 2);
  // What a Blender multilayer file looks like.
  write_half_exr(dir_ / "layers.exr", image, {"ViewLayer.Combined.R", "ViewLayer.Combined.G"});
  try {
    (void)read_exr(dir_ / "layers.exr");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("layers.exr"), std::string::npos) << message;
    EXPECT_NE(message.find("ViewLayer.Combined.R"), std::string::npos) << message;
  }
}

TEST_F(ExrFile, TiledFileReads) {
  const ImageF image = hdr_image(37, 21, 9);
  {
    Imf::Header header(image.width, image.height);
    for (const char* name : {"R", "G", "B", "A"})
      header.channels().insert(name, Imf::Channel(Imf::FLOAT));
    header.setTileDescription(Imf::TileDescription(16, 16));
    Imf::TiledOutputFile file((dir_ / "tiled.exr").c_str(), header);
    Imf::FrameBuffer frame;
    auto* base = const_cast<float*>(image.rgba.data());
    for (int c = 0; c < 4; ++c) {
      frame.insert(std::string(1, "RGBA"[c]),
                   Imf::Slice(Imf::FLOAT, reinterpret_cast<char*>(base + c), 4 * sizeof(float),
                              4 * sizeof(float) * image.width));
    }
    file.setFrameBuffer(frame);
    file.writeTiles(0, file.numXTiles() - 1, 0, file.numYTiles() - 1);
  }
  EXPECT_EQ(read_exr(dir_ / "tiled.exr").rgba, image.rgba);
}

TEST_F(ExrFile, DataWindowAwayFromOriginReadsAsTheImage) {
  // 3x2 pixels with the data window at (10, 20).
  const Imath::Box2i window({10, 20}, {12, 21});
  std::vector<float> values(3 * 2 * 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  {
    Imf::Header header(window, window);
    for (const char* name : {"R", "G", "B", "A"})
      header.channels().insert(name, Imf::Channel(Imf::FLOAT));
    Imf::OutputFile file((dir_ / "window.exr").c_str(), header);
    Imf::FrameBuffer frame;
    for (int c = 0; c < 4; ++c) {
      frame.insert(std::string(1, "RGBA"[c]),
                   Imf::Slice::Make(Imf::FLOAT, values.data() + c, window, 4 * sizeof(float),
                                    4 * sizeof(float) * 3));
    }
    file.setFrameBuffer(frame);
    file.writePixels(2);
  }
  const ImageF back = read_exr(dir_ / "window.exr");
  EXPECT_EQ(back.width, 3);
  EXPECT_EQ(back.height, 2);
  EXPECT_EQ(back.rgba, values);
}

TEST_F(ExrFile, TruncatedFileThrowsRuntimeError) {
  write_exr(dir_ / "a.exr", hdr_image(40, 30, 3));
  std::vector<char> bytes;
  {
    std::ifstream in(dir_ / "a.exr", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 1000U);
  for (std::size_t keep :
       {std::size_t{0}, std::size_t{4}, std::size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    {
      std::ofstream out(dir_ / "cut.exr", std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(keep));
    }
    try {
      (void)read_exr(dir_ / "cut.exr");
      ADD_FAILURE() << "no exception when keeping " << keep << " bytes";
    } catch (const std::runtime_error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("cut.exr"), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  }
}

TEST_F(ExrFile, MissingFileThrowsNamingTheFile) {
  try {
    (void)read_exr(dir_ / "nothing.exr");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nothing.exr"), std::string::npos) << e.what();
  }
}

TEST_F(ExrFile, WriteToMissingDirectoryThrowsAndLeavesNoTempFile) {
  EXPECT_THROW(write_exr(dir_ / "missing" / "a.exr", hdr_image(4, 4, 1)), std::runtime_error);
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(ExrFile, FailedWriteThrowsAndLeavesNoTempFile) {
  std::string message;
  {
    const FileSizeLimit limit(64 * 1024);
    try {
      write_exr(dir_ / "a.exr", hdr_image(200, 200, 7));
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
  }
  EXPECT_NE(message.find("a.exr"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(ExrFile, FailedRenameRemovesTheTempFile) {
  fs::create_directories(dir_ / "a.exr" / "inside");
  EXPECT_THROW(write_exr(dir_ / "a.exr", hdr_image(4, 4, 1)), std::runtime_error);
  const auto files = files_in_dir();
  ASSERT_EQ(files.size(), 1U);
  EXPECT_EQ(files[0].filename(), "a.exr");
}

TEST_F(ExrFile, WriteReplacesAnExistingFile) {
  write_exr(dir_ / "a.exr", hdr_image(5, 5, 1));
  const ImageF second = hdr_image(2, 3, 2);
  write_exr(dir_ / "a.exr", second);
  EXPECT_EQ(read_exr(dir_ / "a.exr").rgba, second.rgba);
  EXPECT_EQ(files_in_dir().size(), 1U);
}

TEST_F(ExrFile, InvalidImageThrows) {
  ImageF wrong(2, 2);
  wrong.rgba.pop_back();
  EXPECT_THROW(write_exr(dir_ / "a.exr", wrong), std::runtime_error);
  EXPECT_THROW(write_exr(dir_ / "a.exr", ImageF()), std::runtime_error);
  EXPECT_TRUE(files_in_dir().empty());
}

}  // namespace
}  // namespace bnr::tools
