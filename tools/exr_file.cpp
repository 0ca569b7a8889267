#include "exr_file.h"

#include "image_file_util.h"

#include <ImfChannelList.h>
#include <ImfFrameBuffer.h>
#include <ImfHeader.h>
#include <ImfInputFile.h>
#include <ImfOutputFile.h>
#include <ImfStdIO.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>

namespace bnr::tools {
namespace {

constexpr std::size_t kPixelBytes = 4 * sizeof(float);
constexpr const char* kChannels[] = {"R", "G", "B", "A"};

ImageF read_exr_unchecked(const std::filesystem::path& path) {
  Imf::InputFile file(path.c_str());
  const Imf::Header& header = file.header();
  const Imf::ChannelList& channels = header.channels();
  for (const char* name : {"R", "G", "B"}) {
    if (channels.findChannel(name) == nullptr) {
      std::string present;
      for (auto it = channels.begin(); it != channels.end(); ++it) {
        present += present.empty() ? "" : ", ";
        present += it.name();
      }
      throw std::runtime_error(std::string("no ") + name +
                               " channel (channels: " + (present.empty() ? "none" : present) + ")");
    }
  }

  // The data window is the image; Blender writes it equal to the display window.
  const Imath::Box2i window = header.dataWindow();
  const long long width = static_cast<long long>(window.max.x) - window.min.x + 1;
  const long long height = static_cast<long long>(window.max.y) - window.min.y + 1;
  if (width <= 0 || height <= 0 || width > std::numeric_limits<int>::max() / 4 ||
      height > std::numeric_limits<int>::max()) {
    throw std::runtime_error("invalid data window " + std::to_string(width) + "x" +
                             std::to_string(height));
  }

  ImageF image;
  try {
    image = ImageF(static_cast<int>(width), static_cast<int>(height));
  } catch (const std::bad_alloc&) {
    throw std::runtime_error("not enough memory for " + std::to_string(width) + "x" +
                             std::to_string(height) + " pixels");
  }
  Imf::FrameBuffer frame;
  const std::size_t row_bytes = kPixelBytes * image.width;
  for (int c = 0; c < 4; ++c) {
    // FLOAT slices make the library convert HALF (and UINT) channels as it reads. The fill
    // value only applies to a missing channel, which can only be A here.
    frame.insert(kChannels[c], Imf::Slice::Make(Imf::FLOAT, image.rgba.data() + c, window,
                                                kPixelBytes, row_bytes, 1, 1, 1.0));
  }
  file.setFrameBuffer(frame);
  file.readPixels(window.min.y, window.max.y);
  return image;
}

void write_exr_to(const std::filesystem::path& temp, const ImageF& image) {
  // Owning the stream lets us see errors OpenEXR swallows: it writes the line offset table
  // in OutputFile's destructor and ignores failures there.
  std::ofstream stream(temp, std::ios::binary | std::ios::trunc);
  if (!stream) {
    throw std::runtime_error("cannot create " + quoted(temp) + ": " + std::strerror(errno));
  }
  {
    Imf::Header header(image.width, image.height);
    header.compression() = Imf::ZIP_COMPRESSION;
    for (const char* name : kChannels) header.channels().insert(name, Imf::Channel(Imf::FLOAT));

    Imf::StdOFStream exr_stream(stream, temp.c_str());
    Imf::OutputFile file(exr_stream, header);
    Imf::FrameBuffer frame;
    const std::size_t row_bytes = kPixelBytes * image.width;
    // OutputFile only reads through the slice pointers; Slice just has no const version.
    auto* base = const_cast<float*>(image.rgba.data());
    for (int c = 0; c < 4; ++c) {
      frame.insert(kChannels[c], Imf::Slice(Imf::FLOAT, reinterpret_cast<char*>(base + c),
                                            kPixelBytes, row_bytes));
    }
    file.setFrameBuffer(frame);
    file.writePixels(image.height);
  }
  stream.close();
  if (!stream) throw std::runtime_error("write failed: " + std::string(std::strerror(errno)));
}

}  // namespace

ImageF read_exr(const std::filesystem::path& path) {
  try {
    return read_exr_unchecked(path);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read EXR " + quoted(path) + ": " + one_line(e.what()));
  }
}

void write_exr(const std::filesystem::path& path, const ImageF& image) {
  const std::string what = "cannot write EXR " + quoted(path) + ": ";
  check_image_shape(what, image.width, image.height, image.rgba.size());

  write_atomically(path, what, [&](const std::filesystem::path& t) { write_exr_to(t, image); });
}

}  // namespace bnr::tools
