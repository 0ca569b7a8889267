# What bnr needs to know of a scene before it renders it in regions: the frame, the views,
# whether the pieces would equal Blender's full-frame render, and how much overlap they need.
# Pure: it only reads the objects Blender's Python API hands it and never imports bpy, so
# tests/python drives it with small fake scenes shaped like each version's API. The agent's
# worker (blender_worker.py) and the broker's scene listing (broker/scene_files.py) import it;
# both programs embed this file and write it next to their script.
#
# Blender 3.4 to 5.x, told apart by what the API has (hasattr / socket types), never by the
# version number:
# - The compositor: scene.node_tree (with scene.use_nodes) whose output is the Composite node
#   up to 4.5; 5.0 has scene.compositing_node_group instead, whose output is its active
#   Group Output node (no Composite node), and deprecates scene.use_nodes.
# - Node settings: properties (Blur size_x/size_y, Dilate/Erode distance/edge, Bilateral Blur
#   sigma_space/iterations, use_antialias_z, use_antialiasing) until 4.5/5.0 turned them into
#   input sockets (Blur "Size" in pixels, a 2D vector, and "Type"/"Extend Bounds"; Dilate/Erode
#   "Size" and "Falloff Size"; Bilateral Blur "Size"; Z Combine and ID Mask "Anti-Alias").
#   A setting fed by a link there varies per pixel: its reach is not known beforehand.
# - Math, Mix and other function nodes are shared with shader and geometry nodes in 5.0
#   (ShaderNodeMath, ShaderNodeMix, ...), no longer CompositorNodeMath / CompositorNodeMixRGB.
# - 4.4 renames sequence_editor.sequences_all to strips_all (the old name is gone in 5.0).
# - 5.0 adds image_settings.media_type, which limits the file formats file_format accepts;
#   4.0 removed image_settings.use_zbuffer.
import math
import os

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
    "CompositorNodeSceneTime", "CompositorNodeConvertToDisplay",
    "NodeReroute", "NodeFrame", "NodeGroupInput", "NodeGroupOutput",
    # Shared with shader and geometry nodes in 5.0: functions of one pixel's values.
    "ShaderNodeMath", "ShaderNodeVectorMath", "ShaderNodeMix", "ShaderNodeMixRGB",
    "ShaderNodeMapRange", "ShaderNodeClamp", "ShaderNodeValToRGB", "ShaderNodeRGBCurve",
    "ShaderNodeVectorCurve", "ShaderNodeFloatCurve", "ShaderNodeCombineXYZ",
    "ShaderNodeSeparateXYZ", "ShaderNodeCombineColor", "ShaderNodeSeparateColor",
    "ShaderNodeValue", "ShaderNodeRGB", "ShaderNodeBlackbody", "ShaderNodeVectorRotate",
    "ShaderNodeGamma", "ShaderNodeHueSaturation", "ShaderNodeInvert", "ShaderNodeBrightContrast",
    "FunctionNodeInputBool", "FunctionNodeInputInt", "FunctionNodeInputVector",
    "FunctionNodeInputColor", "FunctionNodeBooleanMath", "FunctionNodeCompare",
    "FunctionNodeIntegerMath", "GeometryNodeSwitch", "GeometryNodeMenuSwitch",
    "GeometryNodeIndexSwitch",
}
GROUP_NODES = {"CompositorNodeGroup", "CompositorNodeCustomGroup"}

# A node setting fed by a link: it may differ per pixel, so no reach can be derived from it.
DRIVEN = object()


class WorkerError(Exception):
    """A failure worth one line to the agent."""


# ----------------------------------------------------------------------------- version shims
def blender_version(app):
    """'X.Y.Z' of bpy.app, as `blender --version` names it (version_string may add ' LTS')."""
    if hasattr(app, "version"):
        return ".".join(str(n) for n in tuple(app.version)[:3])
    return str(app.version_string).split()[0]


def compositing_tree(scene):
    """(node tree, output node type) of the compositor that shapes the render, or (None, None)
    when the scene does not composite."""
    if not getattr(scene.render, "use_compositing", True):
        return None, None
    if hasattr(scene, "compositing_node_group"):  # 5.0: a node group, no use_nodes switch
        tree = scene.compositing_node_group
        return (tree, "NodeGroupOutput") if tree is not None else (None, None)
    tree = getattr(scene, "node_tree", None)
    if not getattr(scene, "use_nodes", False) or tree is None:
        return None, None
    return tree, "CompositorNodeComposite"


def output_nodes(tree, kind):
    nodes = [n for n in tree.nodes if n.bl_idname == kind]
    if kind == "NodeGroupOutput":
        # A group with several Group Output nodes uses the active one.
        active = [n for n in nodes if getattr(n, "is_active_output", False)]
        return active or nodes
    return nodes


def sequencer_strips(scene):
    editor = scene.sequence_editor
    if editor is None:
        return []
    strips = getattr(editor, "strips_all", None)  # 4.4 renamed sequences_all
    return strips if strips is not None else getattr(editor, "sequences_all", [])


