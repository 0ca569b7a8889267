// Chaos on the wire, with real processes: a slow lossy link. It ends with Blender's own image;
// every process is ended by its objects.
#include <gtest/gtest.h>

#include "harness.h"
#include "lossy_link.h"

namespace bnr::testing {
namespace {

using namespace std::chrono_literals;

TEST(Chaos, AFrameOverASlowLossyLinkEqualsBlenders) {
  LossyLink link({200ms, 0.05});
  if (!link.skip_reason().empty()) GTEST_SKIP() << link.skip_reason();
  TempDir dir;
  const auto scene = make_scene(dir / "far.blend", {"--size", "48x32", "--compress"});
  AgentOptions options;
  options.prefix = link.exec_prefix();
  options.bind = link.inner_address();
  Agent agent(options);
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--region-width",
                                         "16", "-o", (dir / "ours.png").string()},
                                        {}, 240s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_png(dir / "ours.png", blender_reference(scene, dir / "ref").at(0));
  EXPECT_GT(link.dropped(), 0U) << "no packet was lost: the link was not lossy";
  EXPECT_GT(link.forwarded(), link.dropped());
}

}  // namespace
}  // namespace bnr::testing
