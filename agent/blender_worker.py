# bnr's worker: runs inside one long-lived Blender (3.4) process per job and renders border
# regions of the loaded scene on request. The agent starts it as
#
#   blender -b --factory-startup --disable-autoexec -t N SCENE.blend --python-exit-code 2 \
#       --python blender_worker.py -- --cmd-fd 3 --reply-fd 4 --cycles-device DEV [--no-denoise]
#
# (--cycles-device is also Cycles' own flag: it forces the device for every render.) With
# --probe-device instead of the pipes and no scene, it only sets the device up on the
# default scene, prints "bnr-device<TAB>DEVICE" or "bnr-device-error<TAB>REASON" and exits.
#
# and talks to it over two pipes, one message per line (UTF-8): a kind, then TAB-separated
# key=value fields; values escape backslash, TAB and newline as \\, \t, \n; lists are
# comma-separated (';' for the human-readable ones).
#
#   worker -> agent, once:  ready  blender= engine= width= height= frame= views= suffixes=
#                           stereo= crosseyed= squeezed= depth= color_mode= transparent=
#                           adaptive= denoise= margin= unsplittable= post= warnings= (+ extras,
#                           among them device=, what Cycles renders on as Blender reports it)
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

# Cycles adaptive sampling filters its convergence mask across neighbouring pixels, so pixels
# near a region edge stop at a different sample count than in the full frame, and the
# difference spreads further with every convergence round. Measured on four scenes (up to
# 4096 samples, threshold 0.001) with 16x16 and 40x32 tiles: 2 px of overlap left errors
# up to 1e-2, 3 px once 1.6e-3, 4 px (the overscan Cycles keeps between its own tiles) none.
ADAPTIVE_MARGIN = 4

# Compositor nodes whose output pixel depends only on the same input pixel.
PIXEL_LOCAL_NODES = {
    "CompositorNodeRLayers", "CompositorNodeComposite", "CompositorNodeViewer",
    "CompositorNodeMixRGB", "CompositorNodeAlphaOver",
    "CompositorNodeValToRGB", "CompositorNodeCurveRGB", "CompositorNodeCurveVec",
    "CompositorNodeRGBToBW", "CompositorNodeGamma", "CompositorNodeHueSat",
    "CompositorNodeHueCorrect", "CompositorNodeBrightContrast", "CompositorNodeColorBalance",
    "CompositorNodeColorCorrection", "CompositorNodeExposure", "CompositorNodeInvert",
    "CompositorNodeMath", "CompositorNodeSetAlpha", "CompositorNodeSepRGBA",
    "CompositorNodeCombRGBA", "CompositorNodeSepHSVA", "CompositorNodeCombHSVA",
    "CompositorNodeSepYCCA", "CompositorNodeCombYCCA", "CompositorNodeSepYUVA",
    "CompositorNodeCombYUVA", "CompositorNodeSeparateColor", "CompositorNodeCombineColor",
    "CompositorNodeSeparateXYZ", "CompositorNodeCombineXYZ", "CompositorNodeValue",
    "CompositorNodeRGB", "CompositorNodePremulKey", "CompositorNodeMapRange",
    "CompositorNodeMapValue", "CompositorNodeSwitch", "CompositorNodeSwitchView",
    "CompositorNodeNormal", "CompositorNodeConvertColorSpace", "CompositorNodeColorSpill",
    "CompositorNodeChannelMatte", "CompositorNodeChromaMatte", "CompositorNodeColorMatte",
    "CompositorNodeDiffMatte", "CompositorNodeDistanceMatte", "CompositorNodeLumaMatte",
    "CompositorNodeCryptomatte", "CompositorNodeCryptomatteV2", "CompositorNodeTime",
    "CompositorNodeSceneTime", "NodeReroute", "NodeFrame", "NodeGroupInput", "NodeGroupOutput",
}
GROUP_NODES = {"CompositorNodeGroup"}


class WorkerError(Exception):
    """A failure worth one line to the agent."""


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


# ----------------------------------------------------------------------------- scene analysis
def active_views(r):
    """The views Blender renders, in order; [] when it renders one image (mono)."""
    if not r.use_multiview:
        return []
    views = [v for v in r.views if v.use]
    if r.views_format == "STEREO_3D":
        views = [v for v in views if v.name in ("left", "right")]
    # With a single active view Blender writes one file without a view suffix, like mono.
    return views if len(views) >= 2 else []


