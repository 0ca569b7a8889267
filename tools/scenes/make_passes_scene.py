# Writes a test scene for bnr's pass and output-format tests (runs inside Blender 3.4+, no numpy):
#
#   blender -b --factory-startup --python tools/scenes/make_passes_scene.py -- --out PATH.blend \
#       [--size WxH] [--samples N] [--adaptive] [--format FORMAT] [--depth D] [--codec C]
#       [--compositor KIND] [--stereo] [--denoise]
#
# What a compositing artist's scene has: two view layers ("Main" with every render pass Cycles
# offers here, "Backdrop" with the floor alone and a few passes), Cryptomatte (object, material,
# asset), two AOVs written by a material, a light group, a shadow catcher, node materials
# (glossy, glass, emission, a procedural floor), depth of field, and an OpenEXR MultiLayer
# output (half float unless --depth 32). Seed 0, no animated seed: the same .blend renders the
# same pixels.
#
# --format: the scene's output file format (Blender's file_format, e.g. PNG, OPEN_EXR,
# OPEN_EXR_MULTILAYER, JPEG, TIFF); --depth its color_depth; --codec the EXR codec.
# --compositor: none (default), gamma (pixel-local: Render Layers -> Gamma -> Composite),
# glare (fog glow), lens (lens distortion), defocus (Z-based), mix-layers (both view layers'
# images mixed), file-output (a File Output node writing two passes beside the scene), grade
# (a node group of streaks, ghosts and simple-star glare, a relative-size blur, and the
# normalized depth multiplied in: what a look-development artist stacks up).
# Exits 1 when it cannot write.
import argparse
import math
import sys
import traceback

import bpy


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="make_passes_scene.py")
    p.add_argument("--out", required=True)
    p.add_argument("--size", default="160x90")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--adaptive", action="store_true")
    p.add_argument("--format", default="OPEN_EXR_MULTILAYER")
    p.add_argument("--depth", default=None)
    p.add_argument("--codec", default="ZIP")
    p.add_argument("--compositor", default="none",
                   choices=("none", "gamma", "glare", "lens", "defocus", "mix-layers", "file-output", "grade"))
    p.add_argument("--stereo", action="store_true")
    p.add_argument("--denoise", action="store_true")
    args = p.parse_args(argv)
    try:
        args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error("--size wants WxH, e.g. 160x90")
    return args


def material(name, build):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    nodes, links = m.node_tree.nodes, m.node_tree.links
    bsdf = nodes["Principled BSDF"]
    build(nodes, links, bsdf)
    return m


def glossy(nodes, links, bsdf):
    bsdf.inputs["Base Color"].default_value = (0.8, 0.15, 0.1, 1)
    bsdf.inputs["Roughness"].default_value = 0.2
    bsdf.inputs["Metallic"].default_value = 0.6


def glass(nodes, links, bsdf):
    bsdf.inputs["Transmission"].default_value = 1.0
    bsdf.inputs["Roughness"].default_value = 0.05
    bsdf.inputs["IOR"].default_value = 1.45


def emissive(nodes, links, bsdf):
    bsdf.inputs["Base Color"].default_value = (0.1, 0.1, 0.1, 1)
    bsdf.inputs["Emission"].default_value = (0.2, 0.6, 1.0, 1)
    bsdf.inputs["Emission Strength"].default_value = 3.0


