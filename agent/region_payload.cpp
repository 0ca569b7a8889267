#include "region_payload.h"

#include <bit>
#include <stdexcept>
#include <vector>

#include "exr_file.h"
#include "exr_layers.h"
#include "png_file.h"

namespace bnr::agent {
namespace {

static_assert(std::endian::native == std::endian::little, "the wire carries little-endian pixels");

template <typename T>
void append(std::string& bulk, const std::vector<T>& values) {
  bulk.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

protocol::PassLayout layout_of(const tools::ExrLayers& layers) {
  protocol::PassLayout layout;
  for (const tools::ExrChannel& c : layers.channels) layout.channels.push_back({c.name, c.half});
  for (const auto& [name, value] : layers.text) layout.text.push_back({name, value});
  return layout;
}

}  // namespace

RegionPayload read_region_payload(const WorkerLine& done, const protocol::Rect& rect, std::uint32_t views, bool exr,
                                  bool passes) {
  const std::vector<std::string> pngs = done.list("png");
  const std::vector<std::string> exrs = done.list("exr");
  const std::vector<std::string> layer_files = done.list("layers");
  if (pngs.size() != views || (exr && exrs.size() != views) || (passes && layer_files.size() != views))
    throw std::runtime_error("Blender wrote " + std::to_string(pngs.size()) + " images for " + std::to_string(views) +
                             " views");
  const auto check_size = [&](int w, int h, const std::string& file) {
    if (w != rect.width() || h != rect.height())
      throw std::runtime_error("Blender rendered " + std::to_string(w) + "x" + std::to_string(h) + " pixels for a " +
                               std::to_string(rect.width()) + "x" + std::to_string(rect.height()) + " region (" +
                               file + ")");
  };

  RegionPayload out;
  std::vector<tools::ExrLayers> layers;
  for (const std::string& file : passes ? layer_files : std::vector<std::string>()) {
    layers.push_back(tools::read_exr_layers(file));
    check_size(layers.back().width, layers.back().height, file);
    const protocol::PassLayout layout = layout_of(layers.back());
    if (layout.empty()) throw std::runtime_error("Blender wrote no passes into " + file);
    if (layers.size() == 1) out.passes = layout;
    else if (layout.channels != out.passes.channels)
      throw std::runtime_error("the views' passes differ (" + file + ")");
  }
  out.bulk.reserve(protocol::region_payload_bytes(rect, views, exr, out.passes.channels.size()));
  for (const std::string& file : pngs) {
    const tools::Image16 image = tools::read_png(file);
    check_size(image.width, image.height, file);
    append(out.bulk, image.rgba);
  }
  for (const std::string& file : exr ? exrs : std::vector<std::string>()) {
    const tools::ImageF image = tools::read_exr(file);
    check_size(image.width, image.height, file);
    append(out.bulk, image.rgba);
  }
  for (const tools::ExrLayers& view : layers)
    for (const tools::ExrChannel& c : view.channels) append(out.bulk, c.pixels);
  return out;
}

}  // namespace bnr::agent