def stereo_mode(imf, views, warnings):
    if not views:
        return "NONE"
    if imf.views_format == "STEREO_3D":
        if len(views) != 2:
            warnings.append("stereo 3D output needs exactly the left and right views")
        return imf.stereo_3d_format.display_mode
    if imf.views_format == "MULTIVIEW":
        warnings.append("the scene writes one multi-view EXR; bnr writes one file per view")
    return "INDIVIDUAL"


def node_label(node):
    label = node.label or node.bl_label
    return f"{label} (compositor node '{node.name}')"


def linked_inputs(node):
    for socket in node.inputs:
        for link in socket.links:
            if link.is_valid and not link.is_muted:
                yield link.from_node


def socket_value(node, name, default):
    socket = node.inputs.get(name)
    if socket is None or socket.is_linked or not hasattr(socket, "default_value"):
        return default
    return socket.default_value


def blur_reach(node, unsplittable, where):
    if node.use_relative:
        # Relative sizes scale with the compositor's input, which is the cropped region.
        unsplittable.append(f"Blur with a relative size, {node_label(node)}{where}")
        return 0
    if node.use_extended_bounds:
        unsplittable.append(f"Blur with extended bounds, {node_label(node)}{where}")
        return 0
    # The Size input multiplies size_x/size_y (a factor, 0..1 when driven by an image).
    factor = max(1.0, float(socket_value(node, "Size", 1.0)))
    reach = math.ceil(max(node.size_x, node.size_y) * factor)
    if node.filter_type == "FAST_GAUSS":
        # A recursive (IIR) filter: its tail decays but never ends. Measured for size 3:
        # 3x leaves 3/65535, 4x 1/65535, 6.7x nothing.
        reach *= 7
    return reach


def own_reach(node, scene, unsplittable, where):
    """Pixels of input around an output pixel that this node reads; 0 for pixel-local."""
    kind = node.bl_idname
    if kind == "CompositorNodeRLayers":
        if node.scene is not None and node.scene != scene:
            unsplittable.append(f"Render Layers of another scene, {node_label(node)}{where}")
        return 0
    if kind in PIXEL_LOCAL_NODES:
        return 0
    if kind == "CompositorNodeBlur":
        return blur_reach(node, unsplittable, where)
    if kind in ("CompositorNodeFilter", "CompositorNodeDespeckle"):
        return 1  # 3x3 kernels
    if kind == "CompositorNodeDilateErode":
        return math.ceil(abs(node.distance)) + math.ceil(abs(node.edge))
    if kind == "CompositorNodeBilateralblur":
        # Blender: radius = ceil(sigma_space + iterations); the product bounds it too.
        return max(math.ceil(node.sigma_space + node.iterations),
                   node.iterations * math.ceil(node.sigma_space))
    if kind == "CompositorNodeDefocus":
        # Its radius comes from the camera and the image size, which is the region's.
        unsplittable.append(f"{node_label(node)}{where}: the blur depends on the image size")
        return 0
    if kind == "CompositorNodeZcombine":
        if node.use_antialias_z:
            unsplittable.append(f"Z Combine anti-aliasing, {node_label(node)}{where}")
        return 0
    if kind == "CompositorNodeIDMask":
        if node.use_antialiasing:
            unsplittable.append(f"ID Mask anti-aliasing, {node_label(node)}{where}")
        return 0
    unsplittable.append(f"{node_label(node)}{where}")
    return 0


def tree_reach(tree, scene, outputs, unsplittable, where, seen_groups):
    """Longest chain of spatial reach from the render into `outputs` (memoised DFS)."""
    memo = {}

    def reach(node):
        key = node.name
        if key in memo:
            return memo[key]
        memo[key] = 0  # node graphs are acyclic; this only guards malformed files
        if node.mute:
            own = 0
        elif node.bl_idname in GROUP_NODES:
            own = group_reach(node)
        else:
            own = own_reach(node, scene, unsplittable, where)
        upstream = max((reach(n) for n in linked_inputs(node)), default=0)
        memo[key] = own + upstream
        return memo[key]

    def group_reach(node):
        inner = node.node_tree
        if inner is None:
            return 0
        if inner.name in seen_groups:
            unsplittable.append(f"recursive node group '{inner.name}'")
            return 0
        inner_outputs = [n for n in inner.nodes if n.bl_idname == "NodeGroupOutput"]
        return tree_reach(inner, scene, inner_outputs, unsplittable,
                          f" in group '{inner.name}'", seen_groups | {inner.name})

    return max((reach(n) for n in outputs), default=0)


def compositor_reach(scene, unsplittable):
    if not (scene.use_nodes and scene.render.use_compositing and scene.node_tree):
        return 0
    tree = scene.node_tree
    # Only what feeds the Composite output shapes the image; viewers and file outputs do not.
    outputs = [n for n in tree.nodes if n.bl_idname == "CompositorNodeComposite"]
    return tree_reach(tree, scene, outputs, unsplittable, "", frozenset())


