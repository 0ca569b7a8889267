#include "png_file.h"

#include <gtest/gtest.h>
#include <png.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csetjmp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bnr::tools {
namespace {

namespace fs = std::filesystem;

class PngFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("bnr_png_test_" + std::to_string(::getpid()) + "_" +
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

// Deterministic values that cover the whole 16-bit range.
Image16 noise_image(int width, int height, std::uint32_t seed) {
  Image16 image(width, height);
  for (auto& v : image.rgba) {
    seed = seed * 1664525U + 1013904223U;
    v = static_cast<std::uint16_t>(seed >> 16);
  }
  return image;
}

// Writes a PNG with plain libpng, for layouts write_png never produces. Holds no C++ objects
// so the setjmp is safe. `rows` are in PNG byte order (big-endian 16-bit).
bool write_raw_png(const char* path, int width, int height, int color_type, int bit_depth,
                   int interlace, png_bytepp rows) {
  std::FILE* file = std::fopen(path, "wb");
  if (file == nullptr) return false;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height),
               bit_depth, color_type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return std::fclose(file) == 0;
}

// `samples` holds channels * width * height values at `bit_depth`.
void write_raw(const fs::path& path, int width, int height, int channels, int color_type,
               int bit_depth, int interlace, const std::vector<std::uint16_t>& samples) {
  const std::size_t bytes_per_sample = bit_depth == 16 ? 2 : 1;
  const std::size_t row_bytes = static_cast<std::size_t>(width) * channels * bytes_per_sample;
  std::vector<png_byte> bytes(row_bytes * height);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (bit_depth == 16) {
      bytes[2 * i] = static_cast<png_byte>(samples[i] >> 8);
      bytes[2 * i + 1] = static_cast<png_byte>(samples[i] & 0xFF);
    } else {
      bytes[i] = static_cast<png_byte>(samples[i]);
    }
  }
  std::vector<png_bytep> rows(height);
  for (int y = 0; y < height; ++y) rows[y] = bytes.data() + y * row_bytes;
  ASSERT_TRUE(
      write_raw_png(path.c_str(), width, height, color_type, bit_depth, interlace, rows.data()));
}

std::vector<char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
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

TEST_F(PngFile, SixteenBitRoundTripsExactly) {
  const Image16 image = noise_image(64, 48, 1);
  write_png(dir_ / "a.png", image, 16);
  const Image16 back = read_png(dir_ / "a.png");
  EXPECT_EQ(back.width, 64);
  EXPECT_EQ(back.height, 48);
  EXPECT_EQ(back.rgba, image.rgba);
}

TEST_F(PngFile, EightBitRoundTripsExactlyForWidenedValues) {
  Image16 image(16, 16);
  for (std::size_t i = 0; i < image.rgba.size(); ++i) {
    image.rgba[i] = static_cast<std::uint16_t>((i % 256) * 257);
  }
  write_png(dir_ / "a.png", image, 8);
  EXPECT_EQ(read_png(dir_ / "a.png").rgba, image.rgba);
}

TEST_F(PngFile, EightBitWriteQuantisesWithRounding) {
  Image16 image(4, 1);
  // A 16-bit value v is v / 257 levels of 8 bits; halves round up.
  // clang-format off
  image.rgba = {10 * 257 + 200, 10 * 257 + 126, 0, 65535,  // 10.78, 10.49
                128, 129, 65406, 65407,                    // 0.498, 0.502, 254.498, 254.502
                32767, 32768, 1, 65534,                    // 127.498, 127.502
                257, 256, 385, 386};                       // 1.498, 1.502
  // clang-format on
  write_png(dir_ / "a.png", image, 8);
  const Image16 back = read_png(dir_ / "a.png");
  // clang-format off
  const std::vector<std::uint16_t> expected = {11 * 257, 10 * 257, 0, 255 * 257,
                                               0, 257, 254 * 257, 255 * 257,
                                               127 * 257, 128 * 257, 0, 255 * 257,
                                               257, 257, 257, 2 * 257};
  // clang-format on
  EXPECT_EQ(back.rgba, expected);
}