def media_type_of(file_format):
    if file_format == "OPEN_EXR_MULTILAYER":
        return "MULTI_LAYER_IMAGE"
    if file_format in ("FFMPEG", "AVI_JPEG", "AVI_RAW"):
        return "VIDEO"
    return "IMAGE"


def set_file_format(imf, file_format):
    """Sets image settings' file format; 5.0 accepts a format only of the current media type."""
    if hasattr(imf, "media_type"):
        imf.media_type = media_type_of(file_format)
    imf.file_format = file_format


def scene_denoises(scene):
    return scene.render.engine == "CYCLES" and bool(scene.cycles.use_denoising)


# ----------------------------------------------------------------------------- frame and views
def active_views(r):
    """The views Blender renders, in order; [] when it renders one image (mono)."""
    if not r.use_multiview:
        return []
    views = [v for v in r.views if v.use]
    if r.views_format == "STEREO_3D":
        views = [v for v in views if v.name in ("left", "right")]
    # With a single active view Blender writes one file without a view suffix, like mono.
    return views if len(views) >= 2 else []


def frame_size(r):
    return r.resolution_x * r.resolution_percentage // 100, r.resolution_y * r.resolution_percentage // 100


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


# ----------------------------------------------------------------------------- compositor reach
def node_label(node):
    label = node.label or node.bl_label
    return f"{label} (compositor node '{node.name}')"


def live_links(socket):
    return [link for link in socket.links if link.is_valid and not getattr(link, "is_muted", False)]


def linked_inputs(node):
    for socket in node.inputs:
        for link in live_links(socket):
            yield link.from_node


def setting(node, socket_name, prop, default):
    """A node setting where this Blender keeps it: the input socket `socket_name` (4.5 and 5.0
    moved many settings there), else the property `prop`; DRIVEN when a link feeds the socket."""
    socket = node.inputs.get(socket_name)
    if socket is not None:
        if live_links(socket):
            return DRIVEN
        return socket.default_value if hasattr(socket, "default_value") else default
    return getattr(node, prop, default) if prop else default


def blur_reach(node, unsplittable, where):
    size_socket = node.inputs.get("Size")
    sized_by_socket = size_socket is not None and size_socket.type == "VECTOR"  # 4.5 and later
    filter_type = setting(node, "Type", "filter_type", "GAUSS")
    extend = setting(node, "Extend Bounds", "use_extended_bounds", False)
    if not sized_by_socket and getattr(node, "use_relative", False):
        # Relative sizes scale with the compositor's input, which is the cropped region.
        unsplittable.append(f"Blur with a relative size, {node_label(node)}{where}")
        return 0
    if extend is DRIVEN or extend:
        unsplittable.append(f"Blur with extended bounds, {node_label(node)}{where}")
        return 0
    if sized_by_socket:
        size = setting(node, "Size", None, (0.0, 0.0))
        if size is DRIVEN:
            unsplittable.append(f"Blur with its size fed by a link, {node_label(node)}{where}")
            return 0
        reach = math.ceil(max(0.0, *(float(s) for s in size)))
    else:
        # The Size input multiplies size_x/size_y (a factor, 0..1 when driven by an image).
        factor = setting(node, "Size", None, 1.0)
        factor = 1.0 if factor is DRIVEN else max(1.0, float(factor))
        reach = math.ceil(max(node.size_x, node.size_y) * factor)
    if filter_type is DRIVEN or filter_type == "FAST_GAUSS":
        # A recursive (IIR) filter: its tail decays but never ends. Measured for size 3:
        # 3x leaves 3/65535, 4x 1/65535, 6.7x nothing.
        reach *= 7
    return reach


def dilate_erode_reach(node, unsplittable, where):
    distance = setting(node, "Size", "distance", 0)
    edge = setting(node, "Falloff Size", "edge", 0.0)
    if distance is DRIVEN or edge is DRIVEN:
        unsplittable.append(f"Dilate/Erode with its size fed by a link, {node_label(node)}{where}")
        return 0
    return math.ceil(abs(distance)) + math.ceil(abs(edge))


def bilateral_reach(node, unsplittable, where):
    if node.inputs.get("Size") is not None:  # 5.0: one size in pixels
        size = setting(node, "Size", None, 0)
        if size is DRIVEN:
            unsplittable.append(f"Bilateral Blur with its size fed by a link, {node_label(node)}{where}")
            return 0
        return math.ceil(max(0, size))
    # Blender: radius = ceil(sigma_space + iterations); the product bounds it too.
    return max(math.ceil(node.sigma_space + node.iterations), node.iterations * math.ceil(node.sigma_space))


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
        return dilate_erode_reach(node, unsplittable, where)
    if kind == "CompositorNodeBilateralblur":
        return bilateral_reach(node, unsplittable, where)
    if kind == "CompositorNodeDefocus":
        # Its radius comes from the camera and the image size, which is the region's.
        unsplittable.append(f"{node_label(node)}{where}: the blur depends on the image size")
        return 0
    if kind == "CompositorNodeZcombine":
        if setting(node, "Anti-Alias", "use_antialias_z", True) is not False:
            unsplittable.append(f"Z Combine anti-aliasing, {node_label(node)}{where}")
        return 0
    if kind == "CompositorNodeIDMask":
        if setting(node, "Anti-Alias", "use_antialiasing", True) is not False:
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
        return tree_reach(inner, scene, output_nodes(inner, "NodeGroupOutput"), unsplittable,
                          f" in group '{inner.name}'", seen_groups | {inner.name})

    return max((reach(n) for n in outputs), default=0)


