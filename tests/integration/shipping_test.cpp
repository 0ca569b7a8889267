// Scene shipping: an agent that cannot see the broker's files still renders the broker's
// pixels, gets each file once (its cache answers a re-render), and refuses what could harm it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <zmq.hpp>

#include "content_hash.h"
#include "harness.h"
#include "transport.h"

namespace bnr::testing {
namespace {

// The "N cached, M fetched (B bytes" the broker prints from the agent's JobReady counters: the
// last one, the job that wrote the frame (a job started on a guessed listing may come first).
struct Transfer {
  int cached = -1, fetched = -1;
  long long bytes = -1;
};
Transfer transfer_in(const std::string& output) {
  static const std::regex kLine(R"(scene files: (\d+) cached, (\d+) fetched \((\d+) bytes)");
  Transfer last;
  for (auto it = std::sregex_iterator(output.begin(), output.end(), kLine); it != std::sregex_iterator(); ++it)
    last = {std::stoi((*it)[1]), std::stoi((*it)[2]), std::stoll((*it)[3])};
  return last;
}

TEST(Shipping, ExternalFilesReachAnAgentThatCannotSeeThemAndAreSentOnce) {
  if (!can_hide_directories()) GTEST_SKIP() << "no mount namespaces here: the agent would see the files anyway";
  TempDir dir;  // the broker machine's project: nothing of it is visible to the agent
  const fs::path project = dir / "project";
  make_texture(project / "assets" / "wood.png", 3);
  make_texture(project / "elsewhere" / "stripes.png", 6);
  // A library whose texture is relative to the library and climbs out of its folder; a scene
  // that links the library relatively and uses a texture by absolute path.
  make_scene(project / "lib" / "props.blend", {"--floor-texture", "//../assets/wood.png"});
  const fs::path scene = make_scene(project / "shots" / "scene.blend",
                                    {"--texture", (project / "elsewhere" / "stripes.png").string(), "--link-floor",
                                     "//../lib/props.blend", "--size", "160x90"});
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);

  Agent agent(1, {}, false, {project});
  auto render = [&](const std::string& out) {
    const tools::RunResult r =
        run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-o", (dir / out).string()}, dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  };
  // Never listed before: the agent starts on the .blend alone while this machine's Blender
  // lists the scene, then the job starts again with the library and textures the listing found.
  const std::string first = render("first.png");
  expect_same_png(dir / "first.png", reference[0]);
  EXPECT_NE(first.find("scene.blend: it uses 3 external files, not the 0 guessed; starting again"), std::string::npos)
      << first;
  const Transfer t1 = transfer_in(first);
  EXPECT_EQ(t1.cached, 1) << first;   // the .blend, from the guess
  EXPECT_EQ(t1.fetched, 3) << first;  // library, two textures
  EXPECT_GT(t1.bytes, 0) << first;

  const std::string second = render("second.png");
  const Transfer t2 = transfer_in(second);
  EXPECT_EQ(t2.cached, 4) << second;
  EXPECT_EQ(t2.fetched, 0) << second;
  EXPECT_EQ(t2.bytes, 0) << second;
  expect_same_png(dir / "second.png", reference[0]);

  // An edited scene: only the .blend changed, so only it travels.
  make_scene(scene, {"--texture", (project / "elsewhere" / "stripes.png").string(), "--link-floor",
                     "//../lib/props.blend", "--size", "160x90", "--samples", "8"});
  const std::string third = render("third.png");
  // Its last listing is the guess, and holds: no second start.
  EXPECT_EQ(third.find("starting again"), std::string::npos) << third;
  const Transfer t3 = transfer_in(third);
  EXPECT_EQ(t3.cached, 3) << third;
  EXPECT_EQ(t3.fetched, 1) << third;
  EXPECT_EQ(t3.bytes, static_cast<long long>(fs::file_size(scene))) << third;
}

// A broker speaking to an agent directly, as a hostile one would.
class RawBroker {
 public:
  explicit RawBroker(const Agent& agent) : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    agent.connect(socket_);  // CURVE, with the key the agent authorizes: hostile, not anonymous
  }
  void send(const protocol::Message& m, std::string_view bulk = {}) {
    ASSERT_TRUE(protocol::send_message(socket_, m, bulk));
  }
  // The next message that is not a Heartbeat, within 20 s.
  protocol::Message receive() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(200));
      auto r = protocol::receive_message(socket_, false);
      if (!r || !r->decoded.packet) continue;
      if (std::holds_alternative<protocol::Heartbeat>(r->decoded.packet->message)) continue;
      return r->decoded.packet->message;
    }
    ADD_FAILURE() << "no answer from the agent";
    return protocol::Heartbeat{};
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

