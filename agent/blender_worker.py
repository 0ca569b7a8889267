# bnr's worker: runs inside one long-lived Blender (3.4 to 5.x) process per job and renders
# border regions of the loaded scene on request. The agent starts it as
#
#   blender -b --factory-startup --disable-autoexec -t N SCENE.blend --python-exit-code 2 \
#       --python blender_worker.py -- --cmd-fd 3 --reply-fd 4 --cycles-device DEV [--no-denoise]
#
# (--cycles-device is also Cycles' own flag: it forces the device for every render.) With
# --probe-device instead of the pipes and no scene, it only sets the device up on the
# default scene, prints "bnr-device<TAB>DEVICE" or "bnr-device-error<TAB>REASON" and exits.
# With --spare and no scene, it is started before any job (a Blender takes about a second
# to start, opening a scene in one that runs takes milliseconds) and waits for
#
#   agent -> worker, once:  open  scene= [frame=] [no_denoise=1] [tree_root=]
#
# which opens the scene as the command line would have; then it is a job's worker as above.
# Before waiting, a spare says what the agent's start-up probe would have told it:
#
#   worker -> agent, once:  spare  blender=X.Y.Z  device=DEVICE | device_error=REASON
#
# A worker serving a job takes `open` too, between renders: it drops its scene and opens
# another (a warm Blender serving a job of another scene), answering ready or error again.
#
# and talks to it over two pipes, one message per line (UTF-8): a kind, then TAB-separated
# key=value fields; values escape backslash, TAB and newline as \\, \t, \n; lists are
# comma-separated (';' for the human-readable ones).
#
#   worker -> agent, once:  ready  blender= engine= width= height= frame= views= suffixes=
#                           stereo= crosseyed= squeezed= depth= color_mode= transparent=
#                           adaptive= denoise= margin= unsplittable= post= warnings= (+ extras,
#                           among them device=, what Cycles renders on as Blender reports it,
#                           format= and color_depth= of the scene's output, and external=, how
#                           many files the scene reads besides the .blend)
#                       or  error  message=            (then exits non-zero)
#   agent -> worker:        render id= min_x= max_x= min_y= max_y= dir= exr=0|1 passes=0|1|2
#                           (passes=2: compositing off, every pass as float, for the broker)
#   worker -> agent:        done id= png=P1,P2 exr=E1,E2 layers=L1,L2 seconds=
#                       |   failed id= message=
#   agent -> worker:        quit (or EOF)  -> exit 0
#
# Region PNGs are 16-bit RGBA, display-referred exactly as Blender's own output (the scene's
# view transform, look, exposure, gamma and curves apply); region EXRs are float32 RGBA,
# scene-linear; region layer files are multilayer EXRs of every pass of every view layer, as
# Blender writes them. All are cropped to the border. One file per view, in `views` order.
# The agent binary embeds this file (agent/CMakeLists.txt) and writes it out at start-up.
import argparse
import math
import os
import re
import sys
import time
import traceback

import bpy

# What the `ready` line says of the scene, and the shims for Blender's API moves between
# versions, are scene_analysis.py's (testable without Blender); the agent embeds it too and
# writes it next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scene_analysis import (WorkerError, active_views, analyse, blender_version, external_references,  # noqa: E402
                            set_file_format)


