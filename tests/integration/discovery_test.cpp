// mDNS discovery end to end: MdnsAdvert (the agent's side) registers with a real avahi-daemon
// that only uses loopback, browse_agents (the broker's side) finds it.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "avahi_harness.h"
#include "mdns_advert.h"
#include "mdns_browse.h"
#include "harness.h"
#include "image_compare.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

using namespace std::chrono_literals;

// On loopback a registered agent was found by every browse of 30 ms or more (50 of 50), never
// by one of 20 ms: the time is D-Bus round trips for the browse, resolve and address query.
// 1 s leaves a loaded machine a wide margin.
constexpr auto kBrowseWindow = 1000ms;
// A withdrawn service stays in the daemon's cache for 1 s after its goodbye (RFC 6762 10.1),
// so a browse that should no longer see it must outlast that: it then sees it come and go.
constexpr auto kPastGoodbyeWindow = 2500ms;

protocol::AgentInfo agent_info(const std::string& suffix, int threads) {
  protocol::AgentInfo info;
  info.name = "bnr-test-" + std::to_string(getpid()) + "-" + suffix;
  info.agent_id = "id-" + std::to_string(getpid()) + "-" + suffix;
  info.threads = threads;
  info.blender_version = "3.4.1";
  return info;
}

// Runs the advert's part of an agent's poll loop until it is registered or fails.
void wait_registered(agent::MdnsAdvert& advert, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!advert.registered() && !advert.failed()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) throw std::runtime_error("mDNS registration did not complete");
    pollfd p{advert.fd(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) > 0) (void)advert.process();
  }
  if (advert.failed()) throw std::runtime_error("mDNS registration failed");
}

std::optional<broker::DiscoveredAgent> find(const std::vector<broker::DiscoveredAgent>& agents,
                                            const std::string& service_name) {
  const auto it = std::find_if(agents.begin(), agents.end(),
                               [&](const broker::DiscoveredAgent& a) { return a.service_name == service_name; });
  if (it == agents.end()) return std::nullopt;
  return *it;
}

TEST(Discovery, AvahiJoinsTheMulticastGroupOnLoopbackOnly) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  if (avahi->reused()) GTEST_SKIP() << "reusing a running lo-only avahi-daemon: its log is not ours to read";
  EXPECT_EQ(avahi->joined_interfaces(), std::vector<std::string>{"lo.IPv4"}) << avahi->avahi_log();
}

TEST(Discovery, BrowseFindsAnAdvertisedAgentWithItsPortAndTxt) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  const protocol::AgentInfo info = agent_info("a", 6);
  agent::MdnsAdvert advert(info, 47301);
  wait_registered(advert);
  EXPECT_EQ(advert.name(), info.name);

  std::string error;
  const auto agents = broker::browse_agents(kBrowseWindow, &error);
  EXPECT_EQ(error, "");
  const auto found = find(agents, info.name);
  ASSERT_TRUE(found) << agents.size() << " agents found, not ours\n" << avahi->avahi_log();
  EXPECT_EQ(found->port, 47301);
  EXPECT_EQ(found->address, "127.0.0.1");
  EXPECT_EQ(found->endpoint(), "127.0.0.1:47301");
  EXPECT_FALSE(found->host.empty());
  EXPECT_EQ(found->txt.protocol_version, protocol::kProtocolVersion);
  EXPECT_EQ(found->txt.info.name, info.name);
  EXPECT_EQ(found->txt.info.agent_id, info.agent_id);
  EXPECT_EQ(found->txt.info.threads, 6);
  EXPECT_EQ(found->txt.info.blender_version, "3.4.1");
}

TEST(Discovery, TwoAgentsWithDifferentNamesAreBothFoundOnce) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  const protocol::AgentInfo first = agent_info("first", 2);
  const protocol::AgentInfo second = agent_info("second", 0);
  agent::MdnsAdvert advert_first(first, 47302);
  agent::MdnsAdvert advert_second(second, 47303);
  wait_registered(advert_first);
  wait_registered(advert_second);

  const auto agents = broker::browse_agents(kBrowseWindow);
  const auto a = find(agents, first.name);
  const auto b = find(agents, second.name);
  ASSERT_TRUE(a && b) << agents.size() << " agents found\n" << avahi->avahi_log();
  EXPECT_EQ(a->port, 47302);
  EXPECT_EQ(b->port, 47303);
  EXPECT_EQ(a->txt.info.agent_id, first.agent_id);
  EXPECT_EQ(b->txt.info.agent_id, second.agent_id);
  EXPECT_EQ(b->txt.info.threads, 0);
  EXPECT_EQ(std::count_if(agents.begin(), agents.end(),
                          [&](const broker::DiscoveredAgent& x) { return x.service_name == first.name; }),
            1);
}

TEST(Discovery, ASecondAdvertWithTheSameNameIsRenamed) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  const protocol::AgentInfo info = agent_info("same", 1);
  agent::MdnsAdvert first(info, 47304);
  wait_registered(first);
  agent::MdnsAdvert second(info, 47305);
  wait_registered(second);
  EXPECT_EQ(first.name(), info.name);
  EXPECT_NE(second.name(), info.name);

  const auto agents = broker::browse_agents(kBrowseWindow);
  const auto a = find(agents, first.name());
  const auto b = find(agents, second.name());
  ASSERT_TRUE(a && b) << agents.size() << " agents found\n" << avahi->avahi_log();
  EXPECT_EQ(a->port, 47304);
  EXPECT_EQ(b->port, 47305);
  EXPECT_EQ(b->txt.info.name, info.name);  // the TXT keeps the configured name
}