def file_output_nodes(scene):
    """File Output nodes write files of their own: once, from the whole frame."""
    if not (scene.use_nodes and scene.render.use_compositing and scene.node_tree):
        return []
    return [f"{node_label(n)} writes files of its own" for n in scene.node_tree.nodes
            if n.bl_idname == "CompositorNodeOutputFile" and not n.mute]


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


def analyse(scene, no_denoise, earlier_warnings=()):
    """Reads the scene as saved; returns the `ready` fields. Call before prepare()."""
    r = scene.render
    imf = r.image_settings
    unsplittable, warnings = [], list(earlier_warnings)
    is_cycles = r.engine == "CYCLES"

    if no_denoise and is_cycles:
        scene.cycles.use_denoising = False
    adaptive = is_cycles and scene.cycles.use_adaptive_sampling
    denoise = is_cycles and scene.cycles.use_denoising

    views = active_views(r)
    stereo = stereo_mode(imf, views, warnings)
    s3d = imf.stereo_3d_format
    width = r.resolution_x * r.resolution_percentage // 100
    height = r.resolution_y * r.resolution_percentage // 100

    # Compositor nodes that read more than a neighbourhood run once, on the broker, on the
    # merged passes (post); what even that cannot do is refused.
    compositor_nodes = []
    margin = (ADAPTIVE_MARGIN if adaptive else 0) + compositor_reach(scene, compositor_nodes)
    refused = [n for n in compositor_nodes if n.startswith(("Render Layers of another scene", "recursive node group"))]
    unsplittable += refused
    post = [n for n in compositor_nodes if n not in refused] + file_output_nodes(scene)

    if r.use_sequencer and scene.sequence_editor and len(scene.sequence_editor.sequences_all):
        unsplittable.append("video sequencer strips (Post Processing > Sequencer)")
    if r.use_stamp:
        post.append("metadata burned into the image (Metadata > Burn Into Image)")
    if r.use_freestyle and any(vl.use_freestyle for vl in scene.view_layers if vl.use):
        unsplittable.append("Freestyle lines (not verified for region renders)")
    if not is_cycles:
        warnings.append(f"render engine {r.engine} is not Cycles; region edges are not verified")
    if denoise:
        warnings.append("scene uses denoising: regions would show seams")
    if r.use_border:
        warnings.append("the scene's own render border is ignored; bnr renders the whole frame")
    if sum(1 for vl in scene.view_layers if vl.use) > 1:
        warnings.append("several view layers render: each region syncs the scene again (Blender's persistent "
                        "data would mix the layers)")
    if width <= 0 or height <= 0:
        raise WorkerError(f"scene '{scene.name}' has an empty resolution ({width}x{height})")
    if scene.camera is None:
        raise WorkerError(f"scene '{scene.name}' has no camera")

    return [
        ("blender", bpy.app.version_string),
        ("engine", r.engine),
        ("width", width),
        ("height", height),
        ("frame", scene.frame_current),
        ("views", ",".join(v.name for v in views)),
        ("suffixes", ",".join(v.file_suffix for v in views)),
        ("stereo", stereo),
        ("crosseyed", int(stereo == "SIDEBYSIDE" and s3d.use_sidebyside_crosseyed)),
        ("squeezed", int(stereo in ("SIDEBYSIDE", "TOPBOTTOM") and s3d.use_squeezed_frame)),
        ("depth", 16 if imf.file_format == "PNG" and imf.color_depth == "16" else 8),
        ("color_mode", imf.color_mode),
        ("transparent", int(r.film_transparent)),
        ("adaptive", int(adaptive)),
        ("denoise", int(denoise)),
        ("margin", margin),
        ("unsplittable", ";".join(u.replace(";", ",") for u in unsplittable)),
        ("post", ";".join(u.replace(";", ",") for u in post)),
        ("warnings", ";".join(w.replace(";", ",") for w in warnings)),
        # Extras (the agent ignores keys it does not know): what else Blender's own output
        # packing depends on, and the scene's own output format.
        ("anaglyph", s3d.anaglyph_type),
        ("interlace", s3d.interlace_type),
        ("interlace_swap", int(s3d.use_interlace_swap)),
        ("format", imf.file_format),
        ("scene", scene.name),
    ]


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


def probe_device(device):
    try:
        line = "bnr-device\t" + use_device(bpy.context.scene, device)
    except WorkerError as e:
        line = "bnr-device-error\t" + one_line(str(e))
    print(line, flush=True)


