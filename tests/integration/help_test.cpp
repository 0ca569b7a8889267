// --help on both programs names every flag their parsers take: the flags are read from the
// parsers' source (each is a comparison `a == "--flag"`), so a new flag without help fails.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "harness.h"

namespace bnr::testing {
namespace {

std::set<std::string> parsed_flags(const fs::path& main_cpp) {
  std::ifstream in(main_cpp);
  std::stringstream text;
  text << in.rdbuf();
  const std::string source = text.str();
  std::set<std::string> flags;
  const std::regex flag("a == \"(-[-a-z0-9]+)\"");
  for (std::sregex_iterator it(source.begin(), source.end(), flag), end; it != end; ++it) flags.insert((*it)[1]);
  return flags;
}

// Each flag appears in the help as a word of its own ("-o OUT.png", "-q, --quiet").
void expect_help_names_every_flag(const tools::RunResult& help, const fs::path& main_cpp) {
  ASSERT_EQ(help.exit_code, 0) << help.output;
  const std::set<std::string> flags = parsed_flags(main_cpp);
  EXPECT_GE(flags.size(), 10U) << "the parser's flags were not found in " << main_cpp;
  for (const std::string& f : flags)
    EXPECT_TRUE(std::regex_search(help.output, std::regex("(^|[\\s,\\[])" + f + "([\\s,=\\]]|$)")))
        << f << " is parsed by " << main_cpp.filename() << " but not in --help:\n"
        << help.output;
}

TEST(Help, TheBrokersHelpNamesEveryFlagItParses) {
  expect_help_names_every_flag(tools::run_command({BNR_BROKER_EXE, "--help"}, std::chrono::seconds(30)),
                               fs::path(BNR_SOURCE_DIR) / "broker" / "broker_flags.cpp");
}

TEST(Help, TheAgentsHelpNamesEveryFlagItParses) {
  expect_help_names_every_flag(run_agent({"--help"}), fs::path(BNR_SOURCE_DIR) / "agent" / "main.cpp");
}

}  // namespace
}  // namespace bnr::testing
