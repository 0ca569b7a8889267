#include "agent_check.h"

#include <cstdio>

#include "curve_auth.h"
#include "transport.h"

namespace bnr::broker {
namespace {

// What the agent says of itself in its answer; an older agent's answer says nothing.
void fill_from_agent(CheckRow& row, const protocol::AgentInfo& agent) {
  if (!agent.blender_version.empty()) row.blender = agent.blender_version;
  if (!agent.device.empty()) row.device = agent.device;
}

}  // namespace

CheckRow probe_agent(zmq::context_t& context, const std::string& endpoint, const std::string& agent_key,
                     const protocol::CurveKeyPair& broker, std::chrono::milliseconds timeout) {
  CheckRow row;
  row.address = endpoint;
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  try {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(protocol::kMaxBodyBytes));
    protocol::set_curve_client(socket, broker, agent_key.empty() ? protocol::make_key_pair().public_key : agent_key);
    zmq::socket_t monitor = protocol::monitor_handshakes(socket, context, "bnr-check-" + endpoint);
    socket.connect("tcp://" + endpoint);
    (void)protocol::send_message(socket, protocol::CancelRegion{"bnr-check", 0});
    while (Clock::now() - started < timeout) {
      std::vector<zmq::pollitem_t> items = {{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0},
                                            {static_cast<void*>(monitor), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, std::chrono::milliseconds(50));
      while (const auto event = protocol::receive_event(monitor)) {
        if (event->event == ZMQ_EVENT_CONNECTED) row.reachable = true;
        if (event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) row.authorized = true;
        if (event->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
          row.problem = "it does not serve this broker: run bnr-agent --join TOKEN there (bnr-broker --join-token)";
          return row;
        }
        if (event->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event->event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
          row.problem = agent_key.empty() ? "its public key is unknown here (give --agent HOST:PORT@KEY)"
                                          : "its CURVE handshake failed: its key is not " + protocol::short_key(agent_key);
          return row;
        }
      }
      if (const auto reply = protocol::receive_message(socket, /*router=*/false)) {
        row.reachable = row.authorized = true;
        row.round_trip_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        if (!reply->decoded.packet) {
          row.problem = "it answered with a malformed message: " + reply->decoded.error;
        } else if (const auto* refused = std::get_if<protocol::Refused>(&reply->decoded.packet->message)) {
          fill_from_agent(row, refused->agent);
        }
        return row;
      }
    }
  } catch (const zmq::error_t& e) {
    row.problem = std::string("cannot connect: ") + e.what();
    return row;
  }
  row.problem = !row.reachable ? "nothing answers there (is bnr-agent running, and the port open?)"
                               : "it took the connection but did not answer within " +
                                     std::to_string(timeout.count() / 1000) + " s";
  return row;
}

std::string check_table(const std::vector<CheckRow>& rows) {
  char line[512];
  std::string out;
  std::snprintf(line, sizeof line, "%-24s %-22s %-10s %-10s %-9s %-7s %-10s %s\n", "agent", "address", "reachable",
                "authorized", "blender", "device", "round trip", "trust");
  out += line;
  for (const CheckRow& r : rows) {
    const std::string rtt = r.round_trip_ms >= 0 ? std::to_string(static_cast<int>(r.round_trip_ms + 0.5)) + " ms" : "-";
    std::snprintf(line, sizeof line, "%-24s %-22s %-10s %-10s %-9s %-7s %-10s %s\n", r.name.substr(0, 24).c_str(),
                  r.address.c_str(), r.reachable ? "yes" : "no", r.authorized ? "yes" : "no", r.blender.c_str(),
                  r.device.c_str(), rtt.c_str(), r.trust.c_str());
    out += line;
  }
  if (rows.empty()) out += "(no agents: give --agent HOST:PORT@KEY, or start bnr-agent on the LAN)\n";
  for (const CheckRow& r : rows)
    if (!r.problem.empty()) out += "problem: " + r.name + " at " + r.address + ": " + r.problem + "\n";
  return out;
}

}  // namespace bnr::broker
