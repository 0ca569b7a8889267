#include "run_report.h"

#include <gtest/gtest.h>

#include <limits>

namespace bnr::broker {
namespace {

JobRecord two_agent_job() {
  JobRecord job;
  job.scene = "/scenes/demo.blend";
  job.frame = 7;
  JobSummary& s = job.summary;
  s.width = 100;
  s.height = 10;
  s.regions = 5;
  s.seconds = 10.0;
  s.first_region_seconds = 1.5;
  s.overdraw = 1.25;
  s.scene_bytes_sent = 4096;
  s.written = {"/out/demo0007.png"};
  s.agents = {{"alpha (127.0.0.1:7300)", 3, 600, 1, 6.0, 2.0, 9.5, "", "", "CPU"},
              {"beta \"b\" (127.0.0.1:7301)", 2, 400, 0, 4.0, -1, -1, "went silent"}};
  return job;
}

TEST(RunReport, CompletedRunListsEachAgentsColumnsTotalsAndOutputs) {
  const std::string json = run_report_json({{two_agent_job()}, 0, ""});
  EXPECT_EQ(json,
            "{\"format\": 1, \"exit_code\": 0, \"exit_reason\": \"done\", \"error\": null, \"jobs\": [{"
            "\"scene\": \"/scenes/demo.blend\", \"frame\": 7, \"width\": 100, \"height\": 10, \"regions\": 5, "
            "\"resumed_regions\": 0, \"seconds\": 10, \"first_region_seconds\": 1.5, \"overdraw\": 1.25, "
            "\"scene_bytes_sent\": 4096, \"cost_prior\": null, \"cost_prior_dropped\": false, "
            "\"outputs\": [\"/out/demo0007.png\"], "
            "\"totals\": {\"regions\": 5, \"pixels\": 1000, \"wasted\": 1, \"busy_seconds\": 10}, \"agents\": ["
            "{\"name\": \"alpha (127.0.0.1:7300)\", \"regions\": 3, \"pixels\": 600, \"share_percent\": 60, "
            "\"load_seconds\": 2, \"busy_seconds\": 6, \"idle_seconds\": 2, \"busy_percent\": 75, "
            "\"finish_seconds\": 9.5, \"vs_frame_seconds\": -0.5, \"wasted\": 1, \"note\": \"\", \"device\": \"CPU\"}, "
            "{\"name\": \"beta \\\"b\\\" (127.0.0.1:7301)\", \"regions\": 2, \"pixels\": 400, \"share_percent\": 40, "
            "\"load_seconds\": 0, \"busy_seconds\": 4, \"idle_seconds\": 0, \"busy_percent\": 40, "
            "\"finish_seconds\": null, \"vs_frame_seconds\": 0, \"wasted\": 0, \"note\": \"went silent\", \"device\": \"\"}]}]}\n");
}

TEST(RunReport, SaysWhereTheJobsCostMapCameFromAndWhetherItWasDropped) {
  JobRecord job = two_agent_job();
  job.cost_prior = CostPrior::kLastRender;
  job.summary.cost_prior_dropped = true;
  const std::string json = run_report_json({{job}, 0, ""});
  EXPECT_NE(json.find("\"cost_prior\": \"last render\", \"cost_prior_dropped\": true"), std::string::npos) << json;
}

TEST(RunReport, FailedRunCarriesTheErrorAndTheJobsDoneBefore) {
  const std::string json = run_report_json({{two_agent_job()}, 1, "b.blend: no agents\tleft\n"});
  EXPECT_NE(json.find("\"exit_code\": 1, \"exit_reason\": \"failed\", \"error\": \"b.blend: no agents\\u0009left\\u000a\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"scene\": \"/scenes/demo.blend\""), std::string::npos) << json;
}

TEST(RunReport, InterruptedRunWithNoJobsAndUnknownNumbers) {
  EXPECT_EQ(run_report_json({{}, 130, "interrupted"}),
            "{\"format\": 1, \"exit_code\": 130, \"exit_reason\": \"interrupted\", \"error\": \"interrupted\", "
            "\"jobs\": []}\n");
  JobRecord job = two_agent_job();
  job.frame.reset();
  job.summary.overdraw = std::numeric_limits<double>::quiet_NaN();
  job.summary.first_region_seconds = -1;
  const std::string json = run_report_json({{job}, 0, ""});
  EXPECT_NE(json.find("\"frame\": null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"overdraw\": null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"first_region_seconds\": null"), std::string::npos) << json;
}

}  // namespace
}  // namespace bnr::broker
