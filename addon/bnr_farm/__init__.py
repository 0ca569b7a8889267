# bnr Farm: renders the current frame with bnr-broker across the agents on the LAN and shows
# the result in the Image Editor. The broker does the work; this add-on saves the file, starts
# the broker, follows its progress lines and loads what it wrote.
import os
import re
import shlex
import signal
import subprocess
import threading

import bpy

bl_info = {
    "name": "bnr Farm",
    "author": "bnr",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Render > Render on bnr Farm",
    "description": "Render the current frame across bnr agents on the LAN",
    "category": "Render",
}

RESULT_IMAGE = "bnr Render Result"
# "  42% | 12 regions done | 3 agents | 0:12 elapsed | ETA 0:17", as the broker prints it.
PROGRESS = re.compile(r"^\s*(\d+)% \|.*$")


class BnrFarmPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    broker_path: bpy.props.StringProperty(
        name="bnr-broker",
        description="The bnr-broker program (a name is looked up on PATH)",
        default="bnr-broker",
        subtype="FILE_PATH",
    )
    extra_args: bpy.props.StringProperty(
        name="Extra arguments",
        description="More bnr-broker options, as on a command line (e.g. --agent host:7300 --no-local)",
        default="",
    )

    def draw(self, context):
        self.layout.prop(self, "broker_path")
        self.layout.prop(self, "extra_args")


def output_files(scene):
    """Where `blender -b file -f N` would write the current frame: (png, exr or None)."""
    path = bpy.path.abspath(scene.render.frame_path(frame=scene.frame_current))
    file_format = scene.render.image_settings.file_format
    if file_format == "PNG":
        return path, None
    if file_format in ("OPEN_EXR", "OPEN_EXR_MULTILAYER"):
        return os.path.splitext(path)[0] + ".png", path
    raise ValueError("bnr writes PNG or OpenEXR; the scene's output format is " + file_format)


def broker_command(prefs, blend, scene):
    png, exr = output_files(scene)
    command = [bpy.path.abspath(prefs.broker_path) if os.sep in prefs.broker_path else prefs.broker_path,
               blend, "--frame", str(scene.frame_current), "-o", png]
    if exr:
        command += ["--exr", exr]
    command += shlex.split(prefs.extra_args)
    return command, exr or png


def show_result(path):
    """Loads `path` as RESULT_IMAGE and shows it in an Image Editor, if one is open."""
    image = bpy.data.images.get(RESULT_IMAGE)
    if image is None:
        image = bpy.data.images.load(path, check_existing=False)
        image.name = RESULT_IMAGE
    else:
        image.filepath = path
        image.reload()
    if bpy.app.background:
        return image
    if not show_in_image_editor(image):
        # No Image Editor open: Blender's own render view (a window, per the Interface
        # preferences) has one.
        bpy.ops.render.view_show("INVOKE_DEFAULT")
        show_in_image_editor(image)
    return image


def show_in_image_editor(image):
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                return True
    return False


class BrokerRun:
    """The broker child process; a thread turns its stderr into the latest progress line and
    the last error line, so the UI never blocks on the pipe."""

    def __init__(self, command, cwd):
        self.process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        self.percent = 0
        self.status = "starting bnr-broker"
        self.last_line = ""
        self.echo = bpy.app.background
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            line = line.rstrip("\n").split("\r")[-1].replace("\033[K", "")
            if not line.strip():
                continue
            if self.echo:
                print(line, flush=True)
            match = PROGRESS.match(line)
            if match:
                self.percent = int(match.group(1))
                self.status = line.strip()
            else:
                self.last_line = line.strip()

    def cancel(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the broker's Ctrl+C: cancelled everywhere, spool kept

    def wait(self):
        code = self.process.wait()
        self.reader.join(timeout=5)
        return code


class RENDER_OT_bnr_farm(bpy.types.Operator):
    """Render the current frame on the bnr farm"""

    bl_idname = "render.bnr_farm"
    bl_label = "Render on bnr Farm"

    _run = None
    _timer = None
    _output = ""

    def _start(self, context):
        if not bpy.data.filepath:
            if not bpy.app.background:
                bpy.ops.wm.save_as_mainfile("INVOKE_DEFAULT")
            self.report({"ERROR"}, "Save the .blend file first, then render again: bnr-broker renders the saved file")
            return False
        if bpy.data.is_dirty:
            bpy.ops.wm.save_mainfile()
        prefs = context.preferences.addons[__package__].preferences
        try:
            command, self._output = broker_command(prefs, bpy.data.filepath, context.scene)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return False
        os.makedirs(os.path.dirname(self._output) or ".", exist_ok=True)
        try:
            self._run = BrokerRun(command, os.path.dirname(bpy.data.filepath))
        except OSError as e:
            self.report({"ERROR"}, "cannot run %s: %s (set the add-on's bnr-broker path)" % (command[0], e))
            return False
        return True

    def _finish(self, context, code):
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        if code != 0:
            why = self._run.last_line or "bnr-broker exited with code %d" % code
            self.report({"ERROR"} if code != 130 else {"WARNING"}, why)
            return {"CANCELLED"}
        show_result(self._output)
        self.report({"INFO"}, "bnr Farm: wrote " + self._output)
        return {"FINISHED"}

    def execute(self, context):
        # Background mode (and scripts): run to the end before returning.
        if not self._start(context):
            return {"CANCELLED"}
        try:
            code = self._run.wait()
        except KeyboardInterrupt:
            self._run.cancel()
            code = self._run.wait()
        return self._finish(context, code)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.5, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._run.cancel()
            self._run.status = "cancelling (the spool is kept: rendering again resumes)"
        if event.type == "TIMER":
            context.workspace.status_text_set("bnr Farm: " + self._run.status + "  (Esc cancels)")
            code = self._run.process.poll()
            if code is not None:
                context.window_manager.event_timer_remove(self._timer)
                return self._finish(context, self._run.wait())
        return {"PASS_THROUGH"} if event.type != "ESC" else {"RUNNING_MODAL"}


def menu_entry(self, context):
    self.layout.separator()
    self.layout.operator(RENDER_OT_bnr_farm.bl_idname, icon="RENDER_STILL")


classes = (BnrFarmPreferences, RENDER_OT_bnr_farm)


def register():
    for c in classes:
        bpy.utils.register_class(c)
    bpy.types.TOPBAR_MT_render.append(menu_entry)


def unregister():
    bpy.types.TOPBAR_MT_render.remove(menu_entry)
    for c in reversed(classes):
        bpy.utils.unregister_class(c)
