# bnr Farm: renders the current frame with bnr-broker across the agents on the LAN and shows
# the live preview, then the result, in the Image Editor. The broker does the work; this
# add-on saves the file, starts the broker, follows its progress lines and preview file and
# loads what it wrote.
import contextlib
import os
import shutil
import tempfile

import bpy

from .broker_run import BrokerRun, broker_command, signals_cancel
from .result_image import PreviewWatcher, load_result, show

bl_info = {
    "name": "bnr Farm",
    "author": "bnr",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Render > Render on bnr Farm",
    "description": "Render the current frame across bnr agents on the LAN",
    "category": "Render",
}


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


class RENDER_OT_bnr_farm(bpy.types.Operator):
    """Render the current frame on the bnr farm"""

    bl_idname = "render.bnr_farm"
    bl_label = "Render on bnr Farm"

    _run = None
    _timer = None
    _output = ""
    _preview = None
    _preview_dir = None
    _shown = False  # the preview is in an Image Editor (or the render view was opened for it)
    _said = ""  # the status line printed last (background mode)

    def _start(self, context):
        if not bpy.data.filepath:
            if not bpy.app.background:
                bpy.ops.wm.save_as_mainfile("INVOKE_DEFAULT")
            self.report({"ERROR"}, "Save the .blend file first, then render again: bnr-broker renders the saved file")
            return False
        if bpy.data.is_dirty:
            bpy.ops.wm.save_mainfile()
        prefs = context.preferences.addons[__package__].preferences
        self._preview_dir = tempfile.mkdtemp(prefix="bnr-farm-")
        preview = os.path.join(self._preview_dir, "preview.png")
        try:
            command, self._output = broker_command(prefs, bpy.data.filepath, context.scene, preview)
            os.makedirs(os.path.dirname(self._output) or ".", exist_ok=True)
        except (ValueError, OSError) as e:
            self._clean_up()
            self.report({"ERROR"}, str(e))
            return False
        try:
            self._run = BrokerRun(command, os.path.dirname(bpy.data.filepath), echo=bpy.app.background)
        except OSError as e:
            self._clean_up()
            self.report({"ERROR"}, "cannot run %s: %s (set the add-on's bnr-broker path)" % (command[0], e))
            return False
        self._preview = PreviewWatcher(preview)
        self._shown = False
        return True

    def _tick(self, context):
        """Every turn while the broker runs: the newest preview into the image and the
        Image Editor, the progress into the status bar (printed in background mode)."""
        image = self._preview.poll()
        if image is not None:
            show(image, open_render_view=not self._shown)
            self._shown = True
            self._say("bnr Farm: preview %dx%d at %d%%" % (image.size[0], image.size[1], self._run.percent))
        status = "bnr Farm: " + self._run.status
        if context.workspace is not None and not bpy.app.background:
            context.workspace.status_text_set(status + ("" if self._run.cancelled else "  (Esc cancels)"))
        if status != self._said:
            self._said = status
            self._say(status)

    def _say(self, line):
        if bpy.app.background:
            print(line, flush=True)

    def _clean_up(self):
        if self._preview_dir:
            shutil.rmtree(self._preview_dir, ignore_errors=True)
            self._preview_dir = None

    def _finish(self, context, code):
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        self._clean_up()
        if code != 0:
            why = self._run.last_line or "bnr-broker exited with code %d" % code
            self.report({"ERROR"} if code != 130 else {"WARNING"}, why)
            return {"CANCELLED"}
        show(load_result(self._output), open_render_view=True)
        self.report({"INFO"}, "bnr Farm: wrote " + self._output)
        return {"FINISHED"}

    def execute(self, context):
        # Background mode (and scripts): run to the end before returning, showing the preview
        # as it comes.
        if not self._start(context):
            return {"CANCELLED"}
        with signals_cancel(self._run), self._cancelled_on_error():
            code = None
            while code is None:
                self._tick(context)
                code = self._run.wait(timeout=0.25)
        return self._finish(context, code)

    @contextlib.contextmanager
    def _cancelled_on_error(self):
        """A failure in this add-on cancels the broker rather than leaving it rendering."""
        try:
            yield
        except BaseException:
            self._run.cancel()
            self._run.wait(timeout=30)
            self._clean_up()
            raise

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
        if event.type == "TIMER":
            with self._cancelled_on_error():
                self._tick(context)
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