def set_png(imf):
    imf.file_format = "PNG"
    imf.color_mode = "RGBA"
    imf.color_depth = "16"
    imf.compression = 0


def set_exr(imf):
    imf.file_format = "OPEN_EXR"
    imf.color_mode = "RGBA"
    imf.color_depth = "32"
    imf.exr_codec = "ZIP"
    imf.use_zbuffer = False
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


def save_exr(scene, views, directory, stem):
    """Saves the last render as float32 scene-linear EXR, one file per view."""
    imf = scene.render.image_settings
    base = os.path.join(directory, stem + "-linear.exr")
    # Blender inserts each view's suffix before the extension.
    paths = [base] if not views else [base[: -len(".exr")] + v.file_suffix + ".exr" for v in views]
    for p in paths:
        if os.path.exists(p):
            os.remove(p)
    image = bpy.data.images.get("Render Result")
    if image is None:
        raise WorkerError("no Render Result image after rendering")
    set_exr(imf)
    try:
        image.save_render(filepath=base, scene=scene)
    except RuntimeError as e:
        # Blender 3.4 reports "could not be saved" for every multi-view save even when it
        # wrote each view (image_save_single starts from ok = false and ANDs the views in).
        if not views or not all(os.path.isfile(p) for p in paths):
            raise WorkerError(one_line(e)) from None
    finally:
        set_png(imf)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise WorkerError(f"Blender wrote no EXR file at {missing[0]}")
    return paths


def save_layers(scene, views, directory, stem, raw):
    """Saves every pass of every view layer of the last render as a multilayer EXR, one file
    per view, as Blender writes the scene's own multilayer output (half or float per pass as
    the scene's depth says; float when the scene writes another format or `raw`, for the
    broker's compositor)."""
    imf = scene.render.image_settings
    base = os.path.join(directory, stem + "-layers.exr")
    paths = [base] if not views else [base[: -len(".exr")] + v.file_suffix + ".exr" for v in views]
    for p in paths:
        if os.path.exists(p):
            os.remove(p)
    image = bpy.data.images.get("Render Result")
    if image is None:
        raise WorkerError("no Render Result image after rendering")
    imf.file_format = "OPEN_EXR_MULTILAYER"
    as_saved = SAVED_OUTPUT.get("format") == "OPEN_EXR_MULTILAYER" and not raw
    imf.color_depth = SAVED_OUTPUT["depth"] if as_saved else "32"
    imf.exr_codec = "ZIP"
    try:
        image.save_render(filepath=base, scene=scene)
    except RuntimeError as e:
        if not views or not all(os.path.isfile(p) for p in paths):
            raise WorkerError(one_line(e)) from None
    finally:
        set_png(imf)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise WorkerError(f"Blender wrote no multilayer EXR file at {missing[0]}")
    return paths


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


def serve(cmd, reply, scene, views):
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


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="blender_worker.py")
    p.add_argument("--cmd-fd", type=int)
    p.add_argument("--reply-fd", type=int)
    p.add_argument("--cycles-device", choices=("CPU",) + GPU_TYPES, default="CPU")
    p.add_argument("--probe-device", action="store_true")
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

    try:
        if not bpy.data.filepath:
            raise WorkerError("Blender did not load a scene file (see Blender's output)")
        skipped = remap_absolute_paths(args.tree_root) if args.tree_root else []
        scene = bpy.context.scene
        if args.frame is not None:
            scene.frame_set(args.frame)  # as `blender -b scene.blend -f N` would
        ready = analyse(scene, args.no_denoise,
                        [f"absolute paths inside linked libraries cannot be redirected on agents "
                         f"(they render as missing): {', '.join(skipped)}"] if skipped else [])
        ready.append(("device", use_device(scene, args.cycles_device)))
        prepare(scene)
        views = active_views(scene.render)
    except WorkerError as e:
        reply.write(format_line("error", [("message", str(e))]))
        reply.flush()
        sys.exit(1)
    except Exception as e:
        log(traceback.format_exc())
        reply.write(format_line("error", [("message", one_line(f"{type(e).__name__}: {e}"))]))
        reply.flush()
        sys.exit(1)

    reply.write(format_line("ready", ready))
    reply.flush()
    try:
        serve(cmd, reply, scene, views)
    except BrokenPipeError:
        pass  # the agent closed its end; nothing left to tell it
    log("quit")
    # Leaving normally would exit 1 after any failed render (Blender 3.4 keeps its "render
    # stopped" flag); quitting on request is a success.
    sys.exit(0)


main()
