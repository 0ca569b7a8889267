#include "run_report.h"

#include "json_text.h"

namespace bnr::broker {
namespace {

using json::array;
using json::number;
using json::Object;
using json::quote;

std::string agent_json(const AgentReport& a, long long frame_pixels, double wall_seconds) {
  const AgentRow row = agent_row(a, frame_pixels, wall_seconds);
  return Object()
      .str("name", a.name)
      .num("regions", a.regions)
      .num("pixels", a.pixels)
      .num("share_percent", row.share_percent)
      .num("load_seconds", row.load_seconds)
      .num("busy_seconds", row.busy_seconds)
      .num("idle_seconds", row.idle_seconds)
      .num("busy_percent", row.busy_percent)
      .raw("finish_seconds", row.finish_seconds >= 0 ? number(row.finish_seconds) : "null")
      .num("vs_frame_seconds", row.vs_frame_seconds)
      .num("wasted", a.wasted)
      .str("note", a.note)
      .str("device", a.device)
      .text();
}

std::string job_json(const JobRecord& job) {
  const JobSummary& s = job.summary;
  const long long frame_pixels = static_cast<long long>(s.width) * s.height;
  std::size_t regions = 0, wasted = 0;
  long long pixels = 0;
  double busy = 0;
  for (const AgentReport& a : s.agents) {
    regions += a.regions;
    wasted += a.wasted;
    pixels += a.pixels;
    busy += a.busy_seconds;
  }
  const std::string totals =
      Object().num("regions", regions).num("pixels", pixels).num("wasted", wasted).num("busy_seconds", busy).text();
  return Object()
      .str("scene", job.scene)
      .raw("frame", job.frame ? std::to_string(*job.frame) : "null")
      .num("width", static_cast<long long>(s.width))
      .num("height", static_cast<long long>(s.height))
      .num("regions", s.regions)
      .num("resumed_regions", s.resumed_regions)
      .num("seconds", s.seconds)
      .raw("first_region_seconds", s.first_region_seconds >= 0 ? number(s.first_region_seconds) : "null")
      .num("overdraw", s.overdraw)
      .num("scene_bytes_sent", static_cast<long long>(s.scene_bytes_sent))
      .raw("cost_prior", job.cost_prior == CostPrior::kNone ? "null" : quote(cost_prior_name(job.cost_prior)))
      .raw("cost_prior_dropped", s.cost_prior_dropped ? "true" : "false")
      .raw("outputs", array(s.written, [](const std::filesystem::path& p) { return quote(p.string()); }))
      .raw("totals", totals)
      .raw("agents", array(s.agents, [&](const AgentReport& a) { return agent_json(a, frame_pixels, s.seconds); }))
      .text();
}

}  // namespace

const char* cost_prior_name(CostPrior prior) {
  switch (prior) {
    case CostPrior::kSpeedTest: return "speed test";
    case CostPrior::kLastRender: return "last render";
    case CostPrior::kNone: break;
  }
  return "";
}

const char* exit_reason(int exit_code) {
  if (exit_code == 0) return "done";
  return exit_code == 130 ? "interrupted" : "failed";
}

std::string run_report_json(const RunOutcome& outcome) {
  return Object()
             .num("format", 1LL)
             .num("exit_code", static_cast<long long>(outcome.exit_code))
             .str("exit_reason", exit_reason(outcome.exit_code))
             .raw("error", outcome.exit_code == 0 ? "null" : quote(outcome.error))
             .raw("jobs", array(outcome.jobs, job_json))
             .text() +
         "\n";
}

}  // namespace bnr::broker
