// bnr-broker --check: is every agent reachable, does it serve this broker, how long is a round
// trip. The probe connects as a broker would (CURVE, the agent's key) and sends a message no
// agent acts on without a job; an agent that serves this broker answers it with a refusal
// ("no open job"), which proves the connection, the authorization and the agent's loop.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "curve_keys.h"

namespace bnr::broker {

struct CheckRow {
  std::string name;
  std::string address;       // host:port
  std::string blender = "-";
  std::string device = "-";
  std::string trust;         // how this broker knows it (joined, pinned, known, local...)
  bool reachable = false;    // something listens there
  bool authorized = false;   // the CURVE handshake and the agent's authorization passed
  double round_trip_ms = -1; // the answer came back
  std::string problem;       // empty: fine
};

// Probes the agent at `endpoint` whose public key is `agent_key` (empty: unknown), waiting at
// most `timeout`. Never throws for a bad agent: the row says what went wrong.
[[nodiscard]] CheckRow probe_agent(zmq::context_t& context, const std::string& endpoint, const std::string& agent_key,
                                   const protocol::CurveKeyPair& broker, std::chrono::milliseconds timeout);

// The table --check prints, one row per agent, then one line per problem. Pure.
[[nodiscard]] std::string check_table(const std::vector<CheckRow>& rows);

}  // namespace bnr::broker
