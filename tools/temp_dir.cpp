#include "temp_dir.h"

#include <cstdlib>
#include <stdexcept>

namespace bnr::tools {

TempDir::TempDir(const std::string& prefix, bool keep) : keep_(keep) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a temporary directory");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!keep_) std::filesystem::remove_all(path_, ec);
}

}  // namespace bnr::tools
