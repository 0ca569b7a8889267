// bnr-broker --check and --list: the agents this broker would render on, without rendering.
#pragma once

#include "broker_flags.h"

namespace bnr::broker {

// --check: every agent this broker would render on (given with --agent, or advertised on the
// LAN), probed for a round trip; adverts it would skip are listed with why. Returns the exit
// code: 1 when any agent it would use has a problem, or there is none.
[[nodiscard]] int check_agents(const BrokerFlags& flags);
// --list: the agents advertised on the LAN, with their trust and learned speed. Returns 0.
[[nodiscard]] int list_agents(const BrokerFlags& flags);

}  // namespace bnr::broker
