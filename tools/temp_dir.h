// A fresh directory under the system temp dir for tests and benchmarks.
#pragma once

#include <filesystem>
#include <string>

namespace bnr::tools {

class TempDir {
 public:
  // Creates "<tmp>/<prefix>-XXXXXX". Throws std::runtime_error when it cannot.
  explicit TempDir(const std::string& prefix = "bnr-test", bool keep = false);
  // Removes the directory and everything in it, unless kept.
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace bnr::tools
