// --preview: the frame so far, rewritten while the broker renders, then the finished frame.
#include <gtest/gtest.h>

#include <thread>

#include "harness.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

// Counts opaque and fully transparent pixels of a preview.
std::pair<long, long> opaque_and_clear(const tools::Image16& image) {
  long opaque = 0, clear = 0;
  for (std::size_t i = 3; i < image.rgba.size(); i += 4) {
    opaque += image.rgba[i] == 65535;
    clear += image.rgba[i] == 0;
  }
  return {opaque, clear};
}

TEST(Preview, ShowsFinishedRegionsWhileRenderingThenTheFrame) {
  TempDir dir;
  const auto scene = make_scene(dir / "p.blend", {"--size", "320x180", "--samples", "160"});
  Agent agent;
  const fs::path preview = dir / "live.png";
  auto broker = start_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--region-width", "32",
                              "-o", (dir / "out.png").string(), "--preview", preview.string()});
  // While the broker runs, a preview shows some columns done and some not.
  bool partial = false;
  while (broker->running() && !partial) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (!fs::exists(preview)) continue;
    const tools::Image16 image = tools::read_png(preview);  // atomic: never half-written
    ASSERT_EQ(image.width, 320);
    const auto [opaque, clear] = opaque_and_clear(image);
    partial = opaque > 0 && clear > 0;
  }
  EXPECT_TRUE(partial) << "no preview with both finished and unfinished regions was seen";
  ASSERT_EQ(broker->wait_or_kill(std::chrono::seconds(240)), 0);
  // At the end it shows the finished frame: the output itself.
  expect_same_png(preview, dir / "out.png");
}

}  // namespace
}  // namespace bnr::testing
