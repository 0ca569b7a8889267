#include "work_dir.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bnr::agent {
namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "bnr-agent-";

// -1 when `path` cannot be opened or is locked by someone else.
int lock_file(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

WorkDir::WorkDir(const fs::path& given) {
  if (given.empty()) {
    std::string pattern = (fs::temp_directory_path() / (std::string(kPrefix) + "XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("cannot create a work directory: " + std::string(std::strerror(errno)));
    path_ = pattern;
    owned_ = true;
    // Locked before it is named "lock": a scan by another agent never sees it unlocked.
    lock_fd_ = lock_file(path_ / "lock.new", O_CREAT | O_EXCL);
    if (lock_fd_ < 0 || ::rename((path_ / "lock.new").c_str(), (path_ / "lock").c_str()) != 0)
      throw std::runtime_error("cannot lock the work directory " + path_.string() + ": " + std::strerror(errno));
    return;
  }
  path_ = given;
  std::error_code ec;
  fs::create_directories(path_, ec);
  if (ec) throw std::runtime_error("cannot create the work directory " + path_.string() + ": " + ec.message());
  lock_fd_ = lock_file(path_ / "lock", O_CREAT);
  if (lock_fd_ < 0) throw std::runtime_error("the work directory " + path_.string() + " is in use by another agent");
  for (const auto& entry : fs::directory_iterator(path_, ec))
    if (entry.path().filename().string().starts_with("job-")) fs::remove_all(entry.path(), ec);
}

WorkDir::~WorkDir() {
  std::error_code ec;
  if (owned_) fs::remove_all(path_, ec);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::vector<fs::path> remove_orphan_work_dirs(const fs::path& parent) {
  std::vector<fs::path> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const fs::path dir = entry.path();
    if (!dir.filename().string().starts_with(kPrefix) || !entry.is_directory(ec) || entry.is_symlink(ec)) continue;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;
    const int fd = lock_file(dir / "lock", 0);
    if (fd < 0) continue;  // no lock file, or its agent runs
    std::error_code remove_ec;
    fs::remove_all(dir, remove_ec);
    ::close(fd);
    if (!remove_ec) removed.push_back(dir);
  }
  return removed;
}

}  // namespace bnr::agent
