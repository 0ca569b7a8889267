// Joining a farm end to end, with a real avahi-daemon on loopback: bnr-broker --join-token,
// bnr-agent --join TOKEN, and a broker that renders on joined agents only. A rogue advert (an
// agent that did not join, or a hand-made advert with a copied proof) gets nothing: the
// broker never connects to it, though that agent would serve the broker if asked.
#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "avahi_harness.h"
#include "farm_files.h"
#include "farm_join.h"
#include "harness.h"
#include "mdns_advert.h"
#include "mdns_browse.h"

namespace bnr::testing {
namespace {

using namespace std::chrono_literals;

// Short: the summary table shows the first 28 characters of "NAME (ADDRESS)".
std::string unique(const std::string& what) { return what + "-" + std::to_string(getpid()); }

// Waits until a browse finds every name in `names` (Avahi probes a new name for about 1 s);
// returns what the last browse found.
std::vector<broker::DiscoveredAgent> wait_advertised(const std::set<std::string>& names) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::vector<broker::DiscoveredAgent> found;
  while (std::chrono::steady_clock::now() < deadline) {
    found = broker::browse_agents(300ms);
    std::set<std::string> seen;
    for (const auto& a : found) seen.insert(a.txt.info.name);
    if (std::includes(seen.begin(), seen.end(), names.begin(), names.end())) break;
  }
  return found;
}

const broker::DiscoveredAgent* named(const std::vector<broker::DiscoveredAgent>& found, const std::string& name) {
  for (const auto& a : found)
    if (a.txt.info.name == name) return &a;
  return nullptr;
}

void wait_registered(agent::MdnsAdvert& advert) {
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!advert.registered() && !advert.failed() && std::chrono::steady_clock::now() < deadline) {
    pollfd p{advert.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) > 0) (void)advert.process();
  }
  ASSERT_TRUE(advert.registered());
}

// bnr-broker with mDNS on, in the test config directory (the test broker's key and farm).
tools::RunResult run_lan_broker(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BNR_BROKER_EXE, "--mdns-window", "1500"};
  argv.insert(argv.end(), args.begin(), args.end());
  return tools::run_command(argv, 180s);
}

// The summary row of the agent named `name`: its region count, -1 when it has no row. The row
// starts with two spaces and "NAME (ADDRESS)" cut to 28 characters.
int summary_regions(const std::string& output, const std::string& name) {
  const std::size_t row = output.rfind("\n  " + name + " (127.0.0.1:");
  if (row == std::string::npos) return -1;
  const std::string line = output.substr(row + 1, output.find('\n', row + 1) - row - 1);
  std::istringstream fields(line.substr(2 + 28));  // after the indent and the name column
  int regions = -1;
  fields >> regions;
  return regions;
}

// A rogue agent: it serves the test broker (it authorized its key) but never joined its farm,
// and keeps its own config directory, so it holds no farm secret.
AgentOptions rogue_options(const TempDir& config, const std::string& name) {
  AgentOptions o;
  o.advertise = true;
  o.log = true;
  o.join_test_broker = false;
  o.config_dir = config.path();
  o.extra = {"--name", name};
  return o;
}

void expect_untouched(Agent& rogue) {
  const std::string& log = rogue.log();
  EXPECT_EQ(log.find("authenticated"), std::string::npos) << "the broker connected to it:\n" << log;
  EXPECT_EQ(log.find("job "), std::string::npos) << "it received a job:\n" << log;
}

