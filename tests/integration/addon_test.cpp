// The bnr_farm add-on in a real, headless Blender: installed from the zip `cmake --install`
// ships into a temporary Blender user config, enabled, and its operator run in background
// mode against a local agent; the file it writes is Blender's own render of the frame, the
// live preview is in "bnr Render Result" while the broker renders, and Ctrl+C cancels.
#include <gtest/gtest.h>

#include <csignal>
#include <regex>

#include "addon_script.h"
#include "harness.h"

namespace bnr::testing {
namespace {

// Each time the add-on shows an image, how much of "bnr Render Result" is rendered: a line
// "bnr-test shown OPAQUE CLEAR TOTAL" (pixels with alpha 1, alpha 0, all).
constexpr const char* kWatchShownImages =
    "import bnr_farm\n"
    "def watched(show):\n"
    "    def counting(image, **kw):\n"
    "        alpha = image.pixels[:][3::4]\n"
    "        print('bnr-test shown', sum(a == 1.0 for a in alpha), sum(a == 0.0 for a in alpha), len(alpha),\n"
    "              flush=True)\n"
    "        return show(image, **kw)\n"
    "    return counting\n"
    "bnr_farm.show = watched(bnr_farm.show)\n";

// Blender, the add-on installed from the zip and enabled, running the operator (temporary files
// in dir/tmp) on `scene` (empty: Blender's unsaved start-up file); `watch`: Python run after
// enabling it. Exit 0 when it finished with the image loaded, 3 otherwise.
std::vector<std::string> addon_command(const TempDir& dir, const fs::path& scene, const std::string& extra_args,
                                       const std::string& watch = {}) {
  const std::string script =
      addon_setup_python(extra_args) +
      "assert any(f.__module__ == 'bnr_farm' for f in bpy.types.TOPBAR_MT_render.draw._draw_funcs), "
      "'no Render menu entry'\n" + watch +
      "print('bnr-test started', flush=True)\n"
      "try:\n"
      "    result = bpy.ops.render.bnr_farm()\n"
      "except RuntimeError as e:  # how Blender raises an operator's error report to a script\n"
      "    result = 'error report: ' + str(e)\n"
      "image = bpy.data.images.get('bnr Render Result')\n"
      "print('bnr-test result', result, image.size[0] if image else None, image.size[1] if image else None)\n"
      "print('bnr-test image', image.filepath if image else None, image.is_float if image else None)\n"
      "sys.exit(0 if result == {'FINISHED'} and image is not None else 3)\n";
  fs::create_directories(dir / "tmp");
  std::vector<std::string> command = {"env", "BLENDER_USER_CONFIG=" + (dir / "config").string(),
                                      "BLENDER_USER_SCRIPTS=" + (dir / "scripts").string(),
                                      "TMPDIR=" + (dir / "tmp").string(), "blender", "-b"};
  command.push_back(scene.empty() ? "--factory-startup" : scene.string());
  command.insert(command.end(), {"--python-exit-code", "2", "--python-expr", script});
  return command;
}

tools::RunResult run_addon(const TempDir& dir, const fs::path& scene, const std::string& extra_args,
                           const std::string& watch = {}) {
  return tools::run_command(addon_command(dir, scene, extra_args, watch), std::chrono::seconds(240));
}

// A frame that takes several preview periods (a few seconds each) on one agent thread.
fs::path slow_scene(const TempDir& dir) {
  return make_scene(dir / "slow.blend", {"--size", "320x180", "--samples", "160"});
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

// While the broker renders, "bnr Render Result" is its preview: some regions in place and the
// rest transparent; then the whole frame. The progress line reaches the status text.
TEST(Addon, TheLivePreviewIsShownWhileTheBrokerRendersThenTheResult) {
  TempDir dir;
  const auto scene = slow_scene(dir);
  Agent agent;
  const tools::RunResult r = run_addon(
      dir, scene, "--no-mdns --no-local --region-width 32 --agent " + agent.endpoint(), kWatchShownImages);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bnr-test result {'FINISHED'} 320 180"), std::string::npos) << r.output;
  const std::size_t wrote = r.output.find("bnr Farm: wrote ");
  ASSERT_NE(wrote, std::string::npos) << r.output;
  const std::string during = r.output.substr(0, wrote);
  EXPECT_NE(during.find("bnr Farm: preview 320x180 at "), std::string::npos) << r.output;
  EXPECT_TRUE(std::regex_search(during, std::regex("bnr Farm: +[0-9]+% \\| [0-9]+ regions done \\| 1 agent \\| ")))
      << "the progress line, as the status bar shows it: " << r.output;

  long partial = 0, last_opaque = -1;
  const std::regex shown("bnr-test shown ([0-9]+) ([0-9]+) ([0-9]+)");
  for (std::sregex_iterator it(r.output.begin(), r.output.end(), shown), end; it != end; ++it) {
    const long opaque = std::stol((*it)[1]), clear = std::stol((*it)[2]), total = std::stol((*it)[3]);
    EXPECT_EQ(total, 320 * 180);
    partial += opaque > 0 && clear > 0;
    last_opaque = opaque;
  }
  EXPECT_GT(partial, 0) << "no preview with finished and unfinished regions was shown: " << r.output;
  EXPECT_EQ(last_opaque, 320 * 180) << "the result is shown last: " << r.output;
  EXPECT_TRUE(fs::exists(dir / "render_0001.png")) << r.output;
  EXPECT_TRUE(files_with_prefix(dir / "tmp", "bnr-farm-").empty()) << "the preview's folder is removed";
}

// Ctrl+C (SIGINT) to a background Blender cancels the farm render as Esc does in the UI: the
// broker's Ctrl+C (job cancelled on every agent, spool kept), the operator cancelled.
TEST(Addon, CtrlCToABackgroundBlenderCancelsTheBrokerAndKeepsTheSpool) {
  TempDir dir;
  const auto scene = slow_scene(dir);
  Agent agent;
  tools::ChildProcess::Options options;
  options.capture_stdout = true;
  options.stderr_to_stdout = true;
  tools::ChildProcess blender(
      addon_command(dir, scene, "--no-mdns --no-local --region-width 32 --agent " + agent.endpoint()), options);
  std::string output;
  // Some regions are journaled, and the operator has shown a preview: it is in its loop.
  const fs::path journal = dir / "render_0001.png.bnr-spool" / "journal";
  ASSERT_GE(wait_for_journal(journal, journal_bytes(32, 180), std::chrono::seconds(120)), journal_bytes(32, 180));
  ASSERT_TRUE(wait_for_output(blender, output, "bnr Farm: preview ", std::chrono::seconds(60))) << output;
  blender.send_signal(SIGINT);
  EXPECT_EQ(wait_for_exit(blender, output, std::chrono::seconds(60)), 3) << output;
  EXPECT_NE(output.find("bnr-test result {'CANCELLED'}"), std::string::npos) << output;
  EXPECT_NE(output.find("interrupted; the job was cancelled on every agent"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(dir / "render_0001.png")) << output;
  EXPECT_GE(fs::file_size(journal), journal_bytes(32, 180)) << "the spool is kept: " << output;
}

// A scene whose output is `format`: its file, as `blender -b -f 1` names it (`name`), is
// written and is "bnr Render Result" after the PNG preview (`is_float`: as Blender loads it).
void expect_format_shown(const std::string& format, const std::string& name, const std::string& size,
                         const std::string& is_float) {
  TempDir dir;
  const auto scene = make_scene(dir / "scene.blend", {"--size", "48x32", "--samples", "4"});
  Agent agent;
  const tools::RunResult r =
      run_addon(dir, scene, "--no-mdns --no-local --agent " + agent.endpoint(),
                "bpy.context.scene.render.image_settings.file_format = '" + format + "'\n"
                "bpy.ops.wm.save_mainfile()\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bnr-test result {'FINISHED'} " + size), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bnr-test image " + (dir / name).string() + " " + is_float), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir / name)) << r.output;
  EXPECT_EQ(files_with_prefix(dir.path(), "render_").size(), 1U) << "one file: " << r.output;
}

TEST(Addon, AnExrSceneWritesItsExrAndShowsIt) { expect_format_shown("OPEN_EXR", "render_0001.exr", "48 32", "True"); }

// Blender's Python sees no size or float buffer in a multilayer EXR (its own too) until an
// Image Editor picks a layer and pass.
TEST(Addon, AMultilayerExrSceneWritesItsMultilayerExrAndShowsIt) {
  expect_format_shown("OPEN_EXR_MULTILAYER", "render_0001.exr", "0 0", "False");
}

TEST(Addon, AJpegSceneWritesItsJpegAndShowsIt) { expect_format_shown("JPEG", "render_0001.jpg", "48 32", "False"); }

// An unsaved file cannot be rendered by the broker: the operator says so and does nothing.
TEST(Addon, AnUnsavedFileIsAnErrorThatSaysToSaveIt) {
  TempDir dir;
  const tools::RunResult r = run_addon(dir, {}, "--no-mdns --no-local --agent 127.0.0.1:9");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("bnr-test result error report: Error: Save the .blend file first"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("bnr Farm: starting"), std::string::npos) << "no broker was started: " << r.output;
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
