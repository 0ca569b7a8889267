#include "job_fingerprint.h"

#include "content_hash.h"

namespace bnr::broker {
namespace fs = std::filesystem;

std::string job_fingerprint(const protocol::OpenJob& open, const fs::path& png, const fs::path& exr,
                            const fs::path& working_dir) {
  const auto absolute = [&](const fs::path& p) {
    return p.empty() ? std::string() : (p.is_absolute() ? p : working_dir / p).lexically_normal().string();
  };
  // Each field ends in a newline and paths cannot hold one on the wire's trees, so no two
  // different jobs can spell the same text.
  std::string text = "bnr-job-fingerprint-1\n";
  text += "main=" + std::to_string(open.main_file) + "\n";
  for (const protocol::SceneFile& f : open.files)
    text += "file=" + f.hash + " " + std::to_string(f.size) + " " + f.path + "\n";
  text += "frame=" + (open.set_frame ? std::to_string(open.frame) : std::string("scene")) + "\n";
  text += "exr=" + std::to_string(open.want_exr) + " no_denoise=" + std::to_string(open.no_denoise) + "\n";
  text += "png=" + absolute(png) + "\nexr_path=" + absolute(exr) + "\n";
  return tools::content_hash(text);
}

}  // namespace bnr::broker