def compositor_reach(scene, unsplittable):
    tree, kind = compositing_tree(scene)
    if tree is None:
        return 0
    # Only what feeds the output shapes the image; viewers and file outputs do not.
    return tree_reach(tree, scene, output_nodes(tree, kind), unsplittable, "", frozenset())


def file_output_nodes(scene):
    """File Output nodes write files of their own: once, from the whole frame."""
    tree, _ = compositing_tree(scene)
    if tree is None:
        return []
    return [f"{node_label(n)} writes files of its own" for n in tree.nodes
            if n.bl_idname == "CompositorNodeOutputFile" and not n.mute]


# ----------------------------------------------------------------------------- the ready line
def resolve(abspath, path, library):
    """The absolute, normalised path Blender reads for `path` stored in `library` (None: main);
    `abspath` is bpy.path.abspath."""
    return os.path.normpath(abspath(path, library=library))


def library_path(abspath, lib):
    # An indirectly linked library's path is stored relative to the library that links it.
    first = resolve(abspath, lib.filepath, lib.parent)
    if os.path.exists(first) or lib.parent is None:
        return first
    return resolve(abspath, lib.filepath, None)


def image_files(img):
    if img.source == "TILED" and "<UDIM>" in img.filepath:
        return [img.filepath.replace("<UDIM>", str(t.number)) for t in img.tiles]
    return [img.filepath]


def external_references(data, abspath):
    """(path, what) for every file the scene reads besides the .blend, resolved as Blender
    here resolves it (`data` is bpy.data, `abspath` bpy.path.abspath); path None for an
    image sequence, which is never sent. Packed data and built-in fonts are not files. The
    broker's listing ships what this finds; an agent's count of it says whether the .blend
    alone is the whole scene."""
    out = []

    def add(path, what):
        if path and not path.startswith("<"):  # "<builtin>" font and the like
            out.append((path, what))

    for lib in data.libraries:
        if lib.packed_file is None:
            add(library_path(abspath, lib), f"library {lib.name}")
    for img in data.images:
        if img.packed_file is not None or img.source not in ("FILE", "MOVIE", "TILED", "SEQUENCE"):
            continue
        if img.source == "SEQUENCE":
            out.append((None, f"image sequence {img.name}"))
            continue
        for path in image_files(img):
            add(resolve(abspath, path, img.library), f"image {img.name}")
    for collection, kind in ((data.movieclips, "movie clip"), (data.sounds, "sound"), (data.fonts, "font"),
                             (data.cache_files, "cache file"), (data.volumes, "volume")):
        for idb in collection:
            if getattr(idb, "packed_file", None) is not None:
                continue
            add(resolve(abspath, idb.filepath, idb.library), f"{kind} {idb.name}")
    return out


def analyse(scene, no_denoise, blender, earlier_warnings=()):
    """Reads the scene as saved; returns the worker's `ready` fields (see blender_worker.py).
    `blender` is this Blender's version; no_denoise turns Cycles denoising off in `scene`."""
    r = scene.render
    imf = r.image_settings
    unsplittable, warnings = [], list(earlier_warnings)
    is_cycles = r.engine == "CYCLES"

    if no_denoise and is_cycles:
        scene.cycles.use_denoising = False
    adaptive = is_cycles and scene.cycles.use_adaptive_sampling
    denoise = scene_denoises(scene)

    views = active_views(r)
    stereo = stereo_mode(imf, views, warnings)
    s3d = imf.stereo_3d_format
    width, height = frame_size(r)

    # Compositor nodes that read more than a neighbourhood run once, on the broker, on the
    # merged passes (post); what even that cannot do is refused.
    compositor_nodes = []
    margin = (ADAPTIVE_MARGIN if adaptive else 0) + compositor_reach(scene, compositor_nodes)
    refused = [n for n in compositor_nodes if n.startswith(("Render Layers of another scene", "recursive node group"))]
    unsplittable += refused
    post = [n for n in compositor_nodes if n not in refused] + file_output_nodes(scene)

    if r.use_sequencer and len(sequencer_strips(scene)):
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
        ("blender", blender),
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
        ("color_depth", imf.color_depth or "8"),
        ("scene", scene.name),
    ]
