#include "agent_commands.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "agent_check.h"
#include "agent_discovery.h"
#include "agent_profiles.h"
#include "broker_identity.h"
#include "curve_keys.h"

namespace bnr::broker {

int check_agents(const BrokerFlags& config) {
  const protocol::CurveKeyPair own = broker_keys();
  AgentKeys keys = agent_keys(config);
  std::vector<DiscoveredAgent> found;
  std::unique_ptr<AgentBrowser> browser;
  if (config.mdns) {
    browser = std::make_unique<AgentBrowser>();
    found = discover(config, *browser);
  }
  zmq::context_t context(1);
  std::vector<CheckRow> rows;
  std::set<std::string> probed;
  const auto probe = [&](const std::string& endpoint, const std::string& name, const std::string& trust) {
    if (!probed.insert(endpoint).second) return static_cast<CheckRow*>(nullptr);
    rows.push_back(probe_agent(context, endpoint, keys.key_of(endpoint), own, std::chrono::seconds(5)));
    rows.back().name = name;
    rows.back().trust = trust;
    return &rows.back();
  };
  for (const std::string& endpoint : config.agents) (void)probe(endpoint, endpoint, "--agent");
  for (const auto& a : found) {
    const AdvertVerdict verdict = keys.judge(a);
    const bool used = verdict.trust != AdvertTrust::kNotJoined &&
                      verdict.trust != AdvertTrust::kNoKey &&
                      verdict.trust != AdvertTrust::kConflict;
    CheckRow* row = nullptr;
    if (used && keys.accept_advert(a)) {
      row = probe(a.endpoint(), a.txt.info.name, trust_word(verdict.trust));
    } else if (probed.insert(a.endpoint()).second) {
      row = &rows.emplace_back();
      row->name = a.txt.info.name;
      row->address = a.endpoint();
      row->trust = trust_word(verdict.trust);
      row->problem = "not used: " + (verdict.reason.empty() ? std::string(row->trust) : verdict.reason);
    }
    // The agent's own answer said it already, unless it is not used (not probed) or older.
    if (row != nullptr && row->blender == "-" && !a.txt.info.blender_version.empty())
      row->blender = a.txt.info.blender_version;
    if (row != nullptr && row->device == "-" && !a.txt.info.device.empty()) row->device = a.txt.info.device;
  }
  std::fputs(check_table(rows).c_str(), stdout);
  const bool all_fine = std::all_of(rows.begin(), rows.end(), [](const auto& r) { return r.problem.empty(); });
  return all_fine && !rows.empty() ? 0 : 1;
}

int list_agents(const BrokerFlags& config) {
  AgentBrowser browser;
  const auto agents = discover(config, browser);
  const auto profiles = load_profiles(profiles_path());
  const AgentKeys keys = agent_keys(config);
  std::printf("%-24s %-22s %-9s %-12s %-8s %-12s %-11s %s\n", "agent", "address", "blender", "device", "threads", "key",
              "trust", "learned speed");
  std::vector<std::string> notes;
  for (const auto& a : agents) {
    const auto speed = profiles.find(a.txt.info.agent_id);
    const std::string threads = a.txt.info.threads > 0 ? std::to_string(a.txt.info.threads) : "all";
    const AdvertVerdict verdict = keys.judge(a);
    const std::string key = protocol::is_curve_key(a.txt.curve_key) ? protocol::short_key(a.txt.curve_key)
                                                                          : std::string("none");
    const bool refused = verdict.trust == AdvertTrust::kConflict;
    std::printf("%-24s %-22s %-9s %-12s %-8s %-12s %-11s %s\n", a.txt.info.name.c_str(), a.endpoint().c_str(),
                a.txt.info.blender_version.c_str(), a.txt.info.device.empty() ? "-" : a.txt.info.device.c_str(),
                threads.c_str(), (key + (refused ? "!" : "")).c_str(), trust_word(verdict.trust),
                speed == profiles.end() ? "-" : std::to_string(speed->second).substr(0, 5).c_str());
    if (!verdict.reason.empty())
      notes.push_back(std::string(refused ? "refused (!) " : std::string(trust_word(verdict.trust)) + ": ") +
                      a.txt.info.name + " at " + a.endpoint() + ": " + verdict.reason);
  }
  if (agents.empty()) std::printf("(no agents found on the LAN)\n");
  for (const std::string& n : notes) std::printf("%s\n", n.c_str());
  return 0;
}

}  // namespace bnr::broker
