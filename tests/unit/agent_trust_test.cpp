#include "agent_trust.h"

#include <gtest/gtest.h>

#include <string>

#include "curve_auth.h"
#include "farm_join.h"

namespace bnr::broker {
namespace {

using protocol::KnownKind;

constexpr const char* kEndpoint = "10.0.0.7:7300";
constexpr const char* kKnownFile = "/cfg/known_agents";

struct Farm {
  std::string secret = protocol::make_farm_secret();
  TrustPolicy policy() const { return TrustPolicy{secret, false, {}}; }
};

protocol::AgentTxt advert(const std::string& key, const std::string& proofs = {}) {
  protocol::AgentTxt txt;
  txt.protocol_version = protocol::kProtocolVersion;
  txt.info.name = "render-07";
  txt.info.agent_id = "host/abc";
  txt.curve_key = key;
  txt.join_proofs = proofs;
  return txt;
}

std::string proof(const std::string& secret, const std::string& key) {
  return protocol::join_proofs({{protocol::make_key_pair().public_key, secret}}, key);
}

TEST(AgentTrust, AnAgentThatJoinedTheFarmIsUsed) {
  const Farm farm;
  const std::string key = protocol::make_key_pair().public_key;
  const AdvertVerdict v = judge_advert(advert(key, proof(farm.secret, key)), kEndpoint, {}, kKnownFile, farm.policy());
  EXPECT_EQ(v.trust, AdvertTrust::kJoined);
  EXPECT_TRUE(v.usable());
  EXPECT_EQ(v.reason, "");
}

TEST(AgentTrust, AnUnprovenAdvertIsNotJoinedAndSaysHowToJoin) {
  const Farm farm;
  const std::string key = protocol::make_key_pair().public_key;
  const AdvertVerdict v = judge_advert(advert(key), kEndpoint, {}, kKnownFile, farm.policy());
  EXPECT_EQ(v.trust, AdvertTrust::kNotJoined);
  EXPECT_FALSE(v.usable());
  EXPECT_NE(v.reason.find("it has not joined this broker's farm"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("bnr-agent --join TOKEN"), std::string::npos) << v.reason;
  EXPECT_STREQ(trust_word(v.trust), "not joined");
}

TEST(AgentTrust, AProofCopiedBesideAnotherKeyOrForAnotherFarmIsNotJoined) {
  const Farm farm;
  const std::string real = protocol::make_key_pair().public_key;
  const std::string rogue = protocol::make_key_pair().public_key;
  AdvertVerdict v = judge_advert(advert(rogue, proof(farm.secret, real)), kEndpoint, {}, kKnownFile, farm.policy());
  EXPECT_EQ(v.trust, AdvertTrust::kNotJoined);
  EXPECT_NE(v.reason.find("its join proof is not for this broker's farm and its key"), std::string::npos) << v.reason;
  v = judge_advert(advert(real, proof(Farm().secret, real)), kEndpoint, {}, kKnownFile, farm.policy());
  EXPECT_EQ(v.trust, AdvertTrust::kNotJoined);
}

TEST(AgentTrust, ABrokerWithoutAFarmUsesNoUnknownAdvert) {
  const std::string key = protocol::make_key_pair().public_key;
  const AdvertVerdict v = judge_advert(advert(key, proof(Farm().secret, key)), kEndpoint, {}, kKnownFile, {});
  EXPECT_EQ(v.trust, AdvertTrust::kNotJoined);
  EXPECT_NE(v.reason.find("no farm yet"), std::string::npos) << v.reason;
}

TEST(AgentTrust, KnownNamedAndTrustedNewAgentsAreUsedWithoutAProof) {
  const Farm farm;
  const std::string key = protocol::make_key_pair().public_key;
  protocol::KnownAgents known;
  known.entries.push_back({KnownKind::kAgentId, "host/abc", key, 3});
  EXPECT_EQ(judge_advert(advert(key), kEndpoint, known, kKnownFile, farm.policy()).trust, AdvertTrust::kKnown);
  protocol::KnownAgents by_address;
  by_address.entries.push_back({KnownKind::kEndpoint, kEndpoint, key, 1});
  EXPECT_EQ(judge_advert(advert(key), kEndpoint, by_address, kKnownFile, farm.policy()).trust, AdvertTrust::kKnown);

  TrustPolicy named = farm.policy();
  named.named.insert(kEndpoint);
  EXPECT_EQ(judge_advert(advert(key), kEndpoint, {}, kKnownFile, named).trust, AdvertTrust::kNamed);
  EXPECT_EQ(judge_advert(advert(key), "10.0.0.8:7300", {}, kKnownFile, named).trust, AdvertTrust::kNotJoined);

  TrustPolicy trust_new = farm.policy();
  trust_new.trust_new_agents = true;
  const AdvertVerdict v = judge_advert(advert(key), kEndpoint, {}, kKnownFile, trust_new);
  EXPECT_EQ(v.trust, AdvertTrust::kTrustedNew);
  EXPECT_TRUE(v.usable());
}

TEST(AgentTrust, AKeyThatConflictsWithKnownAgentsIsRefusedEvenWithAProofOrTrustNew) {
  const Farm farm;
  const std::string key = protocol::make_key_pair().public_key;
  protocol::KnownAgents known;
  known.entries.push_back({KnownKind::kAgentId, "host/abc", protocol::make_key_pair().public_key, 4});
  TrustPolicy policy = farm.policy();
  policy.trust_new_agents = true;
  const AdvertVerdict v = judge_advert(advert(key, proof(farm.secret, key)), kEndpoint, known, kKnownFile, policy);
  EXPECT_EQ(v.trust, AdvertTrust::kConflict);
  EXPECT_FALSE(v.usable());
  EXPECT_NE(v.reason.find("agent id 'host/abc' is known with another key"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("/cfg/known_agents line 4"), std::string::npos) << v.reason;
}

TEST(AgentTrust, AnAdvertWithoutAKeyIsSkipped) {
  TrustPolicy policy = Farm().policy();
  policy.trust_new_agents = true;
  const AdvertVerdict v = judge_advert(advert(""), kEndpoint, {}, kKnownFile, policy);
  EXPECT_EQ(v.trust, AdvertTrust::kNoKey);
  EXPECT_FALSE(v.usable());
}

}  // namespace
}  // namespace bnr::broker