std::string failure_reason(const protocol::Message& m) {
  const auto* f = std::get_if<protocol::JobFailed>(&m);
  return f == nullptr ? std::string("(not JobFailed: ") + protocol::kind_name(m) + ")" : f->reason;
}

// The broker's Blender lists a new scene while the agents already render it: here the listing
// waits until the first region is out (a `blender` first on the broker's PATH holds it), and
// the frame is still Blender's.
// A `blender` for the broker's PATH that appends each command line to `log` and, while
// `release` does not exist, holds a scene listing (scene_files.py) back.
fs::path logging_blender(const fs::path& dir, const fs::path& log, const fs::path& release) {
  const tools::RunResult which = tools::run_command({"sh", "-c", "command -v blender"}, std::chrono::seconds(10));
  EXPECT_EQ(which.exit_code, 0) << which.output;
  const std::string real_blender = which.output.substr(0, which.output.find('\n'));
  fs::create_directories(dir / "bin");
  std::ofstream(dir / "bin" / "blender") << "#!/bin/bash\necho \"$*\" >> " << log << "\n"
                                         << "case \" $* \" in *scene_files.py*)\n"
                                         << "  for i in $(seq 600); do [ -e " << release << " ] && break; sleep 0.1; done;;\n"
                                         << "esac\nexec " << real_blender << " \"$@\"\n";
  fs::permissions(dir / "bin" / "blender", fs::perms::owner_all);
  return dir / "bin";
}

std::unique_ptr<tools::ChildProcess> start_broker_with_path(const fs::path& bin, const std::vector<std::string>& args) {
  const std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  setenv("PATH", (bin.string() + ":" + path).c_str(), 1);
  auto broker = start_broker(args);
  setenv("PATH", path.c_str(), 1);
  return broker;
}

std::string file_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Shipping, ANewSceneRendersOnItsGuessWhileTheListingRuns) {
  TempDir dir;
  // A texture that is gone by render time: the agent's Blender finds a file the scene reads
  // (so this machine's listing must run) and the listing finds nothing to send (so the guess,
  // the .blend alone, holds). Blender renders the missing texture as it does on its own.
  make_texture(dir / "gone.png", 3);
  const fs::path scene =
      make_scene(dir / "new.blend", {"--size", "96x54", "--samples", "8", "--texture", (dir / "gone.png").string()});
  fs::remove(dir / "gone.png");
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  const fs::path release = dir / "release-the-listing";
  const fs::path bin = logging_blender(dir.path(), dir / "blender.log", release);

  Agent agent(1);
  auto broker = start_broker_with_path(bin, {scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                             (dir / "out.png").string()});
  std::string output;
  const bool early = wait_for_output(*broker, output, "first region sent", std::chrono::seconds(60));
  std::ofstream(release).put('\n');
  EXPECT_TRUE(early) << "no region before the listing: " << output;
  ASSERT_EQ(wait_for_exit(*broker, output, std::chrono::seconds(120)), 0) << output;
  EXPECT_EQ(output.find("starting again"), std::string::npos) << output;
  EXPECT_NE(file_text(dir / "blender.log").find("scene_files.py"), std::string::npos) << "the listing ran";
  expect_same_png(dir / "out.png", reference[0]);
}

TEST(Shipping, ASceneThatReadsNoOtherFileNeedsNoListingBlenderOnTheBroker) {
  TempDir dir;
  const fs::path scene = make_scene(dir / "alone.blend", {"--size", "96x54", "--samples", "8", "--adaptive"});
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  const fs::path bin = logging_blender(dir.path(), dir / "blender.log", dir / "never");
  Agent agent(1);
  for (int run = 0; run < 2; ++run) {
    const fs::path out = dir / ("out" + std::to_string(run) + ".png");
    auto broker = start_broker_with_path(bin, {scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                               out.string()});
    std::string output;
    // A listing would wait for `never` for a minute: the bound says it did not run.
    ASSERT_EQ(wait_for_exit(*broker, output, std::chrono::seconds(40)), 0) << output;
    EXPECT_EQ(output.find("starting again"), std::string::npos) << output;
    const std::string calls = file_text(dir / "blender.log");
    EXPECT_EQ(calls.find("scene_files.py"), std::string::npos) << calls;
    EXPECT_NE(calls.find("--version"), std::string::npos) << "this machine's version judges the agent's: " << calls;
    expect_same_png(out, reference[0]);
  }
}