def floor(nodes, links, bsdf):
    # A checker through a colour ramp into the base colour, and the same pattern written to
    # two AOVs (a colour and a value) for compositing elsewhere.
    coord = nodes.new("ShaderNodeTexCoord")
    checker = nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = 6.0
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (0.15, 0.12, 0.1, 1)
    ramp.color_ramp.elements[1].color = (0.85, 0.8, 0.7, 1)
    links.new(coord.outputs["UV"], checker.inputs["Vector"])
    links.new(checker.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    for aov, output, socket in (("pattern", ramp.outputs["Color"], "Color"), ("mask", checker.outputs["Fac"], "Value")):
        node = nodes.new("ShaderNodeOutputAOV")
        # Blender 3.x names the AOV in `name`; 4.x moved it to `aov_name`.
        setattr(node, "aov_name" if hasattr(node, "aov_name") else "name", aov)
        links.new(output, node.inputs[socket])


def add(kind, name, location, mat, collection, **kw):
    getattr(bpy.ops.mesh, kind)(location=location, **kw)
    obj = bpy.context.active_object
    obj.name = name
    obj.data.materials.append(mat)
    for c in obj.users_collection:
        c.objects.unlink(obj)
    collection.objects.link(obj)
    return obj


def enable_passes(layer, everything):
    names = ["use_pass_z", "use_pass_normal", "use_pass_mist"]
    if everything:
        names += ["use_pass_vector", "use_pass_uv", "use_pass_ambient_occlusion", "use_pass_emit",
                  "use_pass_environment", "use_pass_shadow", "use_pass_diffuse_direct",
                  "use_pass_diffuse_indirect", "use_pass_diffuse_color", "use_pass_glossy_direct",
                  "use_pass_glossy_indirect", "use_pass_glossy_color", "use_pass_transmission_direct",
                  "use_pass_transmission_indirect", "use_pass_transmission_color",
                  "use_pass_cryptomatte_object", "use_pass_cryptomatte_material",
                  "use_pass_cryptomatte_asset", "use_pass_object_index", "use_pass_material_index"]
    for n in names:
        if hasattr(layer, n):
            setattr(layer, n, True)
    if everything:
        cycles = layer.cycles
        for n in ("denoising_store_passes", "use_pass_volume_direct", "use_pass_volume_indirect",
                  "use_pass_shadow_catcher"):
            if hasattr(cycles, n):
                setattr(cycles, n, True)
        if hasattr(layer, "use_pass_shadow_catcher"):
            layer.use_pass_shadow_catcher = True
        for name, kind in (("pattern", "COLOR"), ("mask", "VALUE")):
            aov = layer.aovs.add()
            aov.name, aov.type = name, kind


def grade_group(tree, layers):
    group = bpy.data.node_groups.new("BNR Grade", "CompositorNodeTree")
    group.inputs.new("NodeSocketColor", "Image")
    group.outputs.new("NodeSocketColor", "Image")
    inner_in, inner_out = group.nodes.new("NodeGroupInput"), group.nodes.new("NodeGroupOutput")
    last = inner_in.outputs["Image"]
    for glare_type in ("STREAKS", "GHOSTS", "SIMPLE_STAR"):
        glare = group.nodes.new("CompositorNodeGlare")
        glare.glare_type = glare_type
        glare.threshold = 0.6
        group.links.new(last, glare.inputs["Image"])
        last = glare.outputs["Image"]
    blur = group.nodes.new("CompositorNodeBlur")
    blur.use_relative = True
    blur.factor_x = blur.factor_y = 3.0
    blur.filter_type = "GAUSS"
    group.links.new(last, blur.inputs["Image"])
    group.links.new(blur.outputs["Image"], inner_out.inputs["Image"])
    grade = tree.nodes.new("CompositorNodeGroup")
    grade.node_tree = group
    normalize = tree.nodes.new("CompositorNodeNormalize")
    tree.links.new(layers.outputs["Depth"], normalize.inputs[0])
    multiply = tree.nodes.new("CompositorNodeMixRGB")
    multiply.blend_type = "MULTIPLY"
    multiply.inputs["Fac"].default_value = 0.4
    tree.links.new(grade.outputs["Image"], multiply.inputs[1])
    tree.links.new(normalize.outputs[0], multiply.inputs[2])
    # The caller links Render Layers into the group's input and the multiply into Composite.
    return _Chain(grade.inputs["Image"], multiply.outputs[0])


class _Chain:
    """A sub-graph with one input socket and one output socket, linked like a node."""

    def __init__(self, inp, out):
        self.inputs = [inp]
        self.outputs = [out]


def build_compositor(scene, kind):
    if kind == "none":
        return
    scene.use_nodes = True
    tree = scene.node_tree
    layers = tree.nodes["Render Layers"]
    layers.layer = "Main"
    comp = tree.nodes["Composite"]
    links = tree.links
    if kind == "gamma":
        node = tree.nodes.new("CompositorNodeGamma")
        node.inputs["Gamma"].default_value = 1.6
    elif kind == "glare":
        node = tree.nodes.new("CompositorNodeGlare")
        node.glare_type = "FOG_GLOW"
        node.quality = "HIGH"
        node.threshold = 0.5
        node.size = 7
    elif kind == "lens":
        node = tree.nodes.new("CompositorNodeLensdist")
        node.inputs["Distort"].default_value = 0.08
        node.inputs["Dispersion"].default_value = 0.02
    elif kind == "defocus":
        node = tree.nodes.new("CompositorNodeDefocus")
        node.use_zbuffer = True
        node.f_stop = 2.0
        node.blur_max = 12
        links.new(layers.outputs["Depth"], node.inputs["Z"])
    elif kind == "mix-layers":
        back = tree.nodes.new("CompositorNodeRLayers")
        back.layer = "Backdrop"
        node = tree.nodes.new("CompositorNodeMixRGB")
        node.blend_type = "SCREEN"
        node.inputs["Fac"].default_value = 0.5
        links.new(back.outputs["Image"], node.inputs[2])
    elif kind == "grade":
        node = grade_group(tree, layers)
    elif kind == "file-output":
        node = tree.nodes.new("CompositorNodeOutputFile")
        node.base_path = "//file_output/"
        node.format.file_format = "PNG"
        node.file_slots.new("Depth")
        links.new(layers.outputs["Image"], node.inputs[0])
        links.new(layers.outputs["Normal"], node.inputs["Depth"])
        links.new(layers.outputs["Image"], comp.inputs["Image"])
        return
    links.new(layers.outputs["Image"], node.inputs[1] if kind == "mix-layers" else node.inputs[0])
    links.new(node.outputs[0], comp.inputs["Image"])


def build(args):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Passes"
    r = scene.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y, r.resolution_percentage = args.width, args.height, 100
    scene.cycles.samples = args.samples
    scene.cycles.use_adaptive_sampling = args.adaptive
    scene.cycles.use_denoising = args.denoise
    scene.cycles.seed = 0
    r.film_transparent = False

    props = bpy.data.collections.new("Props")
    ground = bpy.data.collections.new("Ground")
    scene.collection.children.link(props)
    scene.collection.children.link(ground)
    add("primitive_uv_sphere_add", "Ball", (-1.2, 0, 1), material("Red metal", glossy), props, radius=1)
    add("primitive_cube_add", "Glass block", (1.3, 0.4, 0.8), material("Glass", glass), props, size=1.4)
    add("primitive_torus_add", "Ring", (0.1, -1.6, 0.35), material("Glow", emissive), props)
    plane = add("primitive_plane_add", "Floor", (0, 0, 0), material("Checker floor", floor), ground, size=12)
    catcher = add("primitive_plane_add", "Catcher", (0, 3.5, 0.01), material("Catcher", glossy), ground, size=2)
    if hasattr(catcher, "is_shadow_catcher"):
        catcher.is_shadow_catcher = True
    for i, obj in enumerate((plane, catcher)):
        obj.pass_index = i + 1

    bpy.ops.object.light_add(type="AREA", location=(3, -3, 5))
    key = bpy.context.active_object
    key.data.energy = 800
    key.data.size = 2
    bpy.ops.object.light_add(type="POINT", location=(-3, 2, 3))
    bpy.context.active_object.data.energy = 300
    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.05, 0.06, 0.08, 1)
    scene.world = world

    bpy.ops.object.camera_add(location=(0, -8, 3.2), rotation=(math.radians(76), 0, 0))
    cam = bpy.context.active_object
    cam.data.dof.use_dof = True
    cam.data.dof.focus_distance = 8.0
    cam.data.dof.aperture_fstop = 4.0
    scene.camera = cam

    main = scene.view_layers[0]
    main.name = "Main"
    enable_passes(main, everything=True)
    if hasattr(main, "lightgroups"):
        group = main.lightgroups.add()
        group.name = "key"
        key.lightgroup = "key"
    backdrop = scene.view_layers.new("Backdrop")
    backdrop.layer_collection.children["Props"].exclude = True
    enable_passes(backdrop, everything=False)

    if args.stereo:
        r.use_multiview = True
        r.views_format = "STEREO_3D"
    imf = r.image_settings
    imf.file_format = args.format
    if args.depth:
        imf.color_depth = args.depth
    if args.format.startswith("OPEN_EXR"):
        imf.exr_codec = args.codec
    if args.stereo:
        imf.views_format = "INDIVIDUAL"
    build_compositor(scene, args.compositor)
    bpy.ops.wm.save_as_mainfile(filepath=args.out)


def main():
    try:
        build(parse_args())
    except Exception:
        traceback.print_exc()
        sys.exit(1)


main()
