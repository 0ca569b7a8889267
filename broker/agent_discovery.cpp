#include "agent_discovery.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "host_name.h"

namespace bnr::broker {

bool usable(const DiscoveredAgent& agent, const BrokerFlags& config) {
  if (agent.txt.protocol_version == protocol::kProtocolVersion) return true;
  if (!config.quiet)
    std::cerr << "bnr-broker: skipping agent " << agent.service_name << " at " << agent.endpoint()
              << ": protocol version " << agent.txt.protocol_version << ", this broker speaks "
              << protocol::kProtocolVersion << "\n";
  return false;
}

bool on_this_host(const DiscoveredAgent& agent) {
  return agent.txt.info.agent_id.rfind(tools::host_name() + "/", 0) == 0;
}

namespace {

// Whether what the browse found so far settles what the broker needs before its first job;
// agents advertised later still join mid-render (JobOptions::discover_more), so the window
// need not be waited out. With --agent the job has agents already; with --no-local one
// agent is enough to start; otherwise the local agent is needed unless one runs on this host.
bool enough_agents(const BrokerFlags& config, const std::vector<DiscoveredAgent>& found) {
  if (config.list || config.check) return false;  // --list shows everything the window finds
  if (!config.agents.empty()) return true;
  if (!config.local) return !found.empty();
  return std::any_of(found.begin(), found.end(), on_this_host);
}

}  // namespace

std::vector<DiscoveredAgent> discover(const BrokerFlags& config, AgentBrowser& browser) {
  // Short steps, so the browse ends soon after enough_agents says so. Agents found on the
  // LAN answer within 20-120 ms of each other: a quiet spell with no new one lets the others
  // in, so they start with the job rather than join it.
  constexpr auto kStep = std::chrono::milliseconds(50);
  constexpr auto kQuiet = std::chrono::milliseconds(300);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.mdns_window_ms);
  browser.run_for(std::chrono::milliseconds(0));
  std::size_t seen = 0;
  auto last_new = std::chrono::steady_clock::now();
  for (auto now = std::chrono::steady_clock::now(); now < deadline && browser.error().empty();
       now = std::chrono::steady_clock::now()) {
    const auto found = browser.agents();
    if (found.size() != seen) {
      seen = found.size();
      last_new = now;
    }
    if (enough_agents(config, found) && (!config.agents.empty() || now - last_new >= kQuiet)) break;
    browser.run_for(std::min(kStep, std::chrono::ceil<std::chrono::milliseconds>(deadline - now)));
  }
  if (!browser.error().empty() && !config.quiet)
    std::cerr << "bnr-broker: " << browser.error() << " (use --agent HOST:PORT)\n";
  const auto found = browser.agents();
  std::vector<DiscoveredAgent> agents;
  for (const auto& agent : found)
    if (usable(agent, config)) agents.push_back(agent);
  if (!config.quiet && !found.empty())
    std::cerr << "bnr-broker: found " << agents.size() << " agent" << (agents.size() == 1 ? "" : "s")
              << " on the LAN\n";
  return agents;
}

}  // namespace bnr::broker
