# The image "bnr Render Result": the broker's live preview while it renders, then the file it
# wrote, shown in an Image Editor when Blender has a UI.
import os

import bpy

RESULT_IMAGE = "bnr Render Result"


def load_result(path):
    """`path` as RESULT_IMAGE: the same image reloaded from another file, so an Image Editor
    showing it keeps showing it; a new one when the file type changes (an EXR result after the
    PNG preview), whose colour space Blender then picks from the file."""
    image = bpy.data.images.get(RESULT_IMAGE)
    if image is not None and os.path.splitext(image.filepath)[1].lower() != os.path.splitext(path)[1].lower():
        bpy.data.images.remove(image)
        image = None
    if image is None:
        image = bpy.data.images.load(path, check_existing=False)
        image.name = RESULT_IMAGE
    else:
        image.filepath = path
        image.reload()
    return image


def show(image, open_render_view):
    """Shows `image` in the open Image Editors; with none open and `open_render_view`, in
    Blender's render view (a window, per the Interface preferences), which has one."""
    if bpy.app.background:
        return
    if not show_in_image_editors(image) and open_render_view:
        bpy.ops.render.view_show("INVOKE_DEFAULT")
        show_in_image_editors(image)


def show_in_image_editors(image):
    shown = False
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                area.tag_redraw()
                shown = True
    return shown


class PreviewWatcher:
    """The broker's --preview file, which it replaces (rename) every few seconds: poll() loads
    each new version into RESULT_IMAGE."""

    def __init__(self, path):
        self.path = path
        self.loads = 0
        self._seen = None

    def poll(self):
        """The image when the preview changed since the last call (loaded into RESULT_IMAGE),
        else None."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._seen:
            return None
        self._seen = stamp
        try:
            image = load_result(self.path)
        except RuntimeError:  # Blender could not read it: the next version will do
            return None
        self.loads += 1
        return image