TEST(Shipping, AgentRefusesPathsThatLeaveItsCacheAndBytesThatDoNotMatchTheirHash) {
  TempDir cache;
  Agent agent(1, {"--cache-dir", cache.path().string()});
  RawBroker broker(agent);
  const std::string bytes = "not really a blend file";
  const std::string hash = tools::content_hash(bytes);

  for (const std::string path : {"../../escape.blend", "a/../../b.blend", "/etc/x.blend", "a//b.blend"}) {
    protocol::OpenJob open{"j-" + std::to_string(path.size()), "evil.blend"};
    open.files = {{path, bytes.size(), hash}};
    broker.send(open);
    const std::string why = failure_reason(broker.receive());
    EXPECT_NE(why.find("could leave the cache directory"), std::string::npos) << path << ": " << why;
  }

  protocol::OpenJob open{"j-lie", "lie.blend"};
  open.files = {{"home/u/lie.blend", bytes.size(), hash}};
  broker.send(open);
  const protocol::Message asked = broker.receive();
  ASSERT_TRUE(std::holds_alternative<protocol::FetchChunk>(asked)) << protocol::kind_name(asked);
  const auto& fetch = std::get<protocol::FetchChunk>(asked);
  EXPECT_EQ(fetch.hash, hash);
  EXPECT_EQ(fetch.offset, 0U);
  EXPECT_EQ(fetch.length, bytes.size());
  std::string forged = bytes;
  forged[0] = 'N';
  broker.send(protocol::FileChunk{"j-lie", hash, 0}, forged);
  const std::string why = failure_reason(broker.receive());
  EXPECT_NE(why.find("does not match its content hash"), std::string::npos) << why;
  // Nothing unverified stays behind, and nothing was written outside the cache.
  EXPECT_FALSE(fs::exists(cache / "blobs" / hash));
  EXPECT_TRUE(fs::is_empty(cache / "partial"));
  EXPECT_FALSE(fs::exists(cache.path().parent_path() / "escape.blend"));
  EXPECT_TRUE(agent.process().running());
}

// The broker went away half-way through a file: the next job that needs the file (another run
// of the same scene) resumes the transfer where it stopped, and the agent checks the whole.
TEST(Shipping, AnInterruptedTransferResumesWhereItStoppedInTheNextJob) {
  TempDir cache;
  Agent agent(1, {"--cache-dir", cache.path().string()});
  std::string bytes(3 * (1 << 20) + 12345, '\0');  // four of the agent's 1 MiB chunks
  std::mt19937 random(7);
  for (char& c : bytes) c = static_cast<char>(random());
  const std::string hash = tools::content_hash(bytes);
  RawBroker broker(agent);  // one connection: the agent reads its messages in order
  const auto next_fetch = [&](const std::string& job) -> std::optional<protocol::FetchChunk> {
    for (int i = 0; i < 64; ++i) {
      const protocol::Message m = broker.receive();
      if (const auto* f = std::get_if<protocol::FetchChunk>(&m); f != nullptr && f->job_id == job) return *f;
      if (std::holds_alternative<protocol::JobFailed>(m) || std::holds_alternative<protocol::Heartbeat>(m))
        return std::nullopt;  // failed, or receive() gave up
    }
    return std::nullopt;
  };
  const auto answer = [&](const protocol::FetchChunk& f) {
    broker.send(protocol::FileChunk{f.job_id, f.hash, f.offset}, std::string_view(bytes).substr(f.offset, f.length));
  };

  protocol::OpenJob first{"j-first", "big.blend"};
  first.files = {{"home/u/big.blend", bytes.size(), hash}};
  broker.send(first);
  const auto asked = next_fetch("j-first");
  ASSERT_TRUE(asked);
  EXPECT_EQ(asked->offset, 0U);
  answer(*asked);
  broker.send(protocol::CloseJob{"j-first"});  // the broker stopped after one chunk

  protocol::OpenJob second = first;
  second.job_id = "j-second";
  broker.send(second);
  auto fetch = next_fetch("j-second");
  ASSERT_TRUE(fetch);
  EXPECT_EQ(fetch->offset, asked->length) << "the chunk the agent has is not asked for again";
  std::uint64_t asked_for = 0;
  while (fetch) {
    asked_for += fetch->length;
    answer(*fetch);
    if (fetch->offset + fetch->length == bytes.size()) break;
    fetch = next_fetch("j-second");
  }
  EXPECT_EQ(asked_for, bytes.size() - asked->length);
  // Verified and cached: once the agent opens the "scene" (not a real .blend) it fails the job.
  for (int i = 0; i < 50 && !fs::exists(cache / "blobs" / hash); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(cache / "blobs" / hash));
  EXPECT_EQ(file_text(cache / "blobs" / hash), bytes);
  EXPECT_TRUE(fs::is_empty(cache / "partial"));
  EXPECT_TRUE(agent.process().running());
}

}  // namespace
}  // namespace bnr::testing
