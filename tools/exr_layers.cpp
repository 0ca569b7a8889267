#include "exr_layers.h"

#include <ImfChannelList.h>
#include <ImfFrameBuffer.h>
#include <ImfHeader.h>
#include <ImfInputFile.h>
#include <ImfOutputFile.h>
#include <ImfStdIO.h>
#include <ImfStringAttribute.h>
#include <half.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include "image_file_util.h"

namespace bnr::tools {
namespace {

// Attributes every OpenEXR header has, which the library writes itself.
bool is_structural(const std::string& name) {
  for (const char* n : {"channels", "compression", "dataWindow", "displayWindow", "lineOrder", "pixelAspectRatio",
                        "screenWindowCenter", "screenWindowWidth", "tiles", "type", "name", "version", "chunkCount"})
    if (name == n) return true;
  return false;
}

ExrLayers read_unchecked(const std::filesystem::path& path) {
  Imf::InputFile file(path.c_str());
  const Imf::Header& header = file.header();
  const Imath::Box2i window = header.dataWindow();
  const long long width = static_cast<long long>(window.max.x) - window.min.x + 1;
  const long long height = static_cast<long long>(window.max.y) - window.min.y + 1;
  if (width <= 0 || height <= 0 || width * height > std::numeric_limits<int>::max())
    throw std::runtime_error("invalid data window " + std::to_string(width) + "x" + std::to_string(height));

  ExrLayers layers;
  layers.width = static_cast<int>(width);
  layers.height = static_cast<int>(height);
  layers.compression = static_cast<int>(header.compression());
  for (auto it = header.begin(); it != header.end(); ++it) {
    const auto* text = dynamic_cast<const Imf::StringAttribute*>(&it.attribute());
    if (text != nullptr && !is_structural(it.name())) layers.text.emplace_back(it.name(), text->value());
  }
  const std::size_t area = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  const Imf::ChannelList& channels = header.channels();
  for (auto it = channels.begin(); it != channels.end(); ++it) {
    if (it.channel().xSampling != 1 || it.channel().ySampling != 1)
      throw std::runtime_error(std::string("channel ") + it.name() + " is subsampled");
    try {
      layers.channels.push_back({it.name(), it.channel().type == Imf::HALF, std::vector<float>(area)});
    } catch (const std::bad_alloc&) {
      throw std::runtime_error("not enough memory for " + std::to_string(layers.channels.size() + 1) + " channels of " +
                               std::to_string(width) + "x" + std::to_string(height));
    }
  }
  Imf::FrameBuffer frame;
  for (ExrChannel& c : layers.channels)
    frame.insert(c.name, Imf::Slice::Make(Imf::FLOAT, c.pixels.data(), window, sizeof(float),
                                          sizeof(float) * static_cast<std::size_t>(width)));
  file.setFrameBuffer(frame);
  file.readPixels(window.min.y, window.max.y);
  return layers;
}

void write_to(const std::filesystem::path& temp, const ExrLayers& layers) {
  // Owning the stream lets us see errors OpenEXR swallows in OutputFile's destructor.
  std::ofstream stream(temp, std::ios::binary | std::ios::trunc);
  if (!stream) throw std::runtime_error("cannot create " + quoted(temp) + ": " + std::strerror(errno));
  {
    Imf::Header header(layers.width, layers.height);
    header.compression() = static_cast<Imf::Compression>(layers.compression);
    for (const auto& [name, value] : layers.text) header.insert(name, Imf::StringAttribute(value));
    for (const ExrChannel& c : layers.channels)
      header.channels().insert(c.name, Imf::Channel(c.half ? Imf::HALF : Imf::FLOAT));
    Imf::StdOFStream exr_stream(stream, temp.c_str());
    Imf::OutputFile file(exr_stream, header);
    Imf::FrameBuffer frame;
    // OutputFile does not convert: a HALF channel needs half pixels (exact for values read
    // from a half channel; others round to nearest).
    std::vector<std::vector<Imath::half>> halves;
    for (const ExrChannel& c : layers.channels) {
      if (c.half) {
        std::vector<Imath::half>& h = halves.emplace_back(c.pixels.begin(), c.pixels.end());
        frame.insert(c.name, Imf::Slice(Imf::HALF, reinterpret_cast<char*>(h.data()), sizeof(Imath::half),
                                        sizeof(Imath::half) * static_cast<std::size_t>(layers.width)));
      } else {
        frame.insert(c.name, Imf::Slice(Imf::FLOAT, reinterpret_cast<char*>(const_cast<float*>(c.pixels.data())),
                                        sizeof(float), sizeof(float) * static_cast<std::size_t>(layers.width)));
      }
    }
    file.setFrameBuffer(frame);
    file.writePixels(layers.height);
  }
  stream.close();
  if (!stream) throw std::runtime_error("write failed: " + std::string(std::strerror(errno)));
}

}  // namespace

std::size_t ExrLayers::find(const std::string& name) const {
  for (std::size_t i = 0; i < channels.size(); ++i)
    if (channels[i].name == name) return i;
  return channels.size();
}

const std::string* ExrLayers::find_text(const std::string& name) const {
  for (const auto& [key, value] : text)
    if (key == name) return &value;
  return nullptr;
}

std::string* ExrLayers::find_text(const std::string& name) {
  return const_cast<std::string*>(std::as_const(*this).find_text(name));
}

ExrLayers read_exr_layers(const std::filesystem::path& path) {
  try {
    return read_unchecked(path);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read EXR " + quoted(path) + ": " + one_line(e.what()));
  }
}

void write_exr_layers(const std::filesystem::path& path, const ExrLayers& layers) {
  const std::string what = "cannot write EXR " + quoted(path) + ": ";
  if (layers.width <= 0 || layers.height <= 0 || layers.channels.empty())
    throw std::runtime_error(what + "no pixels (" + std::to_string(layers.width) + "x" +
                             std::to_string(layers.height) + ", " + std::to_string(layers.channels.size()) +
                             " channels)");
  const std::size_t area = static_cast<std::size_t>(layers.width) * static_cast<std::size_t>(layers.height);
  for (const ExrChannel& c : layers.channels)
    if (c.pixels.size() != area) throw std::runtime_error(what + "channel " + c.name + " has the wrong size");
  write_atomically(path, what, [&](const std::filesystem::path& t) { write_to(t, layers); });
}

}  // namespace bnr::tools
