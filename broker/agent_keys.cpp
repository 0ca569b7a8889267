#include "agent_keys.h"

#include <iostream>
#include <stdexcept>
#include <utility>

namespace bnr::broker {

using protocol::KnownKind;

AgentKeys::AgentKeys(const std::vector<std::string>& agents, const std::map<std::string, std::string>& given,
                     const std::filesystem::path& known_agents, TrustPolicy policy, bool quiet)
    : known_(known_agents), policy_(std::move(policy)), quiet_(quiet) {
  for (const std::string& problem : known_.known().problems)
    if (!quiet_) std::cerr << "bnr-broker: warning: " << known_agents.string() << " " << problem << "\n";
  // A key given with --agent must agree with known_agents (or nothing starts); without one,
  // the known key is used.
  for (const std::string& endpoint : agents) {
    policy_.named.insert(endpoint);
    const auto key = given.find(endpoint);
    const protocol::KnownAgent* known = known_.known().find(KnownKind::kEndpoint, endpoint);
    if (key == given.end()) {
      if (known != nullptr) keys_[endpoint] = known->key;
      continue;
    }
    if (const std::string why = known_.conflict(KnownKind::kEndpoint, endpoint, key->second); !why.empty())
      throw std::runtime_error("--agent " + endpoint + "@KEY: " + why);
    keys_[endpoint] = key->second;
    if (known == nullptr) pending_[endpoint].push_back({KnownKind::kEndpoint, endpoint, key->second});
  }
}

AdvertVerdict AgentKeys::judge(const DiscoveredAgent& agent) const {
  return judge_advert(agent.txt, agent.endpoint(), known_.known(), known_.path().string(), policy_);
}

bool AgentKeys::accept_advert(const DiscoveredAgent& agent) {
  const std::string endpoint = agent.endpoint();
  const std::string who = "agent " + agent.service_name + " at " + endpoint;
  const AdvertVerdict verdict = judge(agent);
  if (!verdict.usable()) {
    if (verdict.trust == AdvertTrust::kConflict || !quiet_)
      std::cerr << "bnr-broker: " << (verdict.trust == AdvertTrust::kConflict ? "refusing " : "skipping ") << who
                << ": " << verdict.reason << "\n";
    return false;
  }
  if (verdict.trust == AdvertTrust::kTrustedNew)
    std::cerr << "bnr-broker: warning: using " << who
              << ", which has not joined this broker's farm (--trust-new-agents): it gets the scene's files\n";
  const std::string& key = agent.txt.curve_key;
  const auto have = keys_.find(endpoint);
  if (have != keys_.end() && have->second != key) {
    std::cerr << "bnr-broker: warning: " << who << " advertises key " << protocol::short_key(key) << ", not "
              << protocol::short_key(have->second) << " as given or known; using "
              << protocol::short_key(have->second) << "\n";
    return true;
  }
  if (have == keys_.end()) {
    keys_[endpoint] = key;
    if (policy_.named.count(endpoint) != 0 && known_.known().find(KnownKind::kEndpoint, endpoint) == nullptr)
      pending_[endpoint].push_back({KnownKind::kEndpoint, endpoint, key});
  }
  const std::string& id = agent.txt.info.agent_id;
  if (!id.empty() && known_.known().find(KnownKind::kAgentId, id) == nullptr)
    pending_[endpoint].push_back({KnownKind::kAgentId, id, key});
  return true;
}

std::string AgentKeys::key_of(const std::string& endpoint) const {
  const auto it = keys_.find(endpoint);
  return it == keys_.end() ? std::string() : it->second;
}

void AgentKeys::verified(const std::string& endpoint) {
  const auto it = pending_.find(endpoint);
  if (it == pending_.end()) return;
  for (const protocol::KnownAgent& entry : it->second) {
    if (!known_.remember(entry.kind, entry.name, entry.key) && !warned_) {
      warned_ = true;
      std::cerr << "bnr-broker: warning: could not save agent keys to " << known_.path().string() << "\n";
    }
  }
  pending_.erase(it);
}

}  // namespace bnr::broker
