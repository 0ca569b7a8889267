// A fake agent beside a real one sends what no bnr-agent would: a RegionFailed before its
// JobReady, a JobReady at and beyond the size limits, view suffixes that climb out of the
// output directory, pixels of the wrong size. The broker must neither crash nor write outside
// its output, and either finish with the real agent (Blender's image) or exit non-zero with
// one clear line within a bound.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "fake_agent.h"
#include "harness.h"

namespace bnr::testing {
namespace {

using namespace std::chrono_literals;
using protocol::Message;
using Replies = std::vector<FakeAgent::Reply>;

// The broker under an address-space limit: a JobReady that talks it into a frame of many
// gigabytes must fail to allocate, not push the test machine into swapping or the OOM killer.
tools::RunResult run_bounded_broker(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"prlimit", "--as=" + std::to_string(std::uint64_t{8} << 30), BNR_BROKER_EXE,
                                   "--no-mdns", "-q"};
  argv.insert(argv.end(), args.begin(), args.end());
  return tools::run_command(argv, 120s);
}

// Every regular file under `root`.
std::set<fs::path> files_under(const fs::path& root) {
  std::set<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.insert(e.path());
  return out;
}

// A scene, a real agent that renders it, and what that agent says once it has loaded it. The
// real agent's Blender starts cold for the job (a second or more), so what the fake answers at
// once reaches the broker first, before any real agent has told it about the frame.
struct Rig {
  TempDir dir;
  fs::path scene = make_scene(dir / "s.blend", {"--size", "48x32"});
  Agent real;
  protocol::JobReady ready = real_job_ready(real, scene);
  fs::path out_dir = dir / "out";
  fs::path out = out_dir / "frame.png";

  Rig() {
    ready.agent.name = "fake";
    ready.agent.agent_id = "fake-" + std::to_string(getpid());
    fs::create_directories(out_dir);
  }

  // The broker with the fake first and the real agent second; checks that it wrote nothing
  // outside out_dir and ended in one of the two acceptable ways.
  tools::RunResult render(const FakeAgent& fake) {
    const std::set<fs::path> before = files_under(dir.path());
    const tools::RunResult r = run_bounded_broker(
        {scene.string(), "--no-local", "--agent", fake.endpoint(), "--agent", real.endpoint(), "-o", out.string()});
    for (const fs::path& f : files_under(dir.path())) {
      if (before.contains(f)) continue;
      EXPECT_EQ(f.string().rfind(out_dir.string() + "/", 0), 0U) << "written outside the output directory: " << f;
    }
    EXPECT_FALSE(r.timed_out) << r.output;
    EXPECT_LT(r.exit_code, 128) << "the broker crashed: " << r.output;
    EXPECT_TRUE(real.process().running()) << "the real agent died";
    return r;
  }

  void expect_blenders_image() const { expect_same_png(out, blender_reference(scene, dir / "ref").at(0)); }