TEST(Join, TheTokenJoinsAnAgentAndARogueAdvertGetsNothingNotEvenAConnection) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  TempDir dir;
  const auto scene = make_scene(dir / "farm.blend", {"--size", "64x48"});

  // The set-up as README gives it: one token from the broker, one --join per machine.
  const tools::RunResult minted = tools::run_command({BNR_BROKER_EXE, "--join-token"}, 30s);
  ASSERT_EQ(minted.exit_code, 0) << minted.output;
  const std::size_t at = minted.output.find(protocol::kJoinTokenPrefix);
  ASSERT_NE(at, std::string::npos) << minted.output;
  const std::string token = minted.output.substr(at, protocol::kJoinTokenChars);
  EXPECT_EQ(token, test_join_token()) << "the same farm secret every time";
  EXPECT_NE(minted.output.find("bnr-agent --join TOKEN"), std::string::npos) << minted.output;

  TempDir joined_config("bnr-joined-config");
  AgentOptions joined_options;
  joined_options.advertise = true;
  joined_options.log = true;
  joined_options.authorize_test_broker = false;  // --join alone authorizes the broker
  joined_options.join_test_broker = false;
  joined_options.config_dir = joined_config.path();
  joined_options.extra = {"--name", unique("joined"), "--join", token};
  Agent joined(joined_options);

  TempDir rogue_config("bnr-rogue-config");
  Agent rogue(rogue_options(rogue_config, unique("rogue")));

  const auto found = wait_advertised({unique("joined"), unique("rogue")});
  const broker::DiscoveredAgent* real = named(found, unique("joined"));
  ASSERT_NE(real, nullptr) << avahi->avahi_log();
  ASSERT_NE(named(found, unique("rogue")), nullptr) << avahi->avahi_log();
  EXPECT_FALSE(real->txt.join_proofs.empty()) << "the joined agent's advert carries its proof";
  // A hand-made advert that copies the joined agent's proof beside the rogue's key and port.
  protocol::AgentInfo copied = real->txt.info;
  copied.name = unique("copied");
  copied.agent_id = unique("copied-id");
  agent::MdnsAdvert copy(copied, rogue.port(), rogue.key(), real->txt.join_proofs);
  wait_registered(copy);
  ASSERT_NE(named(wait_advertised({unique("copied")}), unique("copied")), nullptr);

  const tools::RunResult list = run_lan_broker({"--list"});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("not joined: " + unique("rogue") + " at 127.0.0.1:" + std::to_string(rogue.port()) +
                             ": it has not joined this broker's farm"),
            std::string::npos)
      << list.output;
  EXPECT_NE(list.output.find("not joined: " + unique("copied")), std::string::npos) << list.output;
  const std::size_t row = list.output.find("\n" + unique("joined") + " ");
  ASSERT_NE(row, std::string::npos) << list.output;
  const std::string joined_row = list.output.substr(row + 1, list.output.find('\n', row + 1) - row - 1);
  EXPECT_NE(joined_row.find(" joined "), std::string::npos) << joined_row;
  EXPECT_EQ(joined_row.find("not joined"), std::string::npos) << joined_row;

  const tools::RunResult r = run_lan_broker({scene.string(), "--no-local", "-o", (dir / "out.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("skipping agent " + unique("rogue") + " at 127.0.0.1:" + std::to_string(rogue.port()) +
                          ": it has not joined this broker's farm"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("skipping agent " + unique("copied") + " at 127.0.0.1:" + std::to_string(rogue.port()) +
                          ": its join proof is not for this broker's farm and its key"),
            std::string::npos)
      << r.output;
  EXPECT_GT(summary_regions(r.output, unique("joined")), 0) << r.output;
  EXPECT_EQ(summary_regions(r.output, unique("rogue")), -1) << r.output;
  expect_same_png(dir / "out.png", blender_reference(scene, dir / "ref").at(0));
  expect_untouched(rogue);
  EXPECT_NE(joined.log().find("authenticated"), std::string::npos) << joined.log();
}

TEST(Join, TrustNewAgentsUsesAnAgentThatDidNotJoinWithAWarning) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  TempDir dir;
  const auto scene = make_scene(dir / "open.blend", {"--size", "48x32"});
  TempDir config("bnr-new-config");
  Agent newcomer(rogue_options(config, unique("new")));
  ASSERT_NE(named(wait_advertised({unique("new")}), unique("new")), nullptr) << avahi->avahi_log();

  const tools::RunResult r =
      run_lan_broker({scene.string(), "--no-local", "--trust-new-agents", "-o", (dir / "out.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: --trust-new-agents:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("warning: using agent " + unique("new") + " at 127.0.0.1:" +
                          std::to_string(newcomer.port()) + ", which has not joined this broker's farm"),
            std::string::npos)
      << r.output;
  EXPECT_GT(summary_regions(r.output, unique("new")), 0) << r.output;
  expect_same_png(dir / "out.png", blender_reference(scene, dir / "ref").at(0));
}

// bnr-agent --join on a machine whose agent already runs: the new process cannot take the
// port, but the running agent's advert takes up the farm without a restart.
TEST(Join, ARunningAgentTakesUpAJoinWithoutARestart) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  TempDir config("bnr-later-config");
  Agent running(rogue_options(config, unique("later")));
  const auto before = wait_advertised({unique("later")});
  ASSERT_NE(named(before, unique("later")), nullptr) << avahi->avahi_log();
  EXPECT_EQ(named(before, unique("later"))->txt.join_proofs, "");

  const tools::RunResult r = tools::run_command({"env", "BNR_CONFIG_DIR=" + config.path().string(), BNR_AGENT_EXE,
                                                 "--join", test_join_token(), "--bind", "127.0.0.1", "--port",
                                                 std::to_string(running.port()), "--no-mdns"},
                                                60s);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("bnr-agent: joined the farm of broker " + protocol::short_key(test_broker_keys().public_key)),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("; the farm is joined all the same"), std::string::npos) << r.output;

  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::string proofs;
  while (proofs.empty() && std::chrono::steady_clock::now() < deadline) {
    const auto found = broker::browse_agents(300ms);
    if (const auto* later = named(found, unique("later"))) proofs = later->txt.join_proofs;
  }
  EXPECT_TRUE(protocol::proves_farm(proofs, protocol::load_or_create_farm_secret(test_config_dir() / "farm.secret"),
                                    running.key()))
      << "advert: '" << proofs << "'\n" << running.log();
  EXPECT_NE(running.log().find("mDNS: the advert now carries the farms in joined_farms"), std::string::npos)
      << running.log();
  const tools::RunResult list = run_lan_broker({"--list"});
  const std::size_t row = list.output.find("\n" + unique("later") + " ");
  ASSERT_NE(row, std::string::npos) << list.output;
  EXPECT_EQ(list.output.substr(row, list.output.find('\n', row + 1) - row).find("not joined"), std::string::npos)
      << list.output;
}

