# Writes an artist-like test scene for bnr benchmarks (runs inside Blender 3.4, no numpy):
#
#   blender -b --factory-startup --python tools/scenes/make_artist_scene.py -- --out PATH.blend \
#       [--size WxH] [--samples N] [--no-adaptive]
#
# What a user's scene has and bnr's demo scene lacks: procedural materials built from shared
# node groups, bump mapping, a glass object, depth of field, several kinds of light and a
# Cycles setup left at Blender's defaults. A still life on a wooden table:
#
# - node group "BNR Wood" (noise-distorted wave rings -> colour ramp, roughness, bump height)
#   used by three materials (table top, bowl, a block), each with its own colours and scale;
# - node group "BNR Marble" (a noise-warped wave plus voronoi and musgrave veins) used by two
#   materials (a sphere and a pedestal);
# - a glass goblet (a lathe profile, Solidify, smooth) and a glass sphere, a brushed-metal torus;
# - a back wall with a musgrave plaster material;
# - camera with depth of field (f/1.8, focused on the goblet), 50 mm;
# - an area key light, a spot, a point light and a dim sun; a flat world;
# - Filmic view transform (Blender's default), dithering 1.0 (default), PNG RGBA 8-bit.
#
# Sampling is Blender's default except the sample count: adaptive sampling on with its
# default noise threshold (0.01) and minimum samples (0 = automatic); --samples is the
# maximum (default 20, a noisy preview: Blender's own 4096 without a denoiser takes hours).
# Denoising is off because Debian's Blender is built without OpenImageDenoise. Seed 0, no
# animated seed, so the same .blend renders the same pixels. --no-adaptive switches adaptive
# sampling off (fixed samples) for comparisons.
#
# The default (640x360, 20 samples) costs about 25 CPU seconds with one thread (about 1.2 s
# per sample; measured on a shared 2-core VM, Blender 3.4.1). At so few samples adaptive
# sampling stops few pixels early, but every region still needs its overlap margin.
# Exits 1 when it cannot write.
import argparse
import math
import os
import sys
import traceback

import bmesh
import bpy
from mathutils import Vector


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="make_artist_scene.py")
    p.add_argument("--out", required=True)
    p.add_argument("--size", default="640x360")
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--no-adaptive", action="store_true")
    args = p.parse_args(argv)
    try:
        args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error("--size wants WxH, e.g. 640x360")
    if args.samples < 1:
        p.error("--samples wants a positive number")
    return args


def clear_scene():
    for collection in (bpy.data.objects, bpy.data.meshes, bpy.data.materials, bpy.data.lights,
                       bpy.data.cameras, bpy.data.worlds, bpy.data.node_groups):
        for item in list(collection):
            collection.remove(item)


# ------------------------------------------------------------------ node groups

def new_group(name, inputs, outputs):
    """A shader node group with the given (socket type, name, default) inputs and outputs;
    returns (group, group input node, group output node)."""
    group = bpy.data.node_groups.new(name, "ShaderNodeTree")
    for kind, socket, default in inputs:
        s = group.inputs.new(kind, socket)
        if default is not None:
            s.default_value = default
    for kind, socket in outputs:
        group.outputs.new(kind, socket)
    gin = group.nodes.new("NodeGroupInput")
    gout = group.nodes.new("NodeGroupOutput")
    return group, gin, gout


def color_ramp(nodes, links, factor, a_socket, b_socket):
    """A two-colour mix whose colours come from group inputs: the ramp's stops cannot be
    driven, so a ramp shapes the factor and MixRGB picks between the inputs."""
    ramp = nodes.new("ShaderNodeValToRGB")
    links.new(factor, ramp.inputs["Fac"])
    mix = nodes.new("ShaderNodeMixRGB")
    links.new(ramp.outputs["Color"], mix.inputs["Fac"])
    links.new(a_socket, mix.inputs["Color1"])
    links.new(b_socket, mix.inputs["Color2"])
    return ramp, mix