# ----------------------------------------------------------------------------- line protocol
def escape(value):
    return (str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", ""))


def unescape(value):
    out = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            n = value[i + 1]
            out.append("\t" if n == "t" else "\n" if n == "n" else n)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_line(line):
    parts = line.rstrip("\r\n").split("\t")
    fields = {}
    for part in parts[1:]:
        if not part:
            continue
        key, _, value = part.partition("=")
        fields[key] = unescape(value)
    return parts[0], fields


def format_line(kind, fields):
    return "\t".join([kind] + [f"{k}={escape(v)}" for k, v in fields]) + "\n"


def one_line(text):
    return " ".join(str(text).split())


def log(text):
    # Blender's own output goes to the agent's log tail; keep ours recognisable there.
    print(f"bnr-worker: {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- scene files
def remap_absolute_paths(root):
    """The agent mirrors every file the broker sent under `root` at its broker-side absolute
    path, so "//" relative references already resolve; absolute ones still name the broker's
    machine and are pointed into the mirror here. Returns what could not be remapped."""
    def mirrored(path):
        if not path or path.startswith("//") or not os.path.isabs(path):
            return None
        candidate = os.path.join(root, os.path.normpath(path).lstrip("/"))
        probe = candidate.replace("<UDIM>", "1001") if "<UDIM>" in candidate else candidate
        return candidate if os.path.exists(probe) else None

    for lib in bpy.data.libraries:
        local = mirrored(lib.filepath)
        if local:
            lib.filepath = local
            lib.reload()
    skipped = []
    for collection in (bpy.data.images, bpy.data.movieclips, bpy.data.sounds, bpy.data.fonts,
                       bpy.data.cache_files, bpy.data.volumes):
        for idb in collection:
            local = mirrored(getattr(idb, "filepath", ""))
            if not local:
                continue
            if idb.library is not None:
                # Linked data is read-only: its absolute paths cannot be changed from here.
                skipped.append(f"{idb.name} (linked from {idb.library.name})")
                continue
            idb.filepath = local
    return skipped


# ----------------------------------------------------------------------------- device
GPU_TYPES = ("CUDA", "OPTIX", "HIP", "ONEAPI", "METAL")


def use_device(scene, device):
    """Makes Cycles render `scene` on `device` (CPU or one of GPU_TYPES, every such device
    Blender finds, without the CPU) and returns what Blender then reports it renders on.
    WorkerError when this Blender has no such device."""
    import _cycles
    if device == "CPU":
        scene.cycles.device = "CPU"
        return reported_device(scene)
    found = [d for d in _cycles.available_devices(device) if d[1] == device]
    if not found:
        have = sorted({d[1] for t in GPU_TYPES for d in _cycles.available_devices(t)} - {"CPU"})
        raise WorkerError(f"this machine's Blender finds no {device} device (GPU devices it finds: "
                          f"{', '.join(have) or 'none'}); use --device CPU or one of those")
    prefs = bpy.context.preferences.addons["cycles"].preferences
    prefs.compute_device_type = device
    for d in prefs.get_devices_for_type(device):
        d.use = d.type == device
    scene.cycles.device = "GPU"
    return reported_device(scene)


def reported_device(scene):
    """'CPU', or the compute device type and the enabled devices' names, e.g.
    'OPTIX: NVIDIA GeForce RTX 3080', as Blender's settings stand."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    kind = prefs.compute_device_type
    if scene.cycles.device != "GPU" or kind in ("", "NONE"):
        return "CPU"
    names = [d.name for d in prefs.devices if d.use and d.type == kind]
    return f"{kind}: {', '.join(names)}" if names else "CPU"


def device_fields(device):
    """What the agent advertises of this Blender: device= what Cycles renders on, or
    device_error= why it cannot, on the startup scene."""
    try:
        return [("device", use_device(bpy.context.scene, device))]
    except WorkerError as e:
        return [("device_error", one_line(str(e)))]


def probe_device(device):
    (key, value), = device_fields(device)
    print(("bnr-device\t" if key == "device" else "bnr-device-error\t") + value, flush=True)


def set_png(imf):
    set_file_format(imf, "PNG")
    imf.color_mode = "RGBA"
    imf.color_depth = "16"
    imf.compression = 0


def set_exr(imf):
    set_file_format(imf, "OPEN_EXR")
    imf.color_mode = "RGBA"
    imf.color_depth = "32"
    imf.exr_codec = "ZIP"
    if hasattr(imf, "use_zbuffer"):  # gone in 4.0
        imf.use_zbuffer = False
    if hasattr(imf, "use_preview"):
        imf.use_preview = False


# The scene's own output settings, as saved: a multilayer EXR of passes keeps its bit depth
# (Blender picks half or float per pass from it).
SAVED_OUTPUT = {}


def prepare(scene):
    r = scene.render
    imf = r.image_settings
    SAVED_OUTPUT.update(format=imf.file_format, depth=imf.color_depth, compositing=r.use_compositing)
    r.use_border = True
    r.use_crop_to_border = True
    # Blender 3.4 keeps the first view layer's objects in its persistent data when it renders
    # the next one (a collection the second layer excludes still renders there, and the
    # Cryptomatte manifest comes out in another order); several view layers sync every region.
    SAVED_OUTPUT["persistent"] = sum(1 for vl in scene.view_layers if vl.use) <= 1
    r.use_persistent_data = SAVED_OUTPUT["persistent"]
    r.use_file_extension = True
    set_png(imf)
    if r.use_multiview:
        imf.views_format = "INDIVIDUAL"
    # Colour management (view transform, look, exposure, gamma, curves) stays as saved.


# ----------------------------------------------------------------------------- rendering
def normal_dir(path):
    path = os.path.abspath(path)
    # "//" means "next to the .blend" to Blender, and POSIX keeps a leading "//".
    while path.startswith("//"):
        path = path[1:]
    return path


def expected_files(scene, views, ext):
    """Blender's name for each view's file, in view order: a still (write_still) gets no
    frame number, only the extension, and multi-view inserts each view's suffix before it."""
    stem = scene.render.filepath
    if not views:
        return [stem + ext]
    return [stem + v.file_suffix + ext for v in views]


def find_files(scene, views, directory, stem, ext):
    paths = expected_files(scene, views, ext)
    if all(os.path.isfile(p) for p in paths):
        return paths
    # Fall back to what is in the directory: our stem, perhaps a frame number, the view's
    # suffix, the extension.
    names = sorted(os.listdir(directory))
    out = []
    for suffix in [v.file_suffix for v in views] or [""]:
        pattern = re.compile(re.escape(stem) + r"\d*" + re.escape(suffix) + re.escape(ext) + "$")
        hits = [n for n in names if pattern.match(n)]
        if len(hits) != 1:
            raise WorkerError(f"expected one {stem}*{suffix}{ext} in {directory}, found {hits}")
        out.append(os.path.join(directory, hits[0]))
    return out


def run_render():
    try:
        result = bpy.ops.render.render(write_still=True)
    except RuntimeError as e:
        # Blender 3.4 crashes on the next render when it reuses the persistent engine of a
        # failed one; switching persistent data off frees that engine.
        r = bpy.context.scene.render
        r.use_persistent_data = False
        r.use_persistent_data = SAVED_OUTPUT.get("persistent", True)
        # bpy turns the operator's error report into the exception text ("Error: ...").
        raise WorkerError(one_line(e)) from None
    if "FINISHED" not in result:
        raise WorkerError(f"Blender's render operator returned {sorted(result)}")


def save_render_result(scene, views, path, configure, what):
    """Saves the last render to `path` (one file per view, each view's suffix before the
    extension) with image settings `configure` sets; the PNG settings come back after."""
    imf = scene.render.image_settings
    paths = [path] if not views else [path[: -len(".exr")] + v.file_suffix + ".exr" for v in views]
    for p in paths:
        if os.path.exists(p):
            os.remove(p)
    image = bpy.data.images.get("Render Result")
    if image is None:
        raise WorkerError("no Render Result image after rendering")
    configure(imf)
    try:
        image.save_render(filepath=path, scene=scene)
    except RuntimeError as e:
        # Blender 3.4 reports "could not be saved" for every multi-view save even when it
        # wrote each view (image_save_single starts from ok = false and ANDs the views in).
        if not views or not all(os.path.isfile(p) for p in paths):
            raise WorkerError(one_line(e)) from None
    finally:
        set_png(imf)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise WorkerError(f"Blender wrote no {what} at {missing[0]}")
    return paths


def save_exr(scene, views, directory, stem):
    """Saves the last render as float32 scene-linear EXR, one file per view."""
    return save_render_result(scene, views, os.path.join(directory, stem + "-linear.exr"), set_exr, "EXR file")


def save_layers(scene, views, directory, stem, raw):
    """Saves every pass of every view layer of the last render as a multilayer EXR, one file
    per view, as Blender writes the scene's own multilayer output (half or float per pass as
    the scene's depth says; float when the scene writes another format or `raw`, for the
    broker's compositor)."""
    def configure(imf):
        set_file_format(imf, "OPEN_EXR_MULTILAYER")
        as_saved = SAVED_OUTPUT.get("format") == "OPEN_EXR_MULTILAYER" and not raw
        imf.color_depth = SAVED_OUTPUT["depth"] if as_saved else "32"
        imf.exr_codec = "ZIP"

    return save_render_result(scene, views, os.path.join(directory, stem + "-layers.exr"), configure,
                              "multilayer EXR file")


def render_region(scene, views, fields):
    try:
        border = [float(fields[k]) for k in ("min_x", "max_x", "min_y", "max_y")]
    except (KeyError, ValueError):
        raise WorkerError("render needs numeric min_x, max_x, min_y and max_y") from None
    # Fractions go to Blender as given; its RNA clamps them to [0, 1], which the agent's
    # pixel-centre fractions ((W + 0.5) / W for the right edge) rely on.
    if not all(math.isfinite(b) for b in border) or border[0] >= border[1] or border[2] >= border[3]:
        raise WorkerError(f"bad border {border}")
    directory = fields.get("dir", "")
    if not directory:
        raise WorkerError("render needs dir=")
    directory = normal_dir(directory)
    if "\\" in directory:
        # Blender turns every backslash in an output path into a directory separator.
        raise WorkerError(f"Blender cannot write below a path with a backslash: {directory}")
    os.makedirs(directory, exist_ok=True)
    # The id names the files; keep it to characters no path or pattern treats specially.
    stem = "region" + re.sub(r"[^0-9A-Za-z_-]", "_", fields.get("id", "0"))

    r = scene.render
    r.border_min_x, r.border_max_x, r.border_min_y, r.border_max_y = border
    r.filepath = os.path.join(directory, stem)
    # A file left from an earlier attempt must not pass for this render's output.
    for p in expected_files(scene, views, ".png"):
        if os.path.exists(p):
            os.remove(p)

    # passes=2: the broker composites the merged frame itself; the regions stay raw.
    raw = fields.get("passes") == "2"
    r.use_compositing = SAVED_OUTPUT.get("compositing", True) and not raw
    start = time.perf_counter()
    run_render()
    pngs = find_files(scene, views, directory, stem, ".png")
    exrs = save_exr(scene, views, directory, stem) if fields.get("exr") == "1" else []
    layers = save_layers(scene, views, directory, stem, raw) if fields.get("passes") in ("1", "2") else []
    return pngs, exrs, layers, time.perf_counter() - start


def serve(cmd, reply, scene, views, opened):
    def send(kind, fields):
        reply.write(format_line(kind, fields))
        reply.flush()

    while True:
        line = cmd.readline()
        if not line:
            return  # EOF: the agent is gone
        if not line.strip():
            continue
        kind, fields = parse_line(line)
        if kind == "quit":
            return
        if kind == "open":
            # Another job's scene in this Blender (it served a job of another scene).
            scene, views = opened(fields)
            continue
        rid = fields.get("id", "")
        if kind != "render":
            send("failed", [("id", rid), ("message", f"unknown command '{kind}'")])
            continue
        try:
            pngs, exrs, layers, seconds = render_region(scene, views, fields)
            send("done", [("id", rid), ("png", ",".join(pngs)), ("exr", ",".join(exrs)),
                          ("layers", ",".join(layers)), ("seconds", f"{seconds:.3f}")])
        except WorkerError as e:
            send("failed", [("id", rid), ("message", str(e))])
        except Exception as e:  # keep serving: one bad region must not end the job
            log(traceback.format_exc())
            send("failed", [("id", rid), ("message", one_line(f"{type(e).__name__}: {e}"))])


def open_scene(fields, args):
    """Opens the scene an `open` command names, as `blender -b --disable-autoexec SCENE.blend`
    would (no UI, no scripts), with that job's frame, denoise setting and file tree in `args`."""
    path = fields.get("scene", "")
    if not path:
        raise WorkerError("open needs scene=")
    args.no_denoise = fields.get("no_denoise") == "1"
    args.frame = int(fields["frame"]) if fields.get("frame") else None
    args.tree_root = fields.get("tree_root") or None
    scene = bpy.context.scene
    if scene is not None and scene.render.use_persistent_data:
        # Frees the render engine that kept the last scene's data before that scene goes.
        scene.render.use_persistent_data = False
    SAVED_OUTPUT.clear()
    try:
        bpy.ops.wm.open_mainfile(filepath=path, load_ui=False, use_scripts=False)
    except RuntimeError as e:
        raise WorkerError(one_line(f"Blender cannot open {path}: {e}")) from None


def wait_for_open(cmd):
    """A spare Blender's first command: the fields of `open`, or None when the agent quits first."""
    while True:
        line = cmd.readline()
        if not line or line.strip() == "quit":
            return None
        if line.strip():
            break
    kind, fields = parse_line(line)
    if kind != "open":
        raise WorkerError(f"a spare Blender expected 'open scene=...', got '{kind}'")
    return fields


def load_scene(args):
    """The loaded scene made ready to serve: its `ready` fields, the scene and its views."""
    if not bpy.data.filepath:
        raise WorkerError("Blender did not load a scene file (see Blender's output)")
    skipped = remap_absolute_paths(args.tree_root) if args.tree_root else []
    scene = bpy.context.scene
    if args.frame is not None:
        scene.frame_set(args.frame)  # as `blender -b scene.blend -f N` would
    ready = analyse(scene, args.no_denoise, blender_version(bpy.app),
                    [f"absolute paths inside linked libraries cannot be redirected on agents "
                     f"(they render as missing): {', '.join(skipped)}"] if skipped else [])
    # None: the .blend alone is the whole scene, which lets the broker skip its own listing.
    ready.append(("external", len(external_references(bpy.data, bpy.path.abspath))))
    ready.append(("device", use_device(scene, args.cycles_device)))
    prepare(scene)
    return ready, scene, active_views(scene.render)


def refuse(reply, message):
    """`error`, then exit non-zero, as a Blender that cannot load the scene would."""
    reply.write(format_line("error", [("message", message)]))
    reply.flush()
    sys.exit(1)


def send_loaded(reply, args):
    """Loads the scene and says `ready` (or refuses). Returns the scene and its views."""
    try:
        ready, scene, views = load_scene(args)
    except WorkerError as e:
        refuse(reply, str(e))
    except Exception as e:
        log(traceback.format_exc())
        refuse(reply, one_line(f"{type(e).__name__}: {e}"))
    reply.write(format_line("ready", ready))
    reply.flush()
    return scene, views


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="blender_worker.py")
    p.add_argument("--cmd-fd", type=int)
    p.add_argument("--reply-fd", type=int)
    p.add_argument("--cycles-device", choices=("CPU",) + GPU_TYPES, default="CPU")
    p.add_argument("--probe-device", action="store_true")
    p.add_argument("--spare", action="store_true")
    p.add_argument("--no-denoise", action="store_true")
    p.add_argument("--frame", type=int, default=None)
    p.add_argument("--tree-root", default=None)
    return p.parse_args(argv)


def main():
    args = parse_args()
    if args.probe_device:
        probe_device(args.cycles_device)
        sys.exit(0)
    try:
        # surrogateescape: a path that is not valid UTF-8 still round-trips byte for byte.
        reply = open(args.reply_fd, "w", encoding="utf-8", errors="surrogateescape",
                     newline="\n", closefd=True)
        cmd = open(args.cmd_fd, "r", encoding="utf-8", errors="surrogateescape",
                   newline="\n", closefd=True)
    except OSError as e:
        log(f"cannot open the command/reply pipes: {e}")
        sys.exit(3)

    def opened(fields):
        try:
            open_scene(fields, args)
        except WorkerError as e:
            refuse(reply, str(e))
        return send_loaded(reply, args)

    try:
        if args.spare:
            # Also the agent's start-up probe: one Blender start instead of three.
            reply.write(format_line("spare", [("blender", blender_version(bpy.app))] +
                                    device_fields(args.cycles_device)))
            reply.flush()
            try:
                fields = wait_for_open(cmd)
            except WorkerError as e:
                refuse(reply, str(e))
            if fields is None:
                log("quit before a scene was opened")
                sys.exit(0)
            scene, views = opened(fields)
        else:
            scene, views = send_loaded(reply, args)
        serve(cmd, reply, scene, views, opened)
    except BrokenPipeError:
        pass  # the agent closed its end; nothing left to tell it
    log("quit")
    # Leaving normally would exit 1 after any failed render (Blender 3.4 keeps its "render
    # stopped" flag); quitting on request is a success.
    sys.exit(0)


main()
