// A job's identity across broker runs, sent in OpenJob::fingerprint: an agent serving a job
// with this fingerprint for a broker with the same key hands it to that broker's restarted
// run at once (agent/warm_job.h). Pure.
#pragma once

#include <filesystem>
#include <string>

#include "messages.h"

namespace bnr::broker {

// A content hash over what the pixels and the written files depend on: every file's tree path
// and hash (the .blend first), the frame, EXR output and denoising, and the output paths
// (made absolute against `working_dir`: the same -o from another directory is another job).
// The job id and the scene's display name do not count.
[[nodiscard]] std::string job_fingerprint(const protocol::OpenJob& open, const std::filesystem::path& png,
                                          const std::filesystem::path& exr,
                                          const std::filesystem::path& working_dir);

}  // namespace bnr::broker
