#include "cost_map_store.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "content_hash.h"
#include "image_file_util.h"
#include "split_text.h"

namespace bnr::broker {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kHeader = "bnr-cost-map 1 ";
constexpr std::string_view kFilePrefix = "map-";

}  // namespace

std::string cost_map_key(const SceneManifest& manifest, std::optional<int> frame) {
  std::string what = "frame=" + (frame ? std::to_string(*frame) : std::string("scene"));
  for (const ManifestFile& f : manifest.files) what += " " + f.hash;
  return tools::content_hash(what);
}

std::vector<double> coarsened(const std::vector<double>& cost_per_column, std::size_t columns) {
  const std::size_t n = cost_per_column.size();
  if (columns == 0 || n <= columns) return cost_per_column;
  std::vector<double> out(columns);
  for (std::size_t i = 0; i < columns; ++i) {
    const std::size_t begin = i * n / columns, end = (i + 1) * n / columns;
    double sum = 0;
    for (std::size_t x = begin; x < end; ++x) sum += cost_per_column[x];
    out[i] = sum / static_cast<double>(end - begin);
  }
  return out;
}

std::string format_cost_map(const std::string& key, const std::vector<double>& map) {
  std::ostringstream out;
  out.precision(9);
  out << kHeader << key << '\n';
  for (double v : map) out << v << '\n';
  return out.str();
}

std::vector<double> parse_cost_map(std::string_view text, const std::string& key) {
  const std::vector<std::string_view> lines = tools::split(text, '\n');
  if (lines.empty() || lines[0] != std::string(kHeader) + key) return {};
  std::vector<double> map;
  bool some_cost = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    if (map.size() == kStoredMapColumns) return {};
    double v = 0;
    const auto [end, ec] = std::from_chars(lines[i].data(), lines[i].data() + lines[i].size(), v);
    if (ec != std::errc() || end != lines[i].data() + lines[i].size() || !std::isfinite(v) || v < 0) return {};
    some_cost = some_cost || v > 0;
    map.push_back(v);
  }
  return some_cost ? map : std::vector<double>{};
}

fs::path CostMapStore::file_of(const std::string& key) const {
  return dir_ / (std::string(kFilePrefix) + key.substr(0, 32) + ".txt");
}

std::vector<double> CostMapStore::load(const std::string& key) const {
  if (dir_.empty()) return {};
  std::ifstream in(file_of(key), std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return parse_cost_map(text.str(), key);
}

bool CostMapStore::save(const std::string& key, const std::vector<double>& cost_per_column) const {
  const std::vector<double> map = coarsened(cost_per_column, kStoredMapColumns);
  if (dir_.empty() || map.empty()) return false;
  try {
    fs::create_directories(dir_);
    tools::write_atomically(file_of(key), "", [&](const fs::path& tmp) {
      std::ofstream out(tmp, std::ios::binary);
      out << format_cost_map(key, map);
      out.close();
      if (!out) throw std::runtime_error("cannot write " + tmp.string());
    });
    tools::keep_newest_files(dir_, kFilePrefix, kMaxMaps);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace bnr::broker
