#include "broker_flags.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace bnr::broker {
namespace {

struct Parsed {
  FlagAction action = FlagAction::kRun;
  BrokerFlags flags;
};

Parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), "bnr-broker");
  Parsed p;
  p.action = parse_broker_flags(static_cast<int>(args.size()), args.data(), p.flags);
  return p;
}

std::string error_of(std::vector<const char*> args) {
  try {
    (void)parse(std::move(args));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(BrokerFlags, ScenesAndValuesLandInTheirFieldsAndDefaultsStay) {
  const Parsed p = parse({"a.blend", "--frame", "-3", "--agent", "hostx", "--agent", "h:9", "--agent", "hostx:7300",
                          "-o", "out.png", "--region-timeout", "30", "--no-mdns", "-q"});
  EXPECT_EQ(p.action, FlagAction::kRun);
  EXPECT_EQ(p.flags.scenes, (std::vector<std::string>{"a.blend"}));
  EXPECT_EQ(p.flags.frame, -3);
  // The default port is added, and an agent given twice is one agent.
  EXPECT_EQ(p.flags.agents, (std::vector<std::string>{"hostx:7300", "h:9"}));
  EXPECT_EQ(p.flags.output, "out.png");
  EXPECT_EQ(p.flags.region_timeout_s, 30);
  EXPECT_FALSE(p.flags.mdns);
  EXPECT_TRUE(p.flags.quiet);
  EXPECT_TRUE(p.flags.local);
  EXPECT_EQ(p.flags.agent_timeout_s, 10);
  EXPECT_EQ(p.flags.bands, 0);
}

TEST(BrokerFlags, AnAgentKeyAfterTheFirstAtSignIsCheckedAndKept) {
  const std::string key(40, 'a');
  const std::string with_key = "10.0.0.2:7301@" + key;
  const Parsed p = parse({"a.blend", "--agent", with_key.c_str()});
  EXPECT_EQ(p.flags.agents, (std::vector<std::string>{"10.0.0.2:7301"}));
  EXPECT_EQ(p.flags.agent_keys.at("10.0.0.2:7301"), key);
  EXPECT_NE(error_of({"a.blend", "--agent", "h@short"}).find("is not an agent's public key"), std::string::npos);
}

TEST(BrokerFlags, PrintingFlagsReturnTheirActionAtOnce) {
  EXPECT_EQ(parse({"--help"}).action, FlagAction::kHelp);
  EXPECT_EQ(parse({"a.blend", "-h", "--bogus"}).action, FlagAction::kHelp);
  EXPECT_EQ(parse({"--show-key"}).action, FlagAction::kShowKey);
  EXPECT_EQ(parse({"--join-token"}).action, FlagAction::kJoinToken);
  EXPECT_NE(std::string(broker_usage()).find("usage: bnr-broker SCENE.blend"), std::string::npos);
}

TEST(BrokerFlags, BadInputIsOneLineThatSaysWhatToDo) {
  EXPECT_EQ(error_of({}), "no scene given (usage: bnr-broker SCENE.blend..., see --help)");
  EXPECT_EQ(error_of({"a.blend", "--bogus"}), "unknown option '--bogus' (see --help)");
  EXPECT_EQ(error_of({"a.blend", "--frame"}), "--frame needs a value");
  EXPECT_NE(error_of({"a.blend", "--bands", "0"}), "");
  EXPECT_NE(error_of({"a.blend", "b.blend", "-o", "x.png"}).find("give one scene"), std::string::npos);
  EXPECT_NE(error_of({"a.blend", "--no-local", "--no-mdns"}).find("nothing to render on"), std::string::npos);
  for (const std::string& e : {error_of({"a.blend", "--region-width", "x"}), error_of({"--bogus"})})
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(BrokerFlags, ListCheckAndForgetNeedNoScene) {
  EXPECT_TRUE(parse({"--list"}).flags.list);
  EXPECT_TRUE(parse({"--check", "--agent", "h"}).flags.check);
  EXPECT_TRUE(parse({"--forget-speeds"}).flags.forget_speeds);
  EXPECT_TRUE(parse({"--benchmark"}).flags.benchmark);
}

TEST(BrokerFlags, FlagsBeforeABadOneStillApply) {
  // --json is read before the error, so the error can be written to it.
  BrokerFlags flags;
  const char* args[] = {"bnr-broker", "--json", "out.json", "--bogus"};
  EXPECT_THROW((void)parse_broker_flags(4, args, flags), std::runtime_error);
  EXPECT_EQ(flags.json, "out.json");
}

}  // namespace
}  // namespace bnr::broker
