// Finding agents on the LAN before a run: how long to browse, which adverts this broker can
// use (same protocol version), which are on this machine.
#pragma once

#include <vector>

#include "broker_flags.h"
#include "mdns_browse.h"

namespace bnr::broker {

// Whether an agent found on the LAN can serve this broker; says why not (once) if not.
[[nodiscard]] bool usable(const DiscoveredAgent& agent, const BrokerFlags& flags);
// The agent runs on this machine (its id starts with this host's name).
[[nodiscard]] bool on_this_host(const DiscoveredAgent& agent);
// Agents advertised on the LAN within --mdns-window (or until enough are found for the first
// job); other protocol versions are named and left out.
[[nodiscard]] std::vector<DiscoveredAgent> discover(const BrokerFlags& flags, AgentBrowser& browser);

}  // namespace bnr::broker
