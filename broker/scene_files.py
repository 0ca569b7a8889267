# Lists the files a .blend needs besides itself, inside the broker machine's Blender:
#
#   blender -b --factory-startup --disable-autoexec SCENE.blend --python scene_files.py -- --out LIST
#
# LIST gets one line per fact, TAB-separated, paths absolute and normalised:
#   version  3.4.1
#   file     /abs/path             a file to ship (image, library, movie, sound, font, cache...)
#   missing  /abs/path  what       referenced but absent here (Blender renders it as missing too)
#   warning  text                  something that will not reach the agents
#   frame    WIDTH  HEIGHT         the frame's pixels, as the agents' worker computes them
#   view     NAME   SUFFIX         each view rendered, in order (none: mono)
#   output   FORMAT DEPTH          the scene's output file format and bit depth, as saved
#   denoise  SCENE  CAN  WORDS     SCENE 1 when the scene denoises; CAN 1 when this Blender can
#                                  denoise (the broker denoises the merged frame with it);
#                                  WORDS what Blender says about it, e.g. its render error
# Packed data travels inside the .blend and is not listed. Linked data is resolved against its
# library, so a library's own relative textures are listed with their real location.
import argparse
import os
import sys
import traceback

import bpy

# The worker's scene analysis (agent/scene_analysis.py), written next to this script.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scene_analysis import (active_views, blender_version, external_references, frame_size,  # noqa: E402
                            scene_denoises)


def one_line(text):
    return " ".join(str(text).split())


def frame_lines(scene):
    """The frame the broker owns: agents whose Blender sees another are not used; and the
    scene's output format and depth, as saved."""
    r = scene.render
    width, height = frame_size(r)
    lines = [("frame", str(width), str(height))] + [("view", v.name, v.file_suffix) for v in active_views(r)]
    imf = r.image_settings
    lines.append(("output", imf.file_format, imf.color_depth or "8"))
    return lines


def denoise_probe():
    """(can, words): whether this Blender's Cycles denoises, from a 4x4 render of an empty
    scene with denoising on (about 0.3 s), in Blender's own words when it cannot."""
    scene = bpy.data.scenes.new("bnr denoise probe")
    try:
        scene.render.engine = "CYCLES"
        scene.render.resolution_x = scene.render.resolution_y = 4
        scene.cycles.samples = 1
        scene.cycles.device = "CPU"
        scene.cycles.use_denoising = True
        try:
            scene.cycles.denoiser = "OPENIMAGEDENOISE"  # the denoiser the broker would run
        except TypeError:
            pass  # a Blender without it offers no such choice; the render then says why
        camera = bpy.data.objects.new("bnr probe camera", bpy.data.cameras.new("bnr probe camera"))
        scene.collection.objects.link(camera)
        scene.camera = camera
        bpy.ops.render.render(scene=scene.name)
        return True, "a test render with denoising succeeded"
    except RuntimeError as e:
        # bpy turns the operator's error report into the exception text ("Error: ...").
        return False, one_line(str(e)).removeprefix("Error: ")
    finally:
        bpy.data.scenes.remove(scene)


def denoise_line(scene):
    try:
        import _cycles
        built = getattr(_cycles, "with_openimagedenoise", None)
    except ImportError:
        built = False
    said = f"_cycles.with_openimagedenoise is {built}"
    if not scene_denoises(scene):
        return ("denoise", "0", str(int(bool(built))), said)
    can, words = denoise_probe()
    return ("denoise", "1", str(int(can)), words if can else f"{words} ({said})")


def listing():
    scene = bpy.context.scene
    lines = [("version", blender_version(bpy.app))] + frame_lines(scene)

    for path, what in external_references(bpy.data, bpy.path.abspath):
        if path is None:
            lines.append(("warning", f"{what} is not sent to agents; pack it or use one file"))
        elif "\t" in path or "\n" in path:
            lines.append(("warning", f"{what}: a path with a tab or line break is not sent to agents"))
        elif os.path.isfile(path):
            lines.append(("file", path))
        else:
            lines.append(("missing", path, one_line(what)))
    # Last: its probe render adds a scene and a Render Result, which are not the scene's.
    return lines + [denoise_line(scene)]


def main():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="scene_files.py")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if not bpy.data.filepath:
        print("bnr: no scene was loaded", file=sys.stderr)  # Blender printed why, keep its line last
        sys.exit(1)
    lines = listing()
    with open(args.out, "w", encoding="utf-8", errors="surrogateescape") as f:
        for fields in lines:
            if fields[0] == "warning":
                fields = ("warning", one_line(fields[1]))
            f.write("\t".join(fields) + "\n")


try:
    main()
    # Leaving normally exits 1 after the denoise probe's failed render (Blender keeps its
    # "render stopped" flag); the listing itself succeeded.
    sys.exit(0)
except SystemExit:
    raise
except Exception:
    traceback.print_exc()
    sys.exit(1)
