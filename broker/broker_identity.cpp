#include "broker_identity.h"

#include "farm_files.h"

namespace bnr::broker {

protocol::CurveKeyPair broker_keys() {
  return protocol::load_or_create_key_pair(protocol::config_dir() / "broker.key", "bnr-broker");
}

std::filesystem::path farm_secret_path() { return protocol::config_dir() / "farm.secret"; }

std::string join_token() {
  const protocol::JoinToken token{broker_keys().public_key, protocol::load_or_create_farm_secret(farm_secret_path())};
  return protocol::encode_join_token(token);
}

AgentKeys agent_keys(const BrokerFlags& flags) {
  TrustPolicy policy;
  policy.farm_secret = protocol::read_farm_secret(farm_secret_path()).value_or("");
  policy.trust_new_agents = flags.trust_new_agents;
  return AgentKeys(flags.agents, flags.agent_keys, protocol::config_dir() / "known_agents", policy, flags.quiet);
}

}  // namespace bnr::broker
