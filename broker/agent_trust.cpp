#include "agent_trust.h"

#include "farm_join.h"

namespace bnr::broker {

AdvertVerdict judge_advert(const protocol::AgentTxt& txt, const std::string& endpoint,
                           const protocol::KnownAgents& known, const std::string& known_file,
                           const TrustPolicy& policy) {
  using protocol::KnownKind;
  const std::string& key = txt.curve_key;
  if (!protocol::is_curve_key(key))
    return {AdvertTrust::kNoKey, "its advert has no CURVE key (a bnr-agent from before CURVE?)"};
  const std::string& id = txt.info.agent_id;
  for (const auto& [kind, name] : {std::pair{KnownKind::kAgentId, id}, std::pair{KnownKind::kEndpoint, endpoint}}) {
    if (name.empty()) continue;
    if (std::string why = protocol::known_conflict(known, known_file, kind, name, key); !why.empty())
      return {AdvertTrust::kConflict, "it advertises key " + protocol::short_key(key) + ", but " + why};
  }
  if (protocol::proves_farm(txt.join_proofs, policy.farm_secret, key)) return {AdvertTrust::kJoined, {}};
  if ((!id.empty() && known.find(KnownKind::kAgentId, id) != nullptr) ||
      known.find(KnownKind::kEndpoint, endpoint) != nullptr)
    return {AdvertTrust::kKnown, {}};  // no conflict above: known with this very key
  if (policy.named.count(endpoint) != 0) return {AdvertTrust::kNamed, {}};
  if (policy.trust_new_agents) return {AdvertTrust::kTrustedNew, {}};
  const char* what = policy.farm_secret.empty() ? "this broker has no farm yet, so no agent has joined it"
                     : txt.join_proofs.empty()  ? "it has not joined this broker's farm"
                                                : "its join proof is not for this broker's farm and its key";
  return {AdvertTrust::kNotJoined,
          std::string(what) +
              " (bnr-broker --join-token prints a token; run bnr-agent --join TOKEN on that machine, or pass "
              "--trust-new-agents)"};
}

const char* trust_word(AdvertTrust trust) {
  switch (trust) {
    case AdvertTrust::kJoined:
      return "joined";
    case AdvertTrust::kKnown:
      return "known";
    case AdvertTrust::kNamed:
      return "named";
    case AdvertTrust::kTrustedNew:
      return "trusted new";
    case AdvertTrust::kNotJoined:
      return "not joined";
    case AdvertTrust::kNoKey:
      return "no key";
    case AdvertTrust::kConflict:
      return "refused";
  }
  return "?";
}

}  // namespace bnr::broker
