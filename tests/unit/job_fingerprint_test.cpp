#include "job_fingerprint.h"

#include <gtest/gtest.h>

#include "messages.h"

namespace bnr::broker {
namespace {

protocol::OpenJob job(const std::string& id) {
  protocol::OpenJob open{id, "s.blend", false, false, false, 1};
  open.files = {{"home/u/s.blend", 10, std::string(64, 'a')}, {"home/u/tex.png", 5, std::string(64, 'b')}};
  return open;
}

TEST(JobFingerprint, TwoRunsOfTheSameCommandGiveTheSameFingerprintWhateverTheJobId) {
  const std::string a = job_fingerprint(job("1111"), "out.png", "", "/home/u");
  EXPECT_EQ(a, job_fingerprint(job("2222"), "out.png", "", "/home/u"));
  EXPECT_TRUE(protocol::is_content_hash(a));
  EXPECT_EQ(a, job_fingerprint(job("3333"), "/home/u/out.png", "", "/tmp")) << "the same output file";
}

TEST(JobFingerprint, AnotherSceneFrameSettingOrOutputIsAnotherJob) {
  const std::string base = job_fingerprint(job("j"), "out.png", "", "/home/u");
  std::vector<std::string> others;
  protocol::OpenJob o = job("j");
  o.files[1].hash = std::string(64, 'c');
  others.push_back(job_fingerprint(o, "out.png", "", "/home/u"));
  o = job("j");
  o.set_frame = true;
  others.push_back(job_fingerprint(o, "out.png", "", "/home/u"));
  o = job("j");
  o.no_denoise = true;
  others.push_back(job_fingerprint(o, "out.png", "", "/home/u"));
  o = job("j");
  o.want_exr = true;
  others.push_back(job_fingerprint(o, "out.png", "out.exr", "/home/u"));
  others.push_back(job_fingerprint(job("j"), "other.png", "", "/home/u"));
  others.push_back(job_fingerprint(job("j"), "out.png", "", "/home/v"));
  for (std::size_t i = 0; i < others.size(); ++i) EXPECT_NE(others[i], base) << i;
}

}  // namespace
}  // namespace bnr::broker