def wood_group():
    """Rings around the object's Z axis, warped by noise, with fine grain streaks."""
    group, gin, gout = new_group(
        "BNR Wood",
        [("NodeSocketColor", "Light", (0.55, 0.33, 0.16, 1.0)),
         ("NodeSocketColor", "Dark", (0.22, 0.1, 0.04, 1.0)),
         ("NodeSocketFloat", "Scale", 3.0),
         ("NodeSocketFloat", "Distortion", 6.0)],
        [("NodeSocketColor", "Color"), ("NodeSocketFloat", "Roughness"), ("NodeSocketFloat", "Height")])
    nodes, links = group.nodes, group.links
    coord = nodes.new("ShaderNodeTexCoord")
    # Stretch along X so the rings become long grain, as in sawn planks.
    stretch = nodes.new("ShaderNodeMapping")
    stretch.inputs["Scale"].default_value = (0.25, 1.0, 1.0)
    links.new(coord.outputs["Object"], stretch.inputs["Vector"])
    warp = nodes.new("ShaderNodeTexNoise")
    warp.inputs["Scale"].default_value = 1.5
    warp.inputs["Detail"].default_value = 4.0
    links.new(stretch.outputs["Vector"], warp.inputs["Vector"])
    rings = nodes.new("ShaderNodeTexWave")
    rings.wave_type = "RINGS"
    rings.rings_direction = "X"
    rings.inputs["Detail"].default_value = 3.0
    rings.inputs["Detail Scale"].default_value = 2.0
    links.new(stretch.outputs["Vector"], rings.inputs["Vector"])
    links.new(gin.outputs["Scale"], rings.inputs["Scale"])
    links.new(gin.outputs["Distortion"], rings.inputs["Distortion"])
    grain = nodes.new("ShaderNodeTexNoise")
    grain.inputs["Scale"].default_value = 120.0
    grain.inputs["Detail"].default_value = 2.0
    links.new(stretch.outputs["Vector"], grain.inputs["Vector"])
    # Rings plus a little of the warp noise and grain.
    blend = nodes.new("ShaderNodeMath")
    blend.operation = "MULTIPLY_ADD"
    links.new(warp.outputs["Fac"], blend.inputs[0])
    blend.inputs[1].default_value = 0.3
    links.new(rings.outputs["Fac"], blend.inputs[2])
    fine = nodes.new("ShaderNodeMath")
    fine.operation = "MULTIPLY_ADD"
    links.new(grain.outputs["Fac"], fine.inputs[0])
    fine.inputs[1].default_value = 0.15
    links.new(blend.outputs["Value"], fine.inputs[2])
    ramp, mix = color_ramp(nodes, links, fine.outputs["Value"], gin.outputs["Dark"], gin.outputs["Light"])
    ramp.color_ramp.elements[0].position = 0.35
    ramp.color_ramp.elements[1].position = 0.75
    rough = nodes.new("ShaderNodeMapRange")
    rough.inputs["To Min"].default_value = 0.55
    rough.inputs["To Max"].default_value = 0.3
    links.new(ramp.outputs["Color"], rough.inputs["Value"])
    links.new(mix.outputs["Color"], gout.inputs["Color"])
    links.new(rough.outputs["Result"], gout.inputs["Roughness"])
    links.new(fine.outputs["Value"], gout.inputs["Height"])
    return group


