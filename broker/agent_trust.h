// Whether a broker may render on an agent it found on the LAN: the pure decision, from the
// agent's advert, what the broker knows (known_agents, --agent) and its farm secret. Who holds
// what, and the files, are in agent_keys.h; the proof itself is protocol/farm_join.h's.
//
// A broker renders only on agents that prove they joined its farm (bnr-agent --join), agents
// whose key it already knows (known_agents), agents given with --agent, and its own local
// agent (which is never an advert). --trust-new-agents adds any other advert with a key, as
// brokers did before farms (trust on first use). Anything else gets nothing, not even the
// scene's manifest: the broker never connects to it.
#pragma once

#include <set>
#include <string>

#include "curve_keys.h"
#include "mdns_txt.h"

namespace bnr::broker {

enum class AdvertTrust {
  kJoined,      // the advert proves the agent joined this broker's farm
  kKnown,       // its key is the one known_agents has for its agent id or address
  kNamed,       // its address was given with --agent
  kTrustedNew,  // none of those; used because of --trust-new-agents
  kNotJoined,   // none of those: skipped
  kNoKey,       // its advert has no CURVE key (an agent from before CURVE): skipped
  kConflict,    // its key is not the one known for its agent id or address: refused
};

struct TrustPolicy {
  std::string farm_secret{};      // this broker's (Z85); empty: it has no farm yet
  bool trust_new_agents = false;  // --trust-new-agents
  std::set<std::string> named{};  // HOST:PORT given with --agent
};

struct AdvertVerdict {
  AdvertTrust trust = AdvertTrust::kNotJoined;
  std::string reason{};  // one line for kNotJoined, kNoKey and kConflict; empty otherwise
  [[nodiscard]] bool usable() const {
    return trust == AdvertTrust::kJoined || trust == AdvertTrust::kKnown || trust == AdvertTrust::kNamed ||
           trust == AdvertTrust::kTrustedNew;
  }
};

// The verdict on the advert `txt` of the agent at `endpoint` (HOST:PORT). Checked in this
// order: no key; a key that conflicts with `known` (whose file is `known_file`, for the
// message); a valid proof; a known key; a named address; --trust-new-agents.
[[nodiscard]] AdvertVerdict judge_advert(const protocol::AgentTxt& txt, const std::string& endpoint,
                                         const protocol::KnownAgents& known, const std::string& known_file,
                                         const TrustPolicy& policy);

// A word or two for tables: "joined", "known", "named", "trusted new", "not joined", "no key",
// "refused".
[[nodiscard]] const char* trust_word(AdvertTrust trust);

}  // namespace bnr::broker
