// The agent's work directory (the worker script, one directory per job), flock()ed for the
// agent's life: an agent starting later can tell a crashed agent's leftovers, which it
// removes, from a running agent's. One external thing: the file system.
#pragma once

#include <filesystem>
#include <vector>

namespace bnr::agent {

class WorkDir {
 public:
  // `given` empty: a fresh directory under the system temp dir, removed with this object.
  // Otherwise `given` (created if needed), whose job directories (job-*) a crash left are
  // removed. Throws std::runtime_error with a one-line reason when it cannot be made or
  // another agent holds it.
  explicit WorkDir(const std::filesystem::path& given);
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool owned_ = false;
  int lock_fd_ = -1;
};

// Removes the bnr-agent-* directories under `parent` that carry a lock no running agent
// holds (a crashed agent's work directories). Directories without a lock file (another
// program's, an older agent's) are left alone. Returns the directories removed.
std::vector<std::filesystem::path> remove_orphan_work_dirs(const std::filesystem::path& parent);

}  // namespace bnr::agent
