// Every channel of an OpenEXR file as float planes: what a multilayer EXR of Blender's holds
// ("ViewLayer.Pass.X" channels, each pass of each view layer) and its text metadata
// (Cryptomatte manifests, stamp fields), read and written without interpreting either.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace bnr::tools {

struct ExrChannel {
  std::string name;
  bool half = false;          // stored as 16-bit float; values read from such a file fit one exactly
  std::vector<float> pixels;  // width * height, rows top to bottom
};

struct ExrLayers {
  int width = 0;
  int height = 0;
  std::vector<ExrChannel> channels;                          // in the file's order
  std::vector<std::pair<std::string, std::string>> text;  // string attributes, in the file's order
  int compression = 3;                                       // an Imf::Compression (3: ZIP)

  [[nodiscard]] std::size_t find(const std::string& name) const;  // index, or channels.size()
  // The value of text attribute `name`, or nullptr.
  [[nodiscard]] std::string* find_text(const std::string& name);
  [[nodiscard]] const std::string* find_text(const std::string& name) const;
};

// Reads every channel (HALF, FLOAT and UINT, as float) and every string attribute of a
// scanline or tiled file. Throws std::runtime_error naming the file on any error.
[[nodiscard]] ExrLayers read_exr_layers(const std::filesystem::path& path);

// Writes a scanline file with `layers`' channels (each as HALF or FLOAT), string attributes
// and compression. Atomic like write_png.
void write_exr_layers(const std::filesystem::path& path, const ExrLayers& layers);

}  // namespace bnr::tools