// An agent skipped at the start of a render that joins meanwhile joins the job too.
TEST(Join, AnAgentThatJoinsMidRenderJoinsTheJob) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  TempDir dir;
  // Long enough (about 15 s on one thread) that the late one still finds work.
  const auto scene = make_scene(dir / "long.blend", {"--size", "320x180", "--samples", "160"});
  AgentOptions early_options;
  early_options.advertise = true;
  early_options.extra = {"--name", unique("early")};
  Agent early(early_options);
  TempDir config("bnr-outsider-config");
  Agent outsider(rogue_options(config, unique("outsider")));
  ASSERT_EQ(wait_advertised({unique("early"), unique("outsider")}).size() >= 2, true) << avahi->avahi_log();

  auto broker = start_broker({scene.string(), "--no-local", "--mdns-window", "1000", "--region-width", "16", "-o",
                              (dir / "out.png").string()},
                             /*mdns=*/true);
  std::string output;
  ASSERT_TRUE(wait_for_output(*broker, output, "rendering long.blend", 60s)) << output;
  EXPECT_NE(output.find("skipping agent " + unique("outsider")), std::string::npos) << output;
  const tools::RunResult joined = tools::run_command({"env", "BNR_CONFIG_DIR=" + config.path().string(), BNR_AGENT_EXE,
                                                      "--join", test_join_token(), "--bind", "127.0.0.1", "--port",
                                                      std::to_string(outsider.port()), "--no-mdns"},
                                                     60s);
  EXPECT_NE(joined.output.find("the farm is joined all the same"), std::string::npos) << joined.output;
  ASSERT_TRUE(wait_for_output(*broker, output, "127.0.0.1:" + std::to_string(outsider.port()) +
                                                   " appeared on the LAN; it joins the job",
                              30s))
      << output;
  const int status = broker->wait_or_kill(120s);
  (void)tools::read_available(broker->stdout_fd(), output);
  ASSERT_EQ(status, 0) << output;
  EXPECT_NE(outsider.log().find("authenticated"), std::string::npos) << outsider.log();
  expect_same_png(dir / "out.png", blender_reference(scene, dir / "ref").at(0));
}

TEST(Join, AMistypedTokenIsAOneLineErrorAndJoinsNothing) {
  std::string token = test_join_token();
  token[20] = token[20] == 'a' ? 'b' : 'a';
  TempDir config("bnr-typo-config");
  const tools::RunResult r =
      tools::run_command({"env", "BNR_CONFIG_DIR=" + config.path().string(), BNR_AGENT_EXE, "--join", token}, 30s);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output,
            "bnr-agent: --join: the join token's checksum does not match: a character was mistyped or changed "
            "(bnr-broker --join-token prints one)\n");
  EXPECT_FALSE(fs::exists(config / "joined_farms"));
  EXPECT_FALSE(fs::exists(config / "authorized_brokers"));
}

}  // namespace
}  // namespace bnr::testing
