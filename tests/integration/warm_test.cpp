// Warm Blenders: a second job of the same scene reuses the agent's loaded Blender, and a
// broker killed mid-job and run again takes its job over at once and resumes from its spool.
// Behaviour only; the seconds this saves are measured by bench/warm_start.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <regex>
#include <string>
#include <vector>
#include <thread>

#include "harness.h"

namespace bnr::testing {
namespace {

AgentOptions logging_agent() {
  AgentOptions o;
  o.log = true;  // the test reads what the agent says about its Blender
  return o;
}

// The one Blender the agent runs, waiting up to 30 s for it to appear; -1 when there is none.
int blender_of(Agent& agent) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    const std::vector<int> pids = children_of(agent.process().pid());
    if (pids.size() == 1) return pids[0];
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

TEST(Warm, ASecondJobOfTheSameSceneReusesTheLoadedBlender) {
  TempDir dir;
  const auto scene = make_scene(dir / "again.blend", {"--size", "160x90", "--samples", "16"});
  Agent agent(logging_agent());
  const tools::RunResult first = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                             (dir / "first.png").string()});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_EQ(first.output.find("Blender was warm"), std::string::npos) << first.output;
  const int blender = blender_of(agent);
  ASSERT_GT(blender, 0) << "the finished job's Blender is kept warm: " << agent.log();

  // Another output file: another job, but the same scene, frame and settings.
  const tools::RunResult second = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                              (dir / "second.png").string()});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("its Blender was warm"), std::string::npos) << second.output;
  EXPECT_NE(agent.log().find("reusing the warm Blender"), std::string::npos) << agent.log();
  EXPECT_EQ(blender_of(agent), blender) << "the same Blender process served both jobs";
  const auto reference = blender_reference(scene, dir / "ref");
  expect_same_png(dir / "first.png", reference.at(0));
  expect_same_png(dir / "second.png", reference.at(0));
}

// No job waits for Blender to start: before the first one the agent has a Blender started
// (no scene), which opens the job's scene; a job of another scene and frame then opens its
// scene in the same, warm Blender. Each image is Blender's own render of its scene: nothing of
// the scene before (persistent data, output settings, textures) leaks into the next.
TEST(Warm, JobsOpenTheirScenesInTheAgentsRunningBlenderAndRenderAsBlenderDoes) {
  TempDir dir;
  const auto first_scene = make_scene(dir / "first.blend", {"--size", "96x54", "--samples", "8", "--depth", "16"});
  const auto texture = make_texture(dir / "stripes.png");
  const auto other_scene = make_scene(dir / "other.blend", {"--size", "120x64", "--samples", "8", "--adaptive",
                                                            "--texture", texture.string()});
  Agent agent(logging_agent());
  const int spare = blender_of(agent);
  ASSERT_GT(spare, 0) << "a Blender is started before any job: " << agent.log();

  const tools::RunResult first = run_broker({first_scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                             (dir / "first.png").string()});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(agent.log().find("opening the scene in an already started Blender (pid " + std::to_string(spare) + ")"),
            std::string::npos)
      << agent.log();
  EXPECT_EQ(blender_of(agent), spare) << "the Blender started before the job served it and is kept warm";

  const tools::RunResult other = run_broker({other_scene.string(), "--no-local", "--agent", agent.endpoint(),
                                             "--frame", "2", "-o", (dir / "other.png").string()});
  ASSERT_EQ(other.exit_code, 0) << other.output;
  EXPECT_EQ(other.output.find("Blender was warm"), std::string::npos) << "another scene is no warm start";
  EXPECT_NE(agent.log().find("will open its scene in the warm Blender"), std::string::npos) << agent.log();
  EXPECT_EQ(blender_of(agent), spare) << "one Blender served both scenes";

  expect_same_png(dir / "first.png", blender_reference(first_scene, dir / "ref-first").at(0));
  // blender_reference renders frame 1 after the frames in `extra`: keep frame 2's file.
  const std::vector<fs::path> refs = blender_reference(other_scene, dir / "ref-other", {"-f", "2"});
  const auto frame2 = std::find_if(refs.begin(), refs.end(),
                                   [](const fs::path& p) { return p.filename().string().find("0002") != std::string::npos; });
  ASSERT_NE(frame2, refs.end());
  expect_same_png(dir / "other.png", *frame2);
}

// Every Blender the agent starts, logged by a wrapper around the real one.
fs::path logging_blender(const fs::path& dir) {
  const fs::path wrapper = dir / "logging-blender";
  std::ofstream(wrapper) << "#!/bin/bash\necho \"$*\" >> " << (dir / "blenders.log") << "\nexec blender \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all);
  return wrapper;
}

