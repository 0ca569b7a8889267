// bnr-broker: flags -> BrokerRun (JobOptions per scene -> render_job). Every failure ends as
// one line on stderr and a non-zero exit; no output file is written for a job that did not
// complete.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent_commands.h"
#include "agent_profiles.h"
#include "broker_flags.h"
#include "broker_identity.h"
#include "broker_run.h"
#include "fd_limit.h"
#include "image_file_util.h"
#include "output_paths.h"
#include "run_report.h"
#include "scene_file.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// Writes --json (atomically: a script never reads half a summary) and returns the exit code;
// a summary that cannot be written fails a run that did not fail already.
int finish_run(const bnr::broker::BrokerFlags& flags, const bnr::broker::RunOutcome& outcome) {
  if (flags.json.empty()) return outcome.exit_code;
  try {
    bnr::tools::write_atomically(flags.json, "--json " + flags.json + ": ", [&](const std::filesystem::path& temp) {
      std::ofstream out(temp, std::ios::trunc);
      out << bnr::broker::run_report_json(outcome);
      out.close();
      if (!out) throw std::runtime_error("cannot write");
    });
  } catch (const std::exception& e) {
    std::cerr << "bnr-broker: " << e.what() << std::endl;
    return outcome.exit_code != 0 ? outcome.exit_code : 1;
  }
  return outcome.exit_code;
}

// Every scene and output is checked before any agent is started or contacted.
void check_inputs(const bnr::broker::BrokerFlags& flags) {
  for (const std::string& scene : flags.scenes) bnr::broker::check_scene(scene);
  std::vector<bnr::broker::PlannedOutput> outputs;
  for (const std::string& scene : flags.scenes) outputs.push_back({scene, output_png(flags, scene), flags.exr});
  if (const std::string clash = bnr::broker::output_clash(outputs, std::filesystem::current_path()); !clash.empty())
    throw std::runtime_error(clash);
  if (!flags.speed_test.empty()) bnr::broker::check_scene(flags.speed_test);
}

}  // namespace

int main(int argc, char** argv) {
  namespace broker = bnr::broker;
  const auto launched = std::chrono::steady_clock::now();
  broker::BrokerFlags flags;
  broker::RunOutcome outcome;
  try {
    switch (broker::parse_broker_flags(argc, argv, flags)) {
      case broker::FlagAction::kHelp: std::cout << broker::broker_usage(); return 0;
      case broker::FlagAction::kShowKey: std::cout << broker::broker_keys().public_key << std::endl; return 0;
      case broker::FlagAction::kJoinToken:
        // The token on stdout (the one thing to copy), how to use it on stderr.
        std::cout << broker::join_token() << std::endl;
        std::cerr << "bnr-broker: on every machine that should render for this broker, run: bnr-agent --join TOKEN\n";
        return 0;
      case broker::FlagAction::kRun: break;
    }
    if (flags.forget_speeds) {
      const std::filesystem::path path = broker::profiles_path();
      const std::string said = broker::forgotten_text(broker::forget_profiles(path), path);
      if (!flags.quiet) std::cout << "bnr-broker: " << said << std::endl;
      if (flags.scenes.empty() && !flags.benchmark) return finish_run(flags, outcome);
    }
    if (flags.list) return broker::list_agents(flags);
    if (flags.check) return broker::check_agents(flags);
    check_inputs(flags);

    bnr::tools::raise_fd_limit();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    broker::BrokerRun run(flags, launched, g_stop);
    run.render_all(outcome);
    return finish_run(flags, outcome);
  } catch (const std::exception& e) {
    std::cerr << "bnr-broker: " << e.what() << std::endl;
    outcome.exit_code = g_stop != 0 ? 130 : 1;
    outcome.error = e.what();
    return finish_run(flags, outcome);
  }
}