def marble_group():
    """Soft base from warped bands, sharp dark veins from voronoi edges, musgrave clouding."""
    group, gin, gout = new_group(
        "BNR Marble",
        [("NodeSocketColor", "Base", (0.85, 0.84, 0.8, 1.0)),
         ("NodeSocketColor", "Vein", (0.12, 0.12, 0.14, 1.0)),
         ("NodeSocketFloat", "Scale", 2.0)],
        [("NodeSocketColor", "Color"), ("NodeSocketFloat", "Roughness"), ("NodeSocketFloat", "Height")])
    nodes, links = group.nodes, group.links
    coord = nodes.new("ShaderNodeTexCoord")
    scale = nodes.new("ShaderNodeVectorMath")
    scale.operation = "SCALE"
    links.new(coord.outputs["Object"], scale.inputs[0])
    links.new(gin.outputs["Scale"], scale.inputs["Scale"])
    warp = nodes.new("ShaderNodeTexNoise")
    warp.inputs["Scale"].default_value = 2.0
    warp.inputs["Detail"].default_value = 6.0
    warp.inputs["Distortion"].default_value = 1.5
    links.new(scale.outputs["Vector"], warp.inputs["Vector"])
    bands = nodes.new("ShaderNodeTexWave")
    bands.inputs["Scale"].default_value = 1.2
    bands.inputs["Distortion"].default_value = 9.0
    bands.inputs["Detail"].default_value = 5.0
    links.new(warp.outputs["Color"], bands.inputs["Vector"])
    veins = nodes.new("ShaderNodeTexVoronoi")
    veins.feature = "DISTANCE_TO_EDGE"
    veins.inputs["Scale"].default_value = 3.0
    links.new(warp.outputs["Color"], veins.inputs["Vector"])
    vein_mask = nodes.new("ShaderNodeMapRange")
    vein_mask.inputs["From Min"].default_value = 0.0
    vein_mask.inputs["From Max"].default_value = 0.06
    vein_mask.inputs["To Min"].default_value = 1.0
    vein_mask.inputs["To Max"].default_value = 0.0
    links.new(veins.outputs["Distance"], vein_mask.inputs["Value"])
    cloud = nodes.new("ShaderNodeTexMusgrave")
    cloud.inputs["Scale"].default_value = 4.0
    cloud.inputs["Detail"].default_value = 4.0
    links.new(scale.outputs["Vector"], cloud.inputs["Vector"])
    # Veins: the sharp voronoi edges plus the darker half of the bands.
    dark = nodes.new("ShaderNodeMath")
    dark.operation = "MAXIMUM"
    links.new(vein_mask.outputs["Result"], dark.inputs[0])
    band_dark = nodes.new("ShaderNodeMath")
    band_dark.operation = "POWER"
    links.new(bands.outputs["Fac"], band_dark.inputs[0])
    band_dark.inputs[1].default_value = 6.0
    links.new(band_dark.outputs["Value"], dark.inputs[1])
    _ramp, mix = color_ramp(nodes, links, dark.outputs["Value"], gin.outputs["Base"], gin.outputs["Vein"])
    cloudy = nodes.new("ShaderNodeMixRGB")
    cloudy.blend_type = "MULTIPLY"
    cloudy.inputs["Fac"].default_value = 0.25
    links.new(mix.outputs["Color"], cloudy.inputs["Color1"])
    links.new(cloud.outputs["Fac"], cloudy.inputs["Color2"])
    rough = nodes.new("ShaderNodeMapRange")
    rough.inputs["To Min"].default_value = 0.08
    rough.inputs["To Max"].default_value = 0.25
    links.new(dark.outputs["Value"], rough.inputs["Value"])
    links.new(cloudy.outputs["Color"], gout.inputs["Color"])
    links.new(rough.outputs["Result"], gout.inputs["Roughness"])
    links.new(dark.outputs["Value"], gout.inputs["Height"])
    return group


# ------------------------------------------------------------------ materials

def material(name):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    mat.node_tree.nodes.clear()
    out = mat.node_tree.nodes.new("ShaderNodeOutputMaterial")
    return mat, mat.node_tree.nodes, mat.node_tree.links, out


def grouped_material(name, group, values, bump_strength, specular=0.5):
    """A Principled BSDF fed by `group` (Color, Roughness, Height) with a Bump node."""
    mat, nodes, links, out = material(name)
    g = nodes.new("ShaderNodeGroup")
    g.node_tree = group
    for socket, value in values.items():
        g.inputs[socket].default_value = value
    bump = nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = bump_strength
    bump.inputs["Distance"].default_value = 0.02
    links.new(g.outputs["Height"], bump.inputs["Height"])
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Specular"].default_value = specular
    links.new(g.outputs["Color"], bsdf.inputs["Base Color"])
    links.new(g.outputs["Roughness"], bsdf.inputs["Roughness"])
    links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def glass_material(name, tint, roughness):
    mat, nodes, links, out = material(name)
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Base Color"].default_value = (*tint, 1.0)
    bsdf.inputs["Transmission"].default_value = 1.0
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["IOR"].default_value = 1.5
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def brushed_metal(name, color):
    """Anisotropic metal whose roughness wobbles with stretched noise."""
    mat, nodes, links, out = material(name)
    coord = nodes.new("ShaderNodeTexCoord")
    stretch = nodes.new("ShaderNodeMapping")
    stretch.inputs["Scale"].default_value = (1.0, 1.0, 60.0)
    links.new(coord.outputs["Object"], stretch.inputs["Vector"])
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 8.0
    links.new(stretch.outputs["Vector"], noise.inputs["Vector"])
    rough = nodes.new("ShaderNodeMapRange")
    rough.inputs["To Min"].default_value = 0.15
    rough.inputs["To Max"].default_value = 0.35
    links.new(noise.outputs["Fac"], rough.inputs["Value"])
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Metallic"].default_value = 1.0
    bsdf.inputs["Anisotropic"].default_value = 0.6
    links.new(rough.outputs["Result"], bsdf.inputs["Roughness"])
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def plaster(name, color):
    """A wall: musgrave-mottled colour and a bump from the same field."""
    mat, nodes, links, out = material(name)
    field = nodes.new("ShaderNodeTexMusgrave")
    field.inputs["Scale"].default_value = 6.0
    field.inputs["Detail"].default_value = 4.0
    mottle = nodes.new("ShaderNodeMixRGB")
    mottle.blend_type = "MULTIPLY"
    mottle.inputs["Fac"].default_value = 0.15
    mottle.inputs["Color1"].default_value = (*color, 1.0)
    links.new(field.outputs["Fac"], mottle.inputs["Color2"])
    bump = nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = 0.2
    links.new(field.outputs["Fac"], bump.inputs["Height"])
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = 0.8
    links.new(mottle.outputs["Color"], bsdf.inputs["Base Color"])
    links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