TEST_F(PngFile, EightBitWriteMatchesToEightBitForEveryValue) {
  Image16 image(256, 256);
  for (std::size_t i = 0; i < image.rgba.size(); ++i) image.rgba[i] = static_cast<std::uint16_t>(i);
  write_png(dir_ / "a.png", image, 8);
  const Image16 back = read_png(dir_ / "a.png");
  ASSERT_EQ(back.rgba.size(), image.rgba.size());
  for (std::size_t i = 0; i < image.rgba.size(); ++i) {
    ASSERT_EQ(back.rgba[i], to_8bit(image.rgba[i]) * 257) << "value " << image.rgba[i];
  }
}

TEST_F(PngFile, OddSizesRoundTrip) {
  for (const auto& [w, h] : {std::pair{1, 1}, std::pair{7, 3}, std::pair{3, 7}, std::pair{1, 5}}) {
    for (int depth : {8, 16}) {
      Image16 image = noise_image(w, h, static_cast<std::uint32_t>(w * 100 + h));
      if (depth == 8) {
        for (auto& v : image.rgba) v = static_cast<std::uint16_t>(to_8bit(v) * 257);
      }
      const auto path = dir_ / ("odd_" + std::to_string(w) + "x" + std::to_string(h) + ".png");
      write_png(path, image, depth);
      const Image16 back = read_png(path);
      EXPECT_EQ(back.width, w);
      EXPECT_EQ(back.height, h);
      EXPECT_EQ(back.rgba, image.rgba) << w << "x" << h << " at " << depth << " bit";
    }
  }
}

TEST_F(PngFile, RgbPngReadsAsOpaque) {
  const std::vector<std::uint16_t> rgb = {255, 0, 0, 0,   128, 7,   1, 2, 3,
                                          4,   5, 6, 250, 251, 252, 9, 9, 9};
  write_raw(dir_ / "rgb.png", 3, 2, 3, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, rgb);
  const Image16 image = read_png(dir_ / "rgb.png");
  ASSERT_EQ(image.width, 3);
  ASSERT_EQ(image.height, 2);
  for (int p = 0; p < 6; ++p) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(image.rgba[p * 4 + c], rgb[p * 3 + c] * 257);
    EXPECT_EQ(image.rgba[p * 4 + 3], 65535);
  }
}

TEST_F(PngFile, SixteenBitRgbPngReadsAsOpaque) {
  const std::vector<std::uint16_t> rgb = {65535, 0, 1, 258, 4097, 65534};
  write_raw(dir_ / "rgb16.png", 2, 1, 3, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, rgb);
  const Image16 image = read_png(dir_ / "rgb16.png");
  const std::vector<std::uint16_t> expected = {65535, 0, 1, 65535, 258, 4097, 65534, 65535};
  EXPECT_EQ(image.rgba, expected);
}

TEST_F(PngFile, GrayAndGrayAlphaReadAsRgba) {
  write_raw(dir_ / "gray.png", 2, 1, 1, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, {10, 200});
  EXPECT_EQ(read_png(dir_ / "gray.png").rgba,
            (std::vector<std::uint16_t>{2570, 2570, 2570, 65535, 51400, 51400, 51400, 65535}));

  write_raw(dir_ / "ga.png", 1, 1, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_NONE,
            {1234, 4321});
  EXPECT_EQ(read_png(dir_ / "ga.png").rgba, (std::vector<std::uint16_t>{1234, 1234, 1234, 4321}));
}

TEST_F(PngFile, LowBitGrayWidensToFullScale) {
  // 1-bit gray: 0 and 1 mean black and white.
  write_raw(dir_ / "mono.png", 2, 1, 1, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, {0b01000000});
  EXPECT_EQ(read_png(dir_ / "mono.png").rgba,
            (std::vector<std::uint16_t>{0, 0, 0, 65535, 65535, 65535, 65535, 65535}));
}

TEST_F(PngFile, PaletteWithTransparencyReadsAsRgba) {
  png_image spec{};
  spec.version = PNG_IMAGE_VERSION;
  spec.width = 3;
  spec.height = 1;
  spec.format = PNG_FORMAT_RGBA_COLORMAP;
  spec.colormap_entries = 2;
  const std::uint8_t colormap[] = {10, 20, 30, 255, 40, 50, 60, 0};
  const std::uint8_t indices[] = {0, 1, 0};
  ASSERT_NE(png_image_write_to_file(&spec, (dir_ / "palette.png").c_str(), 0, indices, 0, colormap),
            0)
      << spec.message;
  const Image16 image = read_png(dir_ / "palette.png");
  ASSERT_EQ(image.width, 3);
  EXPECT_EQ(image.pixel(0, 0)[0], 10 * 257);
  EXPECT_EQ(image.pixel(0, 0)[3], 65535);
  EXPECT_EQ(image.pixel(1, 0)[3], 0);
  EXPECT_EQ(image.pixel(2, 0)[2], 30 * 257);
}

