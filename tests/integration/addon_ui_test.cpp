// The bnr_farm add-on in Blender's real UI, on a virtual X display (Xvfb, no network): the
// operator invoked as the Render menu does, the progress in the status bar, the live preview
// in the open Image Editor, and Esc (a real key event, Blender's --enable-event-simulate)
// cancelling the broker with the spool kept.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <regex>

#include "addon_script.h"
#include "harness.h"

namespace bnr::testing {
namespace {

// An Xvfb server on a display it picks itself (-displayfd), listening on no TCP port; ended
// by PID.
class VirtualDisplay {
 public:
  VirtualDisplay() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    tools::ChildProcess::Options options;
    options.stdout_to_null = true;
    options.fds = {{3, fds[1]}};
    server_ = std::make_unique<tools::ChildProcess>(
        std::vector<std::string>{"Xvfb", "-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "1280x800x24"},
        options);
    close(fds[1]);
    tools::set_nonblocking_cloexec(fds[0]);
    std::string said;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (said.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline &&
           server_->running() && tools::read_available(fds[0], said))
      usleep(50 * 1000);
    close(fds[0]);
    if (said.find('\n') == std::string::npos) throw std::runtime_error("Xvfb did not start: '" + said + "'");
    display_ = ":" + said.substr(0, said.find('\n'));
  }
  ~VirtualDisplay() {
    server_->send_signal(SIGTERM);  // it removes its socket and lock file
    (void)server_->wait_or_kill(std::chrono::seconds(5));
  }
  VirtualDisplay(const VirtualDisplay&) = delete;
  VirtualDisplay& operator=(const VirtualDisplay&) = delete;
  [[nodiscard]] const std::string& display() const { return display_; }

 private:
  std::unique_ptr<tools::ChildProcess> server_;
  std::string display_;
};

// In the UI: the add-on installed and enabled, the 3D view turned into an Image Editor, the
// operator invoked there; each status bar text and each look at the Image Editor printed
// ("bnr-test editor NAME OPAQUE CLEAR TOTAL"); Esc pressed once the status bar showed progress
// and the editor a preview with rendered and unrendered pixels; Blender quits once the
// operator cleared its status.
std::string ui_script(const TempDir& dir, const std::string& extra_args) {
  return addon_setup_python(extra_args) +
         "bpy.context.preferences.use_preferences_save = False\n"
         "bpy.context.preferences.filepaths.temporary_directory = " + py((dir / "tmp").string()) + "\n"
         "statuses = []\n"
         "set_status = bpy.types.WorkSpace.status_text_set\n"
         "def recording(self, text):\n"
         "    statuses.append(text)\n"
         "    print('bnr-test status', text, flush=True)\n"
         "    return set_status(self, text)\n"
         "bpy.types.WorkSpace.status_text_set = recording\n"
         "window = bpy.context.window_manager.windows[0]\n"
         "area = next(a for a in window.screen.areas if a.type == 'VIEW_3D')\n"
         "area.type = 'IMAGE_EDITOR'\n"
         "state = {'phase': 'start', 'ticks': 0}\n"
         "def step():\n"
         "    state['ticks'] += 1\n"
         "    if state['ticks'] > 600:\n"
         "        print('bnr-test gave up', flush=True)\n"
         "        bpy.ops.wm.quit_blender()\n"
         "        return None\n"
         "    if state['phase'] == 'start':\n"
         "        region = next(r for r in area.regions if r.type == 'WINDOW')\n"
         "        with bpy.context.temp_override(window=window, area=area, region=region):\n"
         "            print('bnr-test invoked', bpy.ops.render.bnr_farm('INVOKE_DEFAULT'), flush=True)\n"
         "        state['phase'] = 'watch'\n"
         "    elif state['phase'] == 'watch' and area.spaces.active.image is not None:\n"
         "        image = area.spaces.active.image\n"
         "        alpha = image.pixels[:][3::4]\n"
         "        opaque, clear = sum(a == 1.0 for a in alpha), sum(a == 0.0 for a in alpha)\n"
         "        print('bnr-test editor', image.name.replace(' ', '_'), opaque, clear, len(alpha), flush=True)\n"
         "        if opaque > 0 and clear > 0 and any(s and '% |' in s for s in statuses):\n"
         "            window.event_simulate(type='ESC', value='PRESS')\n"
         "            window.event_simulate(type='ESC', value='RELEASE')\n"
         "            print('bnr-test pressed Esc', flush=True)\n"
         "            state['phase'] = 'cancelled'\n"
         "    elif state['phase'] == 'cancelled' and statuses and statuses[-1] is None:\n"
         "        print('bnr-test done', flush=True)\n"
         "        bpy.ops.wm.quit_blender()\n"
         "        return None\n"
         "    return 0.25\n"
         "bpy.app.timers.register(step, first_interval=1.0)\n";
}

TEST(AddonUi, StatusBarProgressLivePreviewInTheImageEditorAndEscCancels) {
  if (tools::run_command({"sh", "-c", "command -v Xvfb"}, std::chrono::seconds(10)).exit_code != 0) {
    ADD_FAILURE() << "Xvfb is not installed (tools/setup.sh installs it)";
    return;
  }
  TempDir dir;
  fs::create_directories(dir / "tmp");
  // Slow enough to be cancelled halfway: 10 regions of a few seconds each on one thread.
  const auto scene = make_scene(dir / "slow.blend", {"--size", "320x180", "--samples", "400"});
  Agent agent;
  VirtualDisplay display;
  tools::ChildProcess::Options options;
  options.capture_stdout = true;
  options.stderr_to_stdout = true;
  tools::ChildProcess blender(
      {"env", "DISPLAY=" + display.display(), "BLENDER_USER_CONFIG=" + (dir / "config").string(),
       "BLENDER_USER_SCRIPTS=" + (dir / "scripts").string(), "TMPDIR=" + (dir / "tmp").string(), "blender",
       "--enable-event-simulate", scene.string(), "--python-exit-code", "2", "--python-expr",
       ui_script(dir, "--no-mdns --no-local --region-width 32 --agent " + agent.endpoint())},
      options);
  std::string output;
  ASSERT_EQ(wait_for_exit(blender, output, std::chrono::seconds(240)), 0) << output;
  EXPECT_NE(output.find("bnr-test invoked {'RUNNING_MODAL'}"), std::string::npos) << output;
  EXPECT_TRUE(std::regex_search(output, std::regex("bnr-test status bnr Farm: +[0-9]+% \\| [0-9]+ regions done \\| "
                                                   "1 agent \\| [0-9:]+ elapsed.*\\(Esc cancels\\)")))
      << "the progress line in the status bar: " << output;
  EXPECT_TRUE(std::regex_search(output, std::regex("bnr-test editor bnr_Render_Result [1-9][0-9]* [1-9][0-9]* 57600")))
      << "the Image Editor showed the live preview: " << output;
  const std::size_t esc = output.find("bnr-test pressed Esc");
  ASSERT_NE(esc, std::string::npos) << output;
  EXPECT_NE(output.find("bnr-test status bnr Farm: cancelling (the spool is kept", esc), std::string::npos) << output;
  EXPECT_NE(output.find("bnr-test status None", esc), std::string::npos) << "the status bar is cleared: " << output;
  EXPECT_NE(output.find("bnr-test done", esc), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(dir / "render_0001.png")) << output;
  EXPECT_GE(fs::file_size(dir / "render_0001.png.bnr-spool" / "journal"), journal_bytes(32, 180))
      << "the spool is kept, with the regions rendered before Esc: " << output;
}

}  // namespace
}  // namespace bnr::testing
