// The bnr_farm add-on in a real, headless Blender: installed from the zip `cmake --install`
// ships into a temporary Blender user config, enabled, and its operator run in background
// mode against a local agent; the file it writes is Blender's own render of the frame.
#include <gtest/gtest.h>

#include "harness.h"

namespace bnr::testing {
namespace {

// A Python string literal for `text` (test paths and endpoints: no quotes or backslashes).
std::string py(const std::string& text) { return "'" + text + "'"; }

tools::RunResult run_addon(const TempDir& dir, const fs::path& scene, const std::string& extra_args) {
  const std::string script =
      "import bpy, sys\n"
      "bpy.ops.preferences.addon_install(filepath=" + py(BNR_ADDON_ZIP) + ")\n"
      "bpy.ops.preferences.addon_enable(module='bnr_farm')\n"
      "prefs = bpy.context.preferences.addons['bnr_farm'].preferences\n"
      "prefs.broker_path = " + py(BNR_BROKER_EXE) + "\n"
      "prefs.extra_args = " + py(extra_args) + "\n"
      "assert any(f.__module__ == 'bnr_farm' for f in bpy.types.TOPBAR_MT_render.draw._draw_funcs), "
      "'no Render menu entry'\n"
      "try:\n"
      "    result = bpy.ops.render.bnr_farm()\n"
      "except RuntimeError as e:  # how Blender raises an operator's error report to a script\n"
      "    result = 'error report: ' + str(e)\n"
      "image = bpy.data.images.get('bnr Render Result')\n"
      "print('bnr-test result', result, image.size[0] if image else None, image.size[1] if image else None)\n"
      "sys.exit(0 if result == {'FINISHED'} and image is not None else 3)\n";
  return tools::run_command({"env", "BLENDER_USER_CONFIG=" + (dir / "config").string(),
                             "BLENDER_USER_SCRIPTS=" + (dir / "scripts").string(), "blender", "-b", scene.string(),
                             "--python-exit-code", "2", "--python-expr", script},
                            std::chrono::seconds(240));
}

TEST(Addon, RenderOnBnrFarmWritesBlendersOwnFrameAndLoadsIt) {
  TempDir dir;
  const auto scene = make_scene(dir / "scene.blend", {"--size", "48x32", "--samples", "4"});
  const auto reference = blender_reference(scene, dir / "ref");
  ASSERT_EQ(reference.size(), 1U);
  Agent agent;
  const tools::RunResult r = run_addon(dir, scene, "--no-mdns --no-local --agent " + agent.endpoint());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bnr-test result {'FINISHED'} 48 32"), std::string::npos) << r.output;
  // make_scene's output path is //render_: `blender -b scene.blend -f 1` writes render_0001.png.
  ASSERT_TRUE(fs::exists(dir / "render_0001.png")) << r.output;
  expect_same_png(dir / "render_0001.png", reference[0]);
  EXPECT_TRUE(fs::exists(dir / "scripts" / "addons" / "bnr_farm" / "__init__.py")) << "installed from the zip";
}

TEST(Addon, ABrokerFailureIsReportedAndTheOperatorCancelled) {
  TempDir dir;
  const auto scene = make_scene(dir / "scene.blend", {"--size", "16x16", "--samples", "1"});
  // Nothing listens on port 9: the broker gives up with its one-line reason.
  const tools::RunResult r = run_addon(dir, scene, "--no-mdns --no-local --agent 127.0.0.1:9 --agent-timeout 2");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("bnr-test result error report: Error: bnr-broker: no agent left to render on"),
            std::string::npos)
      << "the broker's reason reaches the user: " << r.output;
  EXPECT_FALSE(fs::exists(dir / "render_0001.png"));
}

}  // namespace
}  // namespace bnr::testing
