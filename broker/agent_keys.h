// The public key of each agent a broker renders on, and what it learns about them: keys from
// --agent HOST:PORT@KEY, known_agents, the local agent and the adverts agent_trust.h lets in;
// what to remember in known_agents once an agent proves it holds its key. Prints the one-line
// reasons for adverts it skips or refuses (stderr).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "agent_trust.h"
#include "curve_auth.h"
#include "mdns_browse.h"

namespace bnr::broker {

class AgentKeys {
 public:
  // `agents`: endpoints from --agent; `given`: the keys given with some of them. Throws when
  // a given key is not the one known_agents (`known_agents`) has for its endpoint.
  AgentKeys(const std::vector<std::string>& agents, const std::map<std::string, std::string>& given,
            const std::filesystem::path& known_agents, TrustPolicy policy, bool quiet);

  // What agent_trust.h says about an advert (for --list).
  [[nodiscard]] AdvertVerdict judge(const DiscoveredAgent& agent) const;

  // Takes the key of an advert that may be used; false (after one line saying why) for one
  // that may not. Refusals (a key that conflicts) and --trust-new-agents warnings are printed
  // even when quiet.
  bool accept_advert(const DiscoveredAgent& agent);

  // An agent whose key comes from elsewhere (the local agent's output): not remembered.
  void add(const std::string& endpoint, const std::string& key) { keys_[endpoint] = key; }

  // "" when unknown.
  [[nodiscard]] std::string key_of(const std::string& endpoint) const;

  // The agent at `endpoint` proved it holds its key: remember what was new about it.
  void verified(const std::string& endpoint);

 private:
  protocol::KnownAgentsFile known_;
  TrustPolicy policy_;
  bool quiet_ = false;
  bool warned_ = false;
  std::map<std::string, std::string> keys_;                           // endpoint -> key
  std::map<std::string, std::vector<protocol::KnownAgent>> pending_;  // endpoint -> to remember
};

}  // namespace bnr::broker
