// What the broker reports to scripts and what it forgets: --json FILE after a real render and
// after a failure, read back with Python's json module; --forget-speeds on a config directory.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "harness.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

// Python reads the summary as any script would; prints one value per line.
std::vector<std::string> read_json(const fs::path& json, const std::string& expressions) {
  const tools::RunResult r = tools::run_command(
      {"python3", "-c",
       "import json, sys\nd = json.load(open(sys.argv[1]))\nfor v in [" + expressions + "]: print(v)",
       json.string()},
      std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Report, JsonSummaryAgreesWithTheRender) {
  TempDir dir;
  const auto scene = make_scene(dir / "scene.blend", {"--size", "64x24", "--samples", "4"});
  Agent a, b;
  const fs::path png = dir / "out.png";
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", a.endpoint(), "--agent",
                                         b.endpoint(), "--region-width", "8", "-o", png.string(), "--json",
                                         (dir / "summary.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto v = read_json(dir / "summary.json",
                           "d['exit_code'], d['exit_reason'], d['error'], len(d['jobs']), d['jobs'][0]['width'], "
                           "d['jobs'][0]['height'], d['jobs'][0]['regions'], "
                           "sum(a['regions'] for a in d['jobs'][0]['agents']), "
                           "sum(a['pixels'] for a in d['jobs'][0]['agents']), d['jobs'][0]['totals']['pixels'], "
                           "len(d['jobs'][0]['agents']), d['jobs'][0]['outputs'][0], d['jobs'][0]['overdraw'] >= 1");
  ASSERT_EQ(v.size(), 13U);
  EXPECT_EQ(v[0], "0");
  EXPECT_EQ(v[1], "done");
  EXPECT_EQ(v[2], "None");
  EXPECT_EQ(v[3], "1");
  const tools::Image16 image = tools::read_png(png);
  EXPECT_EQ(v[4], std::to_string(image.width));
  EXPECT_EQ(v[5], std::to_string(image.height));
  EXPECT_EQ(v[6], "8") << "64 px in 8 px regions";
  EXPECT_EQ(v[7], v[6]) << "the agents' regions add up to the job's";
  EXPECT_EQ(v[8], std::to_string(image.width * image.height)) << "the agents' pixels add up to the frame";
  EXPECT_EQ(v[9], v[8]);
  EXPECT_EQ(v[10], "2");
  EXPECT_TRUE(fs::equivalent(v[11], png)) << v[11];
  EXPECT_EQ(v[12], "True");
  EXPECT_TRUE(files_with_prefix(dir.path(), "summary.json.tmp").empty()) << "no temp file left beside it";
}

TEST(Report, JsonSummaryOfAFailedRunHasTheErrorAndExitCode) {
  TempDir dir;
  const tools::RunResult r =
      run_broker({(dir / "missing.blend").string(), "--json", (dir / "summary.json").string()});
  ASSERT_EQ(r.exit_code, 1) << r.output;
  const auto v = read_json(dir / "summary.json", "d['exit_code'], d['exit_reason'], d['error'], len(d['jobs'])");
  ASSERT_EQ(v.size(), 4U);
  EXPECT_EQ(v[0], "1");
  EXPECT_EQ(v[1], "failed");
  EXPECT_NE(v[2].find("missing.blend"), std::string::npos) << v[2];
  EXPECT_NE(r.output.find(v[2]), std::string::npos) << "the same reason as on stderr: " << r.output;
  EXPECT_EQ(v[3], "0");
}

TEST(Report, ForgetSpeedsSaysWhichAgentsItForgot) {
  TempDir config;
  {
    std::ofstream out(config / "agent-speeds.tsv");
    out << "studio-1/agent\t1.5\nstudio-2/agent\t0.5\n";
  }
  const tools::RunResult r = run_broker({"--forget-speeds"}, {}, std::chrono::seconds(30), config.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("forgot the learned speeds of 2 agents"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("studio-1/agent 1.5, studio-2/agent 0.5"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(config / "agent-speeds.tsv"));
  const tools::RunResult again = run_broker({"--forget-speeds"}, {}, std::chrono::seconds(30), config.path());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("no learned speeds to forget"), std::string::npos) << again.output;
}

}  // namespace
}  // namespace bnr::testing