# ------------------------------------------------------------------ objects

def link_object(name, mesh, mat, location, rotation=(0, 0, 0), smooth=True):
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = location
    obj.rotation_euler = rotation
    mesh.materials.append(mat)
    if smooth:
        for poly in mesh.polygons:
            poly.use_smooth = True
    return obj


def primitive(kind, name, mat, location, rotation=(0, 0, 0), smooth=True, **kw):
    getattr(bpy.ops.mesh, f"primitive_{kind}_add")(location=location, rotation=rotation, **kw)
    obj = bpy.context.active_object
    obj.name = name
    obj.data.materials.append(mat)
    if smooth:
        bpy.ops.object.shade_smooth()
    return obj


def lathe(name, profile, segments=64):
    """A closed surface of revolution around Z from (radius, height) points, bottom to top."""
    verts, faces = [], []
    for i in range(segments):
        a = 2 * math.pi * i / segments
        for r, z in profile:
            verts.append((r * math.cos(a), r * math.sin(a), z))
    n = len(profile)
    for i in range(segments):
        j = (i + 1) % segments
        for k in range(n - 1):
            faces.append((i * n + k, j * n + k, j * n + k + 1, i * n + k + 1))
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    # A profile point on the axis gives every segment its own copy of it: merge them.
    bm = bmesh.new()
    bm.from_mesh(mesh)
    bmesh.ops.remove_doubles(bm, verts=bm.verts, dist=1e-6)
    bm.to_mesh(mesh)
    bm.free()
    mesh.update()
    return mesh


def goblet(mat, location):
    profile = [(0.0, 0.0), (0.35, 0.0), (0.36, 0.03), (0.1, 0.08), (0.05, 0.15), (0.05, 0.55), (0.08, 0.62),
               (0.3, 0.75), (0.4, 0.95), (0.42, 1.2), (0.41, 1.35)]
    obj = link_object("Goblet", lathe("Goblet", profile), mat, location)
    solid = obj.modifiers.new("Wall", "SOLIDIFY")
    solid.thickness = 0.025
    subsurf = obj.modifiers.new("Smooth", "SUBSURF")
    subsurf.levels = subsurf.render_levels = 1
    return obj


def add_light(kind, name, location, rotation, energy, color=(1.0, 1.0, 1.0), **settings):
    light = bpy.data.lights.new(name, kind)
    light.energy = energy
    light.color = color
    for key, value in settings.items():
        setattr(light, key, value)
    obj = bpy.data.objects.new(name, light)
    obj.location = location
    obj.rotation_euler = rotation
    bpy.context.scene.collection.objects.link(obj)
    return obj


def aim(obj, target):
    obj.rotation_euler = (Vector(target) - obj.location).to_track_quat("-Z", "Y").to_euler()


