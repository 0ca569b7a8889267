#include "layers_compare.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace bnr::tools {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool contains_any(const std::string& s, const std::vector<std::string>& parts) {
  return std::any_of(parts.begin(), parts.end(), [&](const std::string& p) { return s.find(p) != std::string::npos; });
}

std::string excerpt(const std::string& s) { return s.size() > 60 ? s.substr(0, 57) + "..." : s; }

void compare_channels(const ExrLayers& a, const ExrLayers& b, std::vector<std::string>& out) {
  std::vector<std::string> names_a, names_b;
  for (const ExrChannel& c : a.channels) names_a.push_back(c.name);
  for (const ExrChannel& c : b.channels) names_b.push_back(c.name);
  for (const std::string& n : names_b)
    if (a.find(n) == a.channels.size()) out.push_back("channel " + n + " is missing");
  for (const std::string& n : names_a)
    if (b.find(n) == b.channels.size()) out.push_back("channel " + n + " is extra");
  if (out.empty() && names_a != names_b) out.push_back("the channels are in another order");
  for (const ExrChannel& c : a.channels) {
    const std::size_t i = b.find(c.name);
    if (i != b.channels.size() && c.half != b.channels[i].half)
      out.push_back("channel " + c.name + " is " + (c.half ? "half" : "float") + ", not " +
                    (b.channels[i].half ? "half" : "float"));
  }
}

void compare_text(const ExrLayers& a, const ExrLayers& b, const LayersCompareOptions& o, std::vector<std::string>& out) {
  const std::map<std::string, std::string> ta(a.text.begin(), a.text.end()), tb(b.text.begin(), b.text.end());
  const auto varies = [&](const std::string& key) {
    return std::any_of(o.varying.begin(), o.varying.end(), [&](const std::string& v) { return ends_with(key, v); });
  };
  for (const auto& [key, value] : tb) {
    const auto it = ta.find(key);
    if (it == ta.end()) out.push_back("metadata " + key + " is missing");
    else if (it->second != value && !varies(key))
      out.push_back("metadata " + key + " is '" + excerpt(it->second) + "', not '" + excerpt(value) + "'");
  }
  for (const auto& [key, value] : ta)
    if (tb.count(key) == 0) out.push_back("metadata " + key + " is extra");
}

void compare_values(const ExrChannel& a, const ExrChannel& b, int width, const LayersCompareOptions& o,
                    std::vector<std::string>& out) {
  const bool exact = contains_any(a.name, o.exact);
  long long over = 0;
  std::size_t worst = 0;
  double worst_diff = -1;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    const float x = a.pixels[i], y = b.pixels[i];
    double diff = 0;
    if (exact) {
      diff = std::memcmp(&x, &y, sizeof x) == 0 ? 0 : INFINITY;
    } else if (std::isnan(x) || std::isnan(y) || std::isinf(x) || std::isinf(y)) {
      diff = (std::isnan(x) && std::isnan(y)) || x == y ? 0 : INFINITY;
    } else {
      diff = std::fabs(static_cast<double>(x) - y) / std::max({1.0, std::fabs(x * 1.0), std::fabs(y * 1.0)});
      if (diff <= o.tolerance) diff = 0;
    }
    if (diff > 0) {
      ++over;
      if (diff > worst_diff) worst_diff = diff, worst = i;
    }
  }
  if (over == 0) return;
  const auto x = static_cast<long long>(worst % static_cast<std::size_t>(width));
  const auto y = static_cast<long long>(worst / static_cast<std::size_t>(width));
  out.push_back(a.name + ": " + std::to_string(over) + " pixels differ" + (exact ? "" : " over the tolerance") +
                ", the worst at (" + std::to_string(x) + ", " + std::to_string(y) + "): " +
                std::to_string(a.pixels[worst]) + " vs " + std::to_string(b.pixels[worst]));
}

}  // namespace

std::vector<std::string> compare_layers(const ExrLayers& ours, const ExrLayers& theirs,
                                        const LayersCompareOptions& options) {
  std::vector<std::string> out;
  if (ours.width != theirs.width || ours.height != theirs.height) {
    out.push_back("size " + std::to_string(ours.width) + "x" + std::to_string(ours.height) + " vs " +
                  std::to_string(theirs.width) + "x" + std::to_string(theirs.height));
    return out;
  }
  compare_channels(ours, theirs, out);
  compare_text(ours, theirs, options, out);
  for (const ExrChannel& c : ours.channels) {
    const std::size_t i = theirs.find(c.name);
    if (i != theirs.channels.size()) compare_values(c, theirs.channels[i], ours.width, options, out);
  }
  return out;
}

}  // namespace bnr::tools
