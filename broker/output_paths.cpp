#include "output_paths.h"

#include <map>

namespace bnr::broker {
namespace fs = std::filesystem;

fs::path default_png(const fs::path& scene) { return fs::path(scene.stem().string() + ".png"); }

std::string output_clash(const std::vector<PlannedOutput>& outputs, const fs::path& cwd) {
  const auto key = [&](const fs::path& p) { return (p.is_absolute() ? p : cwd / p).lexically_normal(); };
  std::map<fs::path, std::string> inputs;
  for (const PlannedOutput& o : outputs) inputs.emplace(key(o.scene), o.scene.string());
  std::map<fs::path, std::string> written;  // file -> which scene writes it
  for (const PlannedOutput& o : outputs) {
    for (const fs::path& file : {o.png, o.exr}) {
      if (file.empty()) continue;
      const fs::path k = key(file);
      if (inputs.count(k) != 0)
        return "the output " + file.string() + " would overwrite the scene " + inputs[k] + "; choose another -o/--exr";
      const auto [it, fresh] = written.emplace(k, o.scene.string());
      if (!fresh)
        return it->second == o.scene.string()
                   ? o.scene.string() + ": its PNG and EXR outputs are the same file " + file.string()
                   : "scenes " + it->second + " and " + o.scene.string() + " would both write " + file.string() +
                         "; render them in separate directories or one at a time with -o";
    }
  }
  return {};
}

}  // namespace bnr::broker
