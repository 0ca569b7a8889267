// A rogue machine on the LAN advertises _bnr._tcp with a key of its own and no proof that it
// joined the broker's farm: it must receive nothing, not even the scene's manifest, while the
// broker renders Blender's image on a real agent it found on the LAN too.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <memory>
#include <sstream>

#include "avahi_harness.h"
#include "fake_agent.h"
#include "harness.h"
#include "mdns_advert.h"

namespace bnr::testing {
namespace {

using namespace std::chrono_literals;

// The lines of `text` that mention `name`.
std::string lines_naming(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  std::string out;
  while (std::getline(in, line))
    if (line.find(name) != std::string::npos) out += line + "\n";
  return out;
}

TEST(ChaosRogue, AnAdvertWithoutAJoinProofReceivesNothingAndTheFrameEqualsBlenders) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  TempDir dir;
  // Long enough (a few seconds) that the broker's browse during the job surely sees the advert.
  const auto scene = make_scene(dir / "lan.blend", {"--size", "96x54", "--samples", "48"});
  AgentOptions options;  // advertised, and joined to the test broker's farm where farms exist
  options.advertise = true;
  options.extra = {"--name", "bnr-real-" + std::to_string(getpid())};
  Agent agent(options);
  // The rogue answers nothing: whatever reaches it is recorded.
  FakeAgent rogue([](const protocol::Message&) { return std::vector<FakeAgent::Reply>{}; });
  protocol::AgentInfo info;
  info.name = "bnr-rogue-" + std::to_string(getpid());
  info.agent_id = "rogue-" + std::to_string(getpid());
  info.threads = 64;  // the fastest-looking machine on the LAN
  info.blender_version = "3.4.1";
  agent::MdnsAdvert advert(info, rogue.port(), rogue.key());
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!advert.registered() && !advert.failed() && std::chrono::steady_clock::now() < deadline) {
    pollfd p{advert.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) > 0) (void)advert.process();
  }
  ASSERT_TRUE(advert.registered()) << avahi->avahi_log();

  const tools::RunResult list = tools::run_command({BNR_BROKER_EXE, "--list", "--mdns-window", "1000"}, 60s);
  EXPECT_EQ(list.exit_code, 0) << list.output;
  const std::string listed = lines_naming(list.output, info.name);
  EXPECT_NE(listed, "") << "the rogue advert was not seen at all: " << list.output;
  EXPECT_NE(listed.find("not joined"), std::string::npos) << list.output;

  const tools::RunResult r = tools::run_command({BNR_BROKER_EXE, "--mdns-window", "2000", scene.string(), "--no-local",
                                                 "--region-width", "8", "-o", (dir / "ours.png").string()},
                                                120s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(agent.address()), std::string::npos) << "the real agent was not used: " << r.output;
  expect_same_png(dir / "ours.png", blender_reference(scene, dir / "ref").at(0));
  std::string got;
  for (const std::string& kind : rogue.received()) got += kind + " ";
  EXPECT_EQ(got, "") << "the rogue received messages:\n" << r.output;
}

}  // namespace
}  // namespace bnr::testing
