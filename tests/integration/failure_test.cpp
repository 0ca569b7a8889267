// Bad input ends with one clear line and a non-zero exit, never a crash, a hang or an output file.
#include <gtest/gtest.h>

#include <fstream>
#include <zmq.hpp>

#include "harness.h"
#include "transport.h"

namespace bnr::testing {
namespace {

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The last non-empty line: the one-line error.
std::string last_line(const std::string& output) {
  std::string text = output;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.substr(text.rfind('\n') + 1);
}

TEST(Failure, MissingEmptyAndForeignScenesAreRefusedBeforeAnyAgent) {
  TempDir dir;
  write_bytes(dir / "empty.blend", "");
  write_bytes(dir / "photo.blend", "\x89PNG\r\n\x1a\n0000000000");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {(dir / "missing.blend").string(), "no such file"},
      {(dir / "empty.blend").string(), "empty"},
      {(dir / "photo.blend").string(), "not a .blend file"},
      {dir.path().string(), "is a directory"},
  };
  for (const auto& [scene, why] : cases) {
    // An unreachable agent: had the broker contacted it, the run would take the agent timeout.
    const tools::RunResult r = run_broker({scene, "--no-local", "--agent", "127.0.0.1:9", "-o",
                                           (dir / "out.png").string()},
                                          {}, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(line_count(r.output), 1) << r.output;
    EXPECT_NE(r.output.find(why), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(dir / "out.png"));
  }
}

TEST(Failure, TruncatedSceneEndsPromptlyQuotingBlender) {
  TempDir dir;
  const auto scene = make_scene(dir / "whole.blend", {"--size", "32x32"});
  std::ifstream in(scene, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_bytes(dir / "cut.blend", bytes.substr(0, bytes.size() / 3));
  Agent agent;
  const tools::RunResult r = run_broker(
      {(dir / "cut.blend").string(), "--no-local", "--agent", agent.endpoint(), "-q", "-o", (dir / "out.png").string()},
      {}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("cut.blend"), std::string::npos) << r.output;
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  EXPECT_TRUE(agent.process().running()) << "the agent survives a scene Blender refuses";
}

// Debian's Blender is built without OpenImageDenoise: the broker, which would denoise the
// merged frame with it, says so before any agent is asked (none listens at port 9).
TEST(Failure, DenoisingThisBlenderCannotDoIsRefusedBeforeRenderingQuotingBlender) {
  TempDir dir;
  const auto scene = make_scene(dir / "noisy.blend", {"--size", "40x30", "--denoise"});
  tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", "127.0.0.1:9", "--agent-timeout", "5",
                                   "-q", "-o", (dir / "out.png").string()},
                                  {}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("noisy.blend: the scene uses denoising"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cannot denoise: \"Build without OpenImageDenoiser"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("_cycles.with_openimagedenoise is False"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--no-denoise"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  Agent agent;
  r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--no-denoise", "-o",
                  (dir / "out.png").string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out.png"));
}

// Whole-frame compositing works for one view (composite_test.cpp); a stereo frame is refused
// with the reason before anything renders.
TEST(Failure, WholeFrameCompositingOfAStereoFrameIsRefusedWithTheReason) {
  TempDir dir;
  const auto scene = make_scene(dir / "glare.blend", {"--size", "40x30", "--glare", "--stereo"});
  Agent agent;
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-q", "-o",
                                         (dir / "out.png").string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("Glare"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("several views"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  EXPECT_FALSE(fs::exists(dir / "out_L.png"));
}

TEST(Failure, NoAgentAnsweringIsAnErrorNotAHang) {
  TempDir dir;
  const auto scene = make_scene(dir / "s.blend", {"--size", "32x32"});
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", "127.0.0.1:9", "--agent-timeout",
                                         "2", "-q", "-o", (dir / "out.png").string()},
                                        {}, std::chrono::seconds(30));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("did not answer"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
}

TEST(Failure, AgentWithoutBlenderSaysSo) {
  const tools::RunResult r = run_agent({"--blender", "/nonexistent/blender", "--port", "0", "--no-mdns"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("Blender not found"), std::string::npos) << r.output;
}

TEST(Failure, AgentWithSomethingElseAsBlenderSaysSo) {
  const tools::RunResult r = run_agent({"--blender", "/bin/true", "--port", "0", "--no-mdns"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("does not look like Blender"), std::string::npos) << r.output;
}

TEST(Failure, BadFlagsAreOneLineErrorsAndHelpWorks) {
  EXPECT_EQ(run_broker({}).exit_code, 1);
  EXPECT_EQ(run_broker({"a.blend", "--region-width", "zero"}).exit_code, 1);
  EXPECT_EQ(run_agent({"--port", "70000"}).exit_code, 1);
  const tools::RunResult help = run_broker({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--agent HOST:PORT"), std::string::npos);
  EXPECT_EQ(run_agent({"--help"}).exit_code, 0);
}

TEST(Failure, AgentSurvivesHostileMessagesAndStillRenders) {
  TempDir dir;
  Agent agent;
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  agent.connect(socket);  // CURVE, as the test broker: only an authorized peer is read at all
  const std::vector<std::vector<std::string>> garbage = {
      {"hello"},
      {"", "", ""},
      {std::string("\x93\xa3" "bnr\x63\x01", 7), "\xdd\xff\xff\xff\xff", ""},  // huge array, version 99
      {std::string("\x93\xa3" "bnr\x01\x01", 7), std::string("\xdd\xff\xff\xff\xff", 5), ""},
      {std::string("\x93\xa3" "bnr\x01\x04", 7), std::string("\x93\xa1j\x01\x94\x00\x00\xce\xff\xff\xff\xff\x01", 13), ""},
  };
  for (const auto& frames : garbage) {
    for (std::size_t i = 0; i < frames.size(); ++i)
      socket.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
    ASSERT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(5000)), 1) << "no answer to garbage";
    const auto reply = protocol::receive_message(socket, /*router=*/false);
    ASSERT_TRUE(reply && reply->decoded.packet) << (reply ? reply->decoded.error : "nothing");
    const protocol::Decoded& d = reply->decoded;
    EXPECT_TRUE(std::holds_alternative<protocol::Refused>(d.packet->message));
  }
  EXPECT_TRUE(agent.process().running());
  const auto scene = make_scene(dir / "after.blend", {"--size", "32x24"});
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-q", "-o",
                                         (dir / "out.png").string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out.png"));
}

}  // namespace
}  // namespace bnr::testing

namespace bnr::testing {
namespace {

// An agent whose Blender reports another version: a wrapper around the real one.
TEST(Failure, AgentsWithAnotherBlenderVersionAreLeftOutUnlessAllowed) {
  TempDir dir;
  // Blender 3.3.0 to `--version` and to its own Python (bpy.app, which the agent's spare asks).
  const fs::path old_app = dir / "old_app.py";
  std::ofstream(old_app) << "import bpy\nreal = bpy.app\n"
                            "class OldApp:\n    version = (3, 3, 0)\n    version_string = '3.3.0'\n"
                            "    def __getattr__(self, name):\n        return getattr(real, name)\n"
                            "bpy.app = OldApp()\n";
  const fs::path wrapper = dir / "old-blender";
  {
    std::ofstream out(wrapper);
    out << "#!/bin/bash\nif [ \"$1\" = --version ]; then echo 'Blender 3.3.0'; exit 0; fi\n"
           "args=()\nfor a in \"$@\"; do\n  if [ \"$a\" = --python ]; then args+=(--python "
        << old_app << "); fi\n  args+=(\"$a\")\ndone\nexec blender \"${args[@]}\"\n";
  }
  fs::permissions(wrapper, fs::perms::owner_all);
  const auto scene = make_scene(dir / "v.blend", {"--size", "32x24"});
  Agent old_agent(1, {"--blender", wrapper.string()});
  tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", old_agent.endpoint(), "-o",
                                   (dir / "out.png").string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(last_line(r.output).find("Blender 3.3.0, not "), std::string::npos) << r.output;
  // A new scene: the agent rendered it while the listing ran, then this machine's Blender decided.
  EXPECT_NE(r.output.find("its agents run Blender 3.3.0, this machine "), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  r = run_broker({scene.string(), "--no-local", "--agent", old_agent.endpoint(), "--allow-mixed-versions", "-q",
                  "-o", (dir / "out.png").string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out.png"));
}

}  // namespace
}  // namespace bnr::testing
