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
from scene_analysis import active_views, blender_version, frame_size, scene_denoises  # noqa: E402


def one_line(text):
    return " ".join(str(text).split())


def resolve(path, library):
    """The absolute, normalised path Blender reads for `path` stored in `library` (None: main)."""
    return os.path.normpath(bpy.path.abspath(path, library=library))


def library_path(lib):
    # An indirectly linked library's path is stored relative to the library that links it.
    first = resolve(lib.filepath, lib.parent)
    if os.path.exists(first) or lib.parent is None:
        return first
    return resolve(lib.filepath, None)


def image_files(img):
    if img.source == "TILED" and "<UDIM>" in img.filepath:
        return [img.filepath.replace("<UDIM>", str(t.number)) for t in img.tiles]
    return [img.filepath]


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

    def add(path, what):
        if not path or path.startswith("<"):  # "<builtin>" font and the like
            return
        if "\t" in path or "\n" in path:
            lines.append(("warning", f"{what}: a path with a tab or line break is not sent to agents"))
        elif os.path.isfile(path):
            lines.append(("file", path))
        else:
            lines.append(("missing", path, one_line(what)))

    for lib in bpy.data.libraries:
        if lib.packed_file is None:
            add(library_path(lib), f"library {lib.name}")
    for img in bpy.data.images:
        if img.packed_file is not None or img.source not in ("FILE", "MOVIE", "TILED", "SEQUENCE"):
            continue
        if img.source == "SEQUENCE":
            lines.append(("warning", f"image sequence {img.name} is not sent to agents; pack it or use one file"))
            continue
        for path in image_files(img):
            add(resolve(path, img.library), f"image {img.name}")
    for collection, kind in ((bpy.data.movieclips, "movie clip"), (bpy.data.sounds, "sound"),
                             (bpy.data.fonts, "font"), (bpy.data.cache_files, "cache file"),
                             (bpy.data.volumes, "volume")):
        for idb in collection:
            if getattr(idb, "packed_file", None) is not None:
                continue
            add(resolve(idb.filepath, idb.library), f"{kind} {idb.name}")
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
