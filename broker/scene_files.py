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
# Packed data travels inside the .blend and is not listed. Linked data is resolved against its
# library, so a library's own relative textures are listed with their real location.
import argparse
import os
import sys
import traceback

import bpy


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
    """The frame the broker owns: agents whose Blender sees another are not used. The same
    rules as the worker's analyse() and active_views() (agent/blender_worker.py)."""
    r = scene.render
    lines = [("frame", str(r.resolution_x * r.resolution_percentage // 100),
              str(r.resolution_y * r.resolution_percentage // 100))]
    views = [v for v in r.views if v.use] if r.use_multiview else []
    if r.use_multiview and r.views_format == "STEREO_3D":
        views = [v for v in views if v.name in ("left", "right")]
    if len(views) >= 2:
        lines += [("view", v.name, v.file_suffix) for v in views]
    imf = r.image_settings
    lines.append(("output", imf.file_format, imf.color_depth or "8"))
    return lines


def listing():
    lines = [("version", bpy.app.version_string.split()[0])] + frame_lines(bpy.context.scene)

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
    return lines


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
except SystemExit:
    raise
except Exception:
    traceback.print_exc()
    sys.exit(1)