TEST_F(PngFile, InterlacedPngReads) {
  Image16 image = noise_image(13, 11, 5);
  write_raw(dir_ / "interlaced.png", 13, 11, 4, PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_ADAM7,
            image.rgba);
  EXPECT_EQ(read_png(dir_ / "interlaced.png").rgba, image.rgba);
}

TEST_F(PngFile, WriteReplacesAnExistingFile) {
  write_png(dir_ / "a.png", noise_image(5, 5, 1), 16);
  const Image16 second = noise_image(3, 2, 2);
  write_png(dir_ / "a.png", second, 16);
  EXPECT_EQ(read_png(dir_ / "a.png").rgba, second.rgba);
  EXPECT_EQ(files_in_dir().size(), 1U);
}

TEST_F(PngFile, TruncatedFileThrowsRuntimeError) {
  write_png(dir_ / "a.png", noise_image(40, 30, 3), 16);
  const std::vector<char> bytes = read_bytes(dir_ / "a.png");
  ASSERT_GT(bytes.size(), 100U);
  for (std::size_t keep :
       {std::size_t{0}, std::size_t{5}, std::size_t{8}, std::size_t{20}, std::size_t{40},
        bytes.size() / 2, bytes.size() - 13, bytes.size() - 1}) {
    write_bytes(dir_ / "cut.png", {bytes.begin(), bytes.begin() + static_cast<long>(keep)});
    EXPECT_THROW((void)read_png(dir_ / "cut.png"), std::runtime_error) << "kept " << keep;
  }
}

TEST_F(PngFile, CorruptImageDataThrowsRuntimeError) {
  write_png(dir_ / "a.png", noise_image(40, 30, 3), 16);
  std::vector<char> bytes = read_bytes(dir_ / "a.png");
  for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 16; ++i)
    bytes[i] = static_cast<char>(~bytes[i]);
  write_bytes(dir_ / "bad.png", bytes);
  EXPECT_THROW((void)read_png(dir_ / "bad.png"), std::runtime_error);
}

TEST_F(PngFile, NotAPngThrowsNamingTheFile) {
  write_bytes(dir_ / "text.png", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'});
  try {
    (void)read_png(dir_ / "text.png");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("text.png"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST_F(PngFile, MissingFileThrowsNamingTheFile) {
  try {
    (void)read_png(dir_ / "nothing.png");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nothing.png"), std::string::npos) << e.what();
  }
}

TEST_F(PngFile, WriteToMissingDirectoryThrowsAndLeavesNoTempFile) {
  const auto path = dir_ / "missing" / "a.png";
  try {
    write_png(path, noise_image(4, 4, 1), 8);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("a.png"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(PngFile, FailedWriteThrowsAndLeavesNoTempFile) {
  std::string message;
  {
    const FileSizeLimit limit(64 * 1024);
    try {
      write_png(dir_ / "a.png", noise_image(200, 200, 7), 16);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
  }
  EXPECT_NE(message.find("a.png"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(PngFile, FailedRenameRemovesTheTempFile) {
  // The temp file is written, then renaming it over a non-empty directory fails.
  fs::create_directories(dir_ / "a.png" / "inside");
  EXPECT_THROW(write_png(dir_ / "a.png", noise_image(4, 4, 1), 16), std::runtime_error);
  const auto files = files_in_dir();
  ASSERT_EQ(files.size(), 1U);
  EXPECT_EQ(files[0].filename(), "a.png");
}

TEST_F(PngFile, InvalidArgumentsThrow) {
  EXPECT_THROW(write_png(dir_ / "a.png", noise_image(2, 2, 1), 12), std::runtime_error);
  Image16 wrong(2, 2);
  wrong.rgba.pop_back();
  EXPECT_THROW(write_png(dir_ / "a.png", wrong, 8), std::runtime_error);
  EXPECT_THROW(write_png(dir_ / "a.png", Image16(), 8), std::runtime_error);
  EXPECT_TRUE(files_in_dir().empty());
}

}  // namespace
}  // namespace bnr::tools