std::vector<std::string> started_blenders(const fs::path& dir) {
  std::ifstream in(dir / "blenders.log");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The spare says which Blender and device it has as it starts: the agent listens after one
// Blender start (not --version, a probe and then the spare), and that Blender serves the job.
TEST(Warm, TheAgentListensAfterOneBlenderStartWhichServesTheFirstJob) {
  TempDir dir;
  const auto scene = make_scene(dir / "first.blend", {"--size", "64x36", "--samples", "4"});
  AgentOptions o = logging_agent();
  o.extra = {"--blender", logging_blender(dir.path()).string()};
  Agent agent(o);
  const std::vector<std::string> before = started_blenders(dir.path());
  ASSERT_EQ(before.size(), 1U) << ::testing::PrintToString(before);
  EXPECT_NE(before[0].find("--spare"), std::string::npos) << before[0];
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                         (dir / "out.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(started_blenders(dir.path()).size(), 1U) << ::testing::PrintToString(started_blenders(dir.path()));
  EXPECT_TRUE(std::regex_search(agent.log(), std::regex(R"(Blender \d+\.\d+\.\d+ on CPU)"))) << agent.log();
  EXPECT_NE(agent.log().find("opening the scene in an already started Blender"), std::string::npos) << agent.log();
}

// Without a spare the agent asks the slow way.
TEST(Warm, WithoutASpareTheAgentAsksBlendersVersionAndProbesTheDevice) {
  TempDir dir;
  AgentOptions o = logging_agent();
  o.extra = {"--blender", logging_blender(dir.path()).string(), "--keep-warm", "0"};
  Agent agent(o);
  const std::vector<std::string> started = started_blenders(dir.path());
  ASSERT_EQ(started.size(), 2U) << ::testing::PrintToString(started);
  EXPECT_EQ(started[0], "--version");
  EXPECT_NE(started[1].find("--probe-device"), std::string::npos) << started[1];
  EXPECT_TRUE(std::regex_search(agent.log(), std::regex(R"(Blender \d+\.\d+\.\d+ on CPU)"))) << agent.log();
}

TEST(Warm, KeepWarmZeroStopsBlenderWithItsJob) {
  TempDir dir;
  const auto scene = make_scene(dir / "cold.blend", {"--size", "96x54", "--samples", "8"});
  AgentOptions o = logging_agent();
  o.extra = {"--keep-warm", "0"};
  Agent agent(o);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_TRUE(children_of(agent.process().pid()).empty()) << "no Blender is started ahead of a job: " << agent.log();
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                         (dir / "out.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!children_of(agent.process().pid()).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(children_of(agent.process().pid()).empty()) << agent.log();
}

TEST(Warm, ARestartedBrokerTakesItsJobOverAtOnceAndResumesWithTheSameBlender) {
  TempDir dir;
  const auto scene = make_scene(dir / "resume.blend", {"--size", "320x180", "--samples", "192"});
  Agent agent(logging_agent());
  const std::vector<std::string> args = {scene.string(), "--no-local", "--agent", agent.endpoint(),
                                         "--region-width", "32", "-o", (dir / "out.png").string()};
  auto broker = start_broker(args);
  const fs::path journal = dir / "out.png.bnr-spool" / "journal";
  const std::uintmax_t region_bytes = 32 * 180 * 4 * 2;
  ASSERT_GE(wait_for_journal(journal, 3 * region_bytes, std::chrono::seconds(120)), 3 * region_bytes)
      << "no regions were journaled";
  const int blender = blender_of(agent);
  ASSERT_GT(blender, 0);
  broker->send_signal(SIGKILL);
  (void)broker->wait_or_kill(std::chrono::seconds(10));

  // At once: the agent still hears the killed broker's last heartbeat as recent.
  const tools::RunResult r = run_broker(args);
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n---\n" << agent.log();
  EXPECT_EQ(r.output.find("is busy with"), std::string::npos) << "no busy refusal: " << r.output;
  EXPECT_NE(r.output.find("took the job over"), std::string::npos) << r.output;
  EXPECT_NE(agent.log().find("reusing the warm Blender"), std::string::npos) << agent.log();
  EXPECT_EQ(blender_of(agent), blender) << "the scene was not loaded again";
  const std::size_t at = r.output.find("resuming: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_GE(std::stoi(r.output.substr(at + 10)), 3) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  expect_same_png(dir / "out.png", reference.at(0));
}

}  // namespace
}  // namespace bnr::testing