def build(scene):
    wood = wood_group()
    marble = marble_group()
    table = grouped_material("Table Oak", wood, {"Scale": 2.5, "Distortion": 7.0}, 0.25)
    bowl_wood = grouped_material("Bowl Walnut", wood, {"Light": (0.32, 0.17, 0.08, 1.0), "Dark": (0.09, 0.04, 0.02, 1.0),
                                                       "Scale": 6.0, "Distortion": 4.0}, 0.15)
    block_wood = grouped_material("Block Pine", wood, {"Light": (0.78, 0.58, 0.34, 1.0), "Dark": (0.5, 0.3, 0.14, 1.0),
                                                       "Scale": 4.0, "Distortion": 9.0}, 0.3)
    white_marble = grouped_material("Carrara", marble, {"Scale": 1.5}, 0.05, specular=0.6)
    green_marble = grouped_material("Verde", marble, {"Base": (0.1, 0.3, 0.2, 1.0), "Vein": (0.85, 0.9, 0.85, 1.0),
                                                      "Scale": 2.5}, 0.05, specular=0.6)

    primitive("cube", "Table", table, (0, 0, -0.1), scale=(4.0, 2.2, 0.1), smooth=False)
    primitive("plane", "Wall", plaster("Plaster", (0.75, 0.7, 0.62)), (0, 2.3, 2.0), (math.radians(90), 0, 0),
              smooth=False, size=12)
    goblet(glass_material("Glass", (0.97, 0.99, 1.0), 0.0), (0.15, -0.1, 0.0))
    primitive("uv_sphere", "GlassBall", glass_material("Tinted Glass", (0.75, 0.9, 1.0), 0.05), (1.3, -0.55, 0.3),
              segments=48, ring_count=24, radius=0.3)
    primitive("uv_sphere", "MarbleBall", white_marble, (-1.1, -0.4, 0.42), segments=64, ring_count=32, radius=0.42)
    primitive("cylinder", "Pedestal", green_marble, (1.7, 0.8, 0.45), vertices=64, radius=0.4, depth=0.9)
    bowl_profile = [(0.6 * math.sin(math.radians(a)), 0.3 * (1 - math.cos(math.radians(a)))) for a in range(0, 91, 6)]
    bowl = link_object("Bowl", lathe("Bowl", bowl_profile), bowl_wood, (-0.9, 0.9, 0.0))
    bowl.modifiers.new("Wall", "SOLIDIFY").thickness = 0.04
    primitive("cube", "Block", block_wood, (-2.0, 0.3, 0.25), (0, 0, math.radians(25)), smooth=False, size=0.5)
    primitive("torus", "Ring", brushed_metal("Brushed Steel", (0.9, 0.88, 0.85)), (0.9, 0.3, 0.06),
              (0, 0, 0), major_radius=0.3, minor_radius=0.06)

    key = add_light("AREA", "Key", (-3.0, -3.0, 4.0), (0, 0, 0), 700.0, (1.0, 0.95, 0.88), size=2.0)
    aim(key, (0, 0, 0.4))
    spot = add_light("SPOT", "Spot", (3.0, -2.0, 3.5), (0, 0, 0), 500.0, (0.85, 0.9, 1.0),
                     spot_size=math.radians(40), spot_blend=0.3, shadow_soft_size=0.2)
    aim(spot, (0.5, 0.2, 0.3))
    add_light("POINT", "Rim", (1.0, 1.8, 2.2), (0, 0, 0), 150.0, (1.0, 0.8, 0.6), shadow_soft_size=0.3)
    add_light("SUN", "Fill", (0, 0, 5), (math.radians(50), 0, math.radians(-30)), 0.5, (0.8, 0.85, 1.0),
              angle=math.radians(10))

    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (0.05, 0.055, 0.06, 1.0)
    bg.inputs["Strength"].default_value = 1.0
    scene.world = world

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens = 50
    cam_data.dof.use_dof = True
    cam_data.dof.aperture_fstop = 1.8
    cam = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(cam)
    cam.location = (0.6, -5.5, 1.9)
    aim(cam, (0.0, 0.2, 0.5))
    cam_data.dof.focus_distance = (Vector((0.15, -0.1, 0.6)) - cam.location).length
    scene.camera = cam


def setup_render(scene, args):
    r = scene.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y = args.width, args.height
    r.resolution_percentage = 100
    r.use_border = False
    r.use_persistent_data = False
    r.filepath = "//render_"
    c = scene.cycles
    c.device = "CPU"
    c.samples = args.samples
    c.seed = 0
    c.use_animated_seed = False
    # Adaptive threshold, minimum samples and bounces stay at Blender's defaults.
    c.use_adaptive_sampling = not args.no_adaptive
    c.use_denoising = False
    scene.frame_current = 1
    scene.frame_start = scene.frame_end = 1
    scene.use_nodes = False
    imf = r.image_settings
    imf.file_format = "PNG"
    imf.color_mode = "RGBA"
    imf.color_depth = "8"
    scene.view_settings.view_transform = "Filmic"


def main():
    args = parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 beside the scene
    clear_scene()
    scene = bpy.context.scene
    build(scene)
    setup_render(scene, args)
    bpy.ops.wm.save_as_mainfile(filepath=out, compress=False)


try:
    main()
except SystemExit:
    raise
except Exception:
    # Blender exits 0 after a failing --python script unless told otherwise.
    traceback.print_exc()
    sys.exit(1)