  // Blender's image, or exit 1 with one line that says something (not a bare exception name).
  void expect_blenders_image_or_one_clear_line(const tools::RunResult& r) const {
    if (r.exit_code == 0) {
      expect_blenders_image();
      return;
    }
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(line_count(r.output), 1) << r.output;
    EXPECT_EQ(r.output.find("std::"), std::string::npos) << "not a reason: " << r.output;
    EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << "not a reason: " << r.output;
    EXPECT_FALSE(fs::exists(out)) << "an output file after a failure";
  }
};

// The job an OpenJob opens; null for any other message.
const std::string* opened_job(const Message& m) {
  if (const auto* open = std::get_if<protocol::OpenJob>(&m)) return &open->job_id;
  return nullptr;
}

TEST(ChaosFakeAgent, RegionFailedBeforeJobReadyIsIgnoredAndTheRealAgentRendersTheFrame) {
  Rig rig;
  FakeAgent fake([](const Message& m) -> Replies {
    const std::string* job = opened_job(m);
    if (!job) return {};
    return {{protocol::RegionFailed{*job, 0, "fake: nothing was asked"}},
            {protocol::RegionFailed{*job, 123456789, "fake: no such region"}},
            {protocol::JobFailed{*job + "-other", "fake: another job"}}};
  });
  const tools::RunResult r = rig.render(fake);
  const std::vector<std::string> got = fake.received();
  EXPECT_NE(std::find(got.begin(), got.end(), "OpenJob"), got.end()) << "the fake was not asked to open the job";
  ASSERT_EQ(r.exit_code, 0) << r.output;
  rig.expect_blenders_image();
}

TEST(ChaosFakeAgent, AJobReadyAtAndBeyondTheSizeLimitsNeitherCrashesNorExhaustsMemory) {
  Rig rig;
  protocol::JobReady beyond = rig.ready;  // refused by the decoder
  for (int v = 0; v < 5000; ++v) {
    beyond.scene.views.push_back("v" + std::to_string(v));
    beyond.scene.view_suffixes.push_back("_v" + std::to_string(v));
  }
  beyond.scene.stereo = "INDIVIDUAL";
  protocol::JobReady at = rig.ready;  // passes the decoder: 16 views of 65536 x 65536
  at.scene.width = at.scene.height = protocol::kMaxImageSide;
  at.scene.margin = protocol::kMaxImageSide;
  at.scene.stereo = "INDIVIDUAL";
  at.scene.views.clear();
  at.scene.view_suffixes.clear();
  for (std::uint32_t v = 0; v < protocol::kMaxViews; ++v) {
    at.scene.views.push_back("v" + std::to_string(v));
    at.scene.view_suffixes.push_back("_v" + std::to_string(v));
  }
  FakeAgent fake([&](const Message& m) -> Replies {
    const std::string* job = opened_job(m);
    if (!job) return {};
    beyond.job_id = at.job_id = *job;
    return {{beyond}, {at}};
  });
  const tools::RunResult r = rig.render(fake);
  rig.expect_blenders_image_or_one_clear_line(r);
}

TEST(ChaosFakeAgent, ViewSuffixesThatLeaveTheOutputDirectoryWriteNothingThere) {
  Rig rig;
  // "frame/../../escape_L.png" resolves when a directory is named like the output's stem.
  fs::create_directories(rig.out_dir / "frame");
  protocol::JobReady evil = rig.ready;
  evil.scene.stereo = "INDIVIDUAL";
  evil.scene.views = {"left", "right"};
  evil.scene.view_suffixes = {"/../../escape_L", (rig.dir / "absolute_R").string()};
  FakeAgent fake([&](const Message& m) -> Replies {
    if (const std::string* job = opened_job(m)) {
      evil.job_id = *job;
      return {{evil}};
    }
    if (const auto* region = std::get_if<protocol::RenderRegion>(&m)) return {blank_region(*region, 2)};
    return {};
  });
  const tools::RunResult r = rig.render(fake);
  EXPECT_FALSE(fs::exists(rig.dir / "escape_L.png"));
  EXPECT_FALSE(fs::exists(rig.dir / "absolute_R.png"));
  rig.expect_blenders_image_or_one_clear_line(r);
}

TEST(ChaosFakeAgent, RegionDoneWithPixelsOfTheWrongSizeIsNeverMerged) {
  Rig rig;
  int answered = 0;
  FakeAgent fake([&](const Message& m) -> Replies {
    if (const std::string* job = opened_job(m)) {
      rig.ready.job_id = *job;
      return {{rig.ready}};
    }
    const auto* region = std::get_if<protocol::RenderRegion>(&m);
    if (!region) return {};
    FakeAgent::Reply reply = blank_region(*region, 1);
    auto& done = std::get<protocol::RegionDone>(reply.message);
    switch (answered++ % 3) {
      case 0:  // one byte short of what the rectangle implies
        reply.bulk.pop_back();
        break;
      case 1:  // two views of a mono frame, consistently sized
        reply = blank_region(*region, 2);
        break;
      default:  // another rectangle than the one asked for, consistently sized
        done.rect.x1 = done.rect.x1 > done.rect.x0 + 1 ? done.rect.x1 - 1 : done.rect.x1 + 1;
        reply.bulk.assign(protocol::region_payload_bytes(done.rect, 1, false), '\0');
        break;
    }
    return {reply};
  });
  const tools::RunResult r = rig.render(fake);
  const std::vector<std::string> got = fake.received();
  EXPECT_NE(std::find(got.begin(), got.end(), "RenderRegion"), got.end())
      << "the fake was never asked for a region: the test did not reach the pixel checks";
  rig.expect_blenders_image_or_one_clear_line(r);
}

}  // namespace
}  // namespace bnr::testing
