// bnr-imgdiff: compares two PNGs or two EXRs pixel by pixel.
// Exit status: 0 no pixel over the tolerance, 1 some pixel over (or different sizes), 2 error.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include "exr_file.h"
#include "image_compare.h"
#include "png_file.h"

namespace {

constexpr int kSame = 0;
constexpr int kDifferent = 1;
constexpr int kError = 2;
constexpr double kPngDefaultTolerance = 3 * 257;  // 3 levels of 8 bits, in 16-bit units
constexpr double kExrDefaultTolerance = 1e-3;

constexpr const char* kUsage =
    "usage: bnr-imgdiff A B [--tolerance T]\n"
    "\n"
    "Compares two PNG files, or two EXR files (by the .exr extension), pixel by pixel and\n"
    "prints one line: the largest channel difference and how many pixels exceed T.\n"
    "\n"
    "  --tolerance T  largest allowed channel difference. PNG: 16-bit units, any bit depth\n"
    "                 (one 8-bit level is 257; default 771 = 3 levels). EXR: absolute float\n"
    "                 difference, relative above 1.0 (default 0.001).\n"
    "  --help         show this text\n"
    "\n"
    "Exit status: 0 no pixel over T, 1 some pixel over T or different sizes, 2 error.\n";

struct Config {
  std::filesystem::path a;
  std::filesystem::path b;
  std::optional<double> tolerance;
  bool help = false;
};

Config parse_args(int argc, char** argv) {
  Config config;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      config.help = true;
    } else if (arg == "--tolerance" || arg.starts_with("--tolerance=")) {
      std::string value;
      if (arg == "--tolerance") {
        if (i + 1 >= argc) throw std::runtime_error("--tolerance needs a value");
        value = argv[++i];
      } else {
        value = arg.substr(std::string("--tolerance=").size());
      }
      std::size_t used = 0;
      double t = -1.0;
      try {
        t = std::stod(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != value.size() || !std::isfinite(t) || t < 0.0) {
        throw std::runtime_error("--tolerance wants a non-negative number, not '" + value + "'");
      }
      config.tolerance = t;
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw std::runtime_error("unknown option '" + arg + "' (see --help)");
    } else if (positional == 0) {
      config.a = arg;
      ++positional;
    } else if (positional == 1) {
      config.b = arg;
      ++positional;
    } else {
      throw std::runtime_error("too many arguments (see --help)");
    }
  }
  if (!config.help && positional != 2) throw std::runtime_error("need two images (see --help)");
  return config;
}

bool is_exr(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".exr";
}

int run(const Config& config) {
  const bool exr = is_exr(config.a);
  if (exr != is_exr(config.b)) throw std::runtime_error("cannot compare an EXR with a PNG");

  bnr::tools::ImageDifference difference;
  double tolerance = 0.0;
  if (exr) {
    tolerance = config.tolerance.value_or(kExrDefaultTolerance);
    difference = bnr::tools::compare(bnr::tools::read_exr(config.a), bnr::tools::read_exr(config.b),
                                     tolerance);
  } else {
    tolerance = config.tolerance.value_or(kPngDefaultTolerance);
    difference = bnr::tools::compare(bnr::tools::read_png(config.a), bnr::tools::read_png(config.b),
                                     tolerance);
  }
  std::printf("%s\n", bnr::tools::describe(difference, tolerance).c_str());
  return difference.same_size && difference.pixels_over == 0 ? kSame : kDifferent;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Config config = parse_args(argc, argv);
    if (config.help) {
      std::fputs(kUsage, stdout);
      return kSame;
    }
    return run(config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bnr-imgdiff: %s\n", e.what());
    return kError;
  }
}
