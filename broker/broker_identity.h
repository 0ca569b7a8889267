// Who this broker is and whom it trusts: its CURVE key pair and farm secret (made on the first
// run, in config_dir()), and the agents' keys it accepts (agent_trust.h).
#pragma once

#include <filesystem>
#include <string>

#include "agent_keys.h"
#include "broker_flags.h"
#include "curve_auth.h"

namespace bnr::broker {

[[nodiscard]] protocol::CurveKeyPair broker_keys();
[[nodiscard]] std::filesystem::path farm_secret_path();
// --join-token: this broker's key and farm secret, encoded for bnr-agent --join.
[[nodiscard]] std::string join_token();
// Who it may render on: agents given with --agent (and their keys), known_agents, the farm.
[[nodiscard]] AgentKeys agent_keys(const BrokerFlags& flags);

}  // namespace bnr::broker