TEST(Discovery, AWithdrawnAdvertIsNotFoundByAFreshBrowse) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  const protocol::AgentInfo staying = agent_info("staying", 1);
  const protocol::AgentInfo leaving = agent_info("leaving", 1);
  agent::MdnsAdvert advert_staying(staying, 47306);
  wait_registered(advert_staying);
  auto advert_leaving = std::make_unique<agent::MdnsAdvert>(leaving, 47307);
  wait_registered(*advert_leaving);
  ASSERT_TRUE(find(broker::browse_agents(kBrowseWindow), leaving.name)) << avahi->avahi_log();

  advert_leaving.reset();
  const auto agents = broker::browse_agents(kPastGoodbyeWindow);
  EXPECT_FALSE(find(agents, leaving.name));
  EXPECT_TRUE(find(agents, staying.name));
}

TEST(Discovery, WithoutAvahiTheAdvertAndTheBrowseSayWhyInOneLine) {
  const auto bus_only = std::make_unique<AvahiHarness>(/*start_avahi=*/false);
  if (!bus_only->skip_reason().empty()) GTEST_SKIP() << bus_only->skip_reason();
  try {
    agent::MdnsAdvert advert(agent_info("alone", 1), 47308);
    FAIL() << "registered without avahi-daemon";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("mDNS unavailable: is avahi-daemon running?", 0), 0U) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  std::string error;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(broker::browse_agents(kBrowseWindow, &error).empty());
  EXPECT_LT(std::chrono::steady_clock::now() - started, kBrowseWindow);  // no waiting for nothing
  EXPECT_EQ(error.rfind("mDNS unavailable: is avahi-daemon running?", 0), 0U) << error;
}

// The whole path: agents advertise themselves, the broker finds them and renders with no
// --agent at all, and the image is Blender's.
TEST(Discovery, BrokerFindsAdvertisedAgentsAndRendersWithoutAnyAgentFlag) {
  auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  TempDir dir;
  const auto scene = make_scene(dir / "lan.blend", {"--size", "96x64"});
  Agent first(1, {"--name", "first"}, /*advertise=*/true);
  Agent second(1, {"--name", "second"}, /*advertise=*/true);
  // Avahi probes a new name for about a second before it answers for it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (broker::browse_agents(std::chrono::milliseconds(300)).size() < 2 &&
         std::chrono::steady_clock::now() < deadline) {
  }
  const tools::RunResult r = tools::run_command(
      {BNR_BROKER_EXE, scene.string(), "--no-local", "--mdns-window", "1000", "-o", (dir / "out.png").string()},
      std::chrono::seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("found 2 agents"), std::string::npos) << r.output;
  // Both found agents were contacted: the summary has a row for each. (Which of them renders
  // how much is the scheduler's business: on a frame this small one may do it all.)
  int agent_rows = 0;
  const std::size_t table = r.output.find("\n  agent ");
  ASSERT_NE(table, std::string::npos) << r.output;
  for (std::size_t line = r.output.find('\n', table + 1); line != std::string::npos;
       line = r.output.find('\n', line + 1)) {
    const std::string row = r.output.substr(line + 1, r.output.find('\n', line + 1) - line - 1);
    agent_rows += row.find("127.0.0.1:") != std::string::npos;
  }
  EXPECT_EQ(agent_rows, 2) << r.output;
  const auto reference = blender_reference(scene, dir / "ref");
  const tools::ImageDifference d =
      tools::compare(tools::read_png(dir / "out.png"), tools::read_png(reference.at(0)), 3 * 257);
  EXPECT_EQ(d.pixels_over, 0) << tools::describe(d, 3 * 257);
}

}  // namespace
}  // namespace bnr::testing

namespace bnr::testing {
namespace {

TEST(Discovery, AnAgentStartedMidRenderJoinsTheJob) {
  auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  TempDir dir;
  // Long enough (about 16 s on one thread of this 2-core VM; 160 samples took 8 s, and a late
  // agent that took 3 s to be ready found the frame done) that a late agent still finds work.
  const auto scene = make_scene(dir / "late.blend", {"--size", "320x180", "--samples", "320"});
  Agent early(1, {"--name", "early"}, /*advertise=*/true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (broker::browse_agents(std::chrono::milliseconds(300)).empty() && std::chrono::steady_clock::now() < deadline) {
  }
  auto broker = start_broker({scene.string(), "--no-local", "--mdns-window", "1000", "--region-width", "16", "-o",
                               (dir / "out.png").string()},
                              /*mdns=*/true);
  std::string output;
  ASSERT_TRUE(wait_for_output(*broker, output, "rendering late.blend", std::chrono::seconds(60))) << output;
  Agent late(1, {"--name", "late"}, /*advertise=*/true);
  ASSERT_TRUE(wait_for_output(*broker, output, "it joins the job", std::chrono::seconds(30))) << output;
  const int status = broker->wait_or_kill(std::chrono::seconds(120));
  (void)tools::read_available(broker->stdout_fd(), output);
  ASSERT_EQ(status, 0) << output;
  // The late agent rendered part of the frame: its row in the summary has regions.
  const std::size_t row = output.rfind("late (127.0.0.1:");  // the summary table comes last
  ASSERT_NE(row, std::string::npos) << output;
  const std::string line = output.substr(row, output.find('\n', row) - row);
  std::istringstream fields(line.substr(line.find(')') + 1));
  int regions = 0;
  fields >> regions;
  EXPECT_GT(regions, 0) << output;
  const auto reference = blender_reference(scene, dir / "ref");
  expect_same_png(dir / "out.png", reference.at(0));
}

}  // namespace
}  // namespace bnr::testing
