# Writes small, deterministic test scenes for bnr (runs inside Blender 3.4, no numpy):
#
#   blender -b --factory-startup --python tools/scenes/make_scene.py -- --out PATH.blend \
#       [--size WxH] [--percent N] [--samples N] [--adaptive] [--noise-threshold F] [--denoise] [--transparent]
#       [--depth 8|16] [--stereo] [--exr] [--blur N] [--glare] [--demo] [--hot-left] [--look]
#       [--texture PATH] [--floor-texture PATH] [--link-floor LIB.blend] [--pack-noise MIB]
#   blender -b --factory-startup --python tools/scenes/make_scene.py -- --write-texture PNG
#
# External files (for scene shipping tests): --texture gives the red sphere an image texture,
# --floor-texture the floor; --link-floor takes the floor's material "Floor" linked from
# another .blend. Each PATH is stored exactly as given: "//..." is relative to the scene's
# file, anything else absolute. --write-texture only writes a small deterministic PNG.
#
# --pack-noise MIB makes the .blend itself large for shipping benchmarks: it packs an image of
# MIB MiB of pseudo-random pixels (an uncompressed 24-bit TGA, 16384 px wide; deterministic,
# incompressible; at most 3071 MiB) that nothing uses, kept by a fake user, so it costs
# nothing to render but every agent must receive it and Blender holds it in memory on loading.
# The TGA is written beside --out while Blender packs it, then deleted.
#
# Default: 320x180, 16 samples, Cycles on the CPU, seed 0, adaptive sampling and denoising
# off, dithering at Blender's default (1.0), PNG RGBA 8-bit, Filmic view transform. About a
# second per frame with 2 threads (--demo: about 2.5 s). Exits 1 when it cannot write.
#
# Blender's own full-frame output, for reference images in tests (measured on 3.4.1):
#
#   blender -b --factory-startup SCENE.blend -o /dir/ref_ -f 1
#
# -o is a path prefix: Blender appends the frame number padded to 4 digits and the extension
# (a run of '#' in the file name is replaced by the frame instead). Files written:
#   mono                      /dir/ref_0001.png   W x H (with --exr: ref_0001.exr, float32)
#   --stereo (TOPBOTTOM)      /dir/ref_0001.png   ONE file, W x 2H, the LEFT eye on top
#   --stereo --exr            /dir/ref_0001.exr   also ONE file, W x 2H, left eye on top
#   views_format INDIVIDUAL   /dir/ref_0001_L.png and /dir/ref_0001_R.png (view suffixes)
# `-F OPEN_EXR` before -f switches a PNG scene to EXR but keeps its color_depth: a --depth 16
# scene then writes HALF floats (depth 8 writes float32). For float32 references use an
# --exr scene, or set image_settings.color_depth = '32' with --python-expr before -f.
# Output size is resolution * percentage // 100 (1001x333 at 50% writes 500x166).
# PNG is display-referred (view transform, look, exposure applied); EXR is scene-linear.
#
# Caveats when comparing against these references:
# - 8-bit PNG is dithered (render.dither_intensity 1.0: about a third of the values differ by
#   1-2 levels); with dithering 0 it equals round(v16 / 257) of the 16-bit output exactly.
# - Blender 3.4's 16-bit stereo TOPBOTTOM PNG applies the sRGB curve twice (far too bright);
#   its 8-bit stereo and all mono outputs are right.
# - Rendering one .blend is repeatable (one run in seven differed by 1/65535 in 2 pixels),
#   but two files made by separate runs of this script render up to 4e-5 apart in float:
#   render the reference from the very file the test renders.
import argparse
import math
import os
import sys
import traceback

import bpy


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="make_scene.py")
    p.add_argument("--out")
    p.add_argument("--write-texture")
    p.add_argument("--stripes", type=int, default=4)
    p.add_argument("--texture")
    p.add_argument("--floor-texture")
    p.add_argument("--link-floor")
    p.add_argument("--size", default="320x180")
    p.add_argument("--percent", type=int, default=100)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--adaptive", action="store_true")
    # A coarse threshold stops pixels early in a pattern the region's edges change without
    # margins (Blender's default is 0.01).
    p.add_argument("--noise-threshold", type=float, default=0.0)
    p.add_argument("--denoise", action="store_true")
    p.add_argument("--transparent", action="store_true")
    p.add_argument("--depth", choices=("8", "16"), default="8")
    p.add_argument("--stereo", action="store_true")
    p.add_argument("--exr", action="store_true")
    p.add_argument("--blur", type=int, default=0)
    p.add_argument("--glare", action="store_true")
    p.add_argument("--demo", action="store_true")
    # The demo's glass crowded into the left third: that part costs several times more per
    # column than the rest, as in a scene with caustics on one side and sky on the other.
    p.add_argument("--hot-left", action="store_true")
    p.add_argument("--look", action="store_true")
    p.add_argument("--pack-noise", type=int, default=0, metavar="MIB")
    # A zstd-compressed .blend: a few times smaller, for a slow link.
    p.add_argument("--compress", action="store_true")
    args = p.parse_args(argv)
    if not 0 <= args.pack_noise <= 3071:
        p.error("--pack-noise wants 0..3071 (MiB)")
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error("--size wants WxH, e.g. 320x180")
    args.width, args.height = w, h
    return args


def clear_scene():
    for collection in (bpy.data.objects, bpy.data.meshes, bpy.data.materials, bpy.data.lights,
                       bpy.data.cameras, bpy.data.worlds):
        for item in list(collection):
            collection.remove(item)


def material(name, build):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(build(nodes, links).outputs[0], out.inputs["Surface"])
    return mat


def principled(color, roughness=0.5, metallic=0.0):
    def build(nodes, _links):
        n = nodes.new("ShaderNodeBsdfPrincipled")
        n.inputs["Base Color"].default_value = (*color, 1.0)
        n.inputs["Roughness"].default_value = roughness
        n.inputs["Metallic"].default_value = metallic
        return n
    return build


def glass(color, roughness=0.0, ior=1.45):
    def build(nodes, _links):
        n = nodes.new("ShaderNodeBsdfGlass")
        n.inputs["Color"].default_value = (*color, 1.0)
        n.inputs["Roughness"].default_value = roughness
        n.inputs["IOR"].default_value = ior
        return n
    return build


def checker(color1, color2, scale):
    def build(nodes, links):
        tex = nodes.new("ShaderNodeTexChecker")
        tex.inputs["Color1"].default_value = (*color1, 1.0)
        tex.inputs["Color2"].default_value = (*color2, 1.0)
        tex.inputs["Scale"].default_value = scale
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.inputs["Roughness"].default_value = 0.35
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        return bsdf
    return build


def image_texture(path, fallback_color):
    """A material builder whose base colour is the image at `path`, stored as given."""
    def build(nodes, links):
        img = bpy.data.images.load(bpy.path.abspath(path), check_existing=True)
        img.filepath = path  # keep "//" relative or absolute exactly as the caller wrote it
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = img
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.inputs["Base Color"].default_value = (*fallback_color, 1.0)
        bsdf.inputs["Roughness"].default_value = 0.4
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        return bsdf
    return build


def write_texture(path, stripes):
    """A 32x32 colour ramp with stripes `stripes` px wide, deterministic, saved as PNG."""
    n = 32
    img = bpy.data.images.new("bnr_texture", n, n)
    px = []
    for y in range(n):
        for x in range(n):
            stripe = 1.0 if (x // stripes) % 2 == 0 else 0.2
            px += [x / (n - 1), y / (n - 1), stripe, 1.0]
    img.pixels = px
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img.filepath_raw = os.path.abspath(path)
    img.file_format = 'PNG'
    img.save()


def linked_material(library, name):
    with bpy.data.libraries.load(bpy.path.abspath(library), link=True,
                                 relative=library.startswith("//")) as (_src, dst):
        dst.materials = [name]
    mat = dst.materials[0]
    if mat is None:
        raise RuntimeError(f"{library} has no material {name!r}")
    mat.library.filepath = library  # stored exactly as given
    return mat


def add_mesh(kind, name, location, mat, **kw):
    if kind == "sphere":
        bpy.ops.mesh.primitive_uv_sphere_add(segments=48, ring_count=24, location=location, **kw)
        bpy.ops.object.shade_smooth()
    elif kind == "cube":
        bpy.ops.mesh.primitive_cube_add(location=location, **kw)
    elif kind == "plane":
        bpy.ops.mesh.primitive_plane_add(location=location, **kw)
    elif kind == "torus":
        bpy.ops.mesh.primitive_torus_add(location=location, **kw)
        bpy.ops.object.shade_smooth()
    obj = bpy.context.active_object
    obj.name = name
    obj.data.materials.append(mat)
    return obj


def add_world(scene, color, strength):
    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*color, 1.0)
    bg.inputs["Strength"].default_value = strength
    scene.world = world


def add_camera(scene, location, target, stereo):
    cam_data = bpy.data.cameras.new("Camera")
    cam = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(cam)
    cam.location = location
    direction = [t - l for t, l in zip(target, location)]
    from mathutils import Vector
    cam.rotation_euler = Vector(direction).to_track_quat("-Z", "Y").to_euler()
    cam_data.lens = 35
    if stereo:
        cam_data.type = "PANO"
        # Blender 3.4 keeps the panorama type in Cycles' camera settings.
        if hasattr(cam_data, "panorama_type"):
            cam_data.panorama_type = "EQUIRECTANGULAR"
        else:
            cam_data.cycles.panorama_type = "EQUIRECTANGULAR"
        cam_data.stereo.interocular_distance = 0.065
    scene.camera = cam


def add_sun(angle_deg, rotation, strength):
    light = bpy.data.lights.new("Sun", "SUN")
    light.energy = strength
    light.angle = math.radians(angle_deg)
    obj = bpy.data.objects.new("Sun", light)
    obj.rotation_euler = rotation
    bpy.context.scene.collection.objects.link(obj)


def add_area(location, rotation, size, power):
    light = bpy.data.lights.new("Area", "AREA")
    light.energy = power
    light.size = size
    obj = bpy.data.objects.new("Area", light)
    obj.location = location
    obj.rotation_euler = rotation
    bpy.context.scene.collection.objects.link(obj)


def build_default(scene, stereo, args):
    if args.link_floor:
        floor = linked_material(args.link_floor, "Floor")
    elif args.floor_texture:
        floor = material("Floor", image_texture(args.floor_texture, (0.55, 0.55, 0.5)))
    else:
        floor = material("Floor", principled((0.55, 0.55, 0.5), 0.6))
    add_mesh("plane", "Floor", (0, 0, 0), floor, size=12)
    red = image_texture(args.texture, (0.8, 0.08, 0.05)) if args.texture else principled((0.8, 0.08, 0.05), 0.4)
    add_mesh("sphere", "Red", (-1.6, 0.2, 0.7), material("Red", red), radius=0.7)
    add_mesh("sphere", "Chrome", (0.0, 0.8, 0.8), material("Chrome", principled((0.9, 0.9, 0.95), 0.08, 1.0)), radius=0.8)
    add_mesh("sphere", "Glass", (1.1, -0.6, 0.55), material("Glass", glass((0.85, 0.95, 1.0))), radius=0.55)
    add_mesh("cube", "Blue", (2.3, 1.2, 0.5), material("Blue", principled((0.05, 0.2, 0.8), 0.3)), size=1.0)
    add_mesh("torus", "Green", (-0.4, -1.5, 0.25), material("Green", principled((0.1, 0.7, 0.15), 0.2)),
             major_radius=0.5, minor_radius=0.2)
    add_sun(6.0, (math.radians(45), math.radians(10), math.radians(30)), 3.0)
    add_world(scene, (0.35, 0.45, 0.6), 0.8)
    # A panoramic camera sees everything; put it among the objects.
    if stereo:
        add_camera(scene, (0.3, -3.0, 1.2), (0.3, 0.0, 0.8), True)
    else:
        add_camera(scene, (0.4, -7.5, 3.6), (0.3, 0.0, 0.5), False)


def build_demo(scene, stereo, hot_left=False):
    def place(x):
        return -3.4 + (x + 2.0) * 0.3 if hot_left else x

    add_mesh("plane", "Checkerboard", (0, 0, 0),
             material("Checker", checker((0.9, 0.88, 0.82), (0.08, 0.08, 0.1), 12.0)), size=14)
    tints = [(1.0, 1.0, 1.0), (0.75, 0.9, 1.0), (1.0, 0.8, 0.7), (0.8, 1.0, 0.85)]
    spots = [(-2.0, 0.8, 0.9, 0.9), (0.2, 0.0, 1.0, 1.0), (2.3, 1.0, 0.75, 0.75), (1.0, -1.6, 0.45, 0.45)]
    for i, ((x, y, z, r), tint) in enumerate(zip(spots, tints)):
        add_mesh("sphere", f"Glass{i}", (place(x), y, z), material(f"Glass{i}", glass(tint, 0.0, 1.5)), radius=r)
    add_mesh("sphere", "Gold", (place(-0.9), -1.4, 0.4), material("Gold", principled((1.0, 0.72, 0.3), 0.15, 1.0)),
             radius=0.4)
    add_area((-3.0, -3.0, 5.0), (math.radians(40), 0, math.radians(-45)), 3.0, 900.0)
    add_sun(3.0, (math.radians(55), 0, math.radians(120)), 2.0)
    add_world(scene, (0.55, 0.65, 0.85), 0.6)
    if stereo:
        add_camera(scene, (0.0, -3.6, 1.3), (0.0, 0.0, 0.9), True)
    else:
        add_camera(scene, (0.0, -8.0, 3.4), (0.2, 0.0, 0.7), False)


def write_noise_tga(path, mib):
    """An uncompressed 24-bit TGA of at least `mib` MiB of pixels from a seeded generator."""
    import random
    import struct
    width = 16384
    height = -(-(mib << 20) // (width * 3))  # rounded up to whole rows
    rng = random.Random(0)
    left = width * height * 3
    with open(path, "wb") as f:
        # id length, no colour map, type 2 (true colour, uncompressed), origin 0,0, 24 bpp.
        f.write(struct.pack("<BBB5sHHHHBB", 0, 0, 2, bytes(5), 0, 0, width, height, 24, 0))
        while left > 0:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n


def pack_noise(out, mib):
    """Packs `mib` MiB of noise into the scene as an unused image; returns the TGA to delete."""
    tga = os.path.abspath(out) + ".noise.tga"
    write_noise_tga(tga, mib)
    img = bpy.data.images.load(tga)
    img.name = "bnr_packed_noise"
    img.use_fake_user = True  # unused data-blocks are not saved otherwise
    img.pack()  # the file's bytes as they are: nothing is decoded
    return tga


def setup_render(scene, args):
    r = scene.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y = args.width, args.height
    r.resolution_percentage = args.percent
    r.film_transparent = args.transparent
    r.use_border = False
    r.use_persistent_data = False
    r.filepath = "//render_"

    c = scene.cycles
    c.device = "CPU"
    c.samples = args.samples
    c.seed = 0
    c.use_animated_seed = False
    c.use_adaptive_sampling = args.adaptive
    if args.noise_threshold > 0:
        c.adaptive_threshold = args.noise_threshold
    c.use_denoising = args.denoise
    c.max_bounces = 8
    c.transparent_max_bounces = 8
    scene.frame_current = 1
    scene.frame_start = scene.frame_end = 1

    imf = r.image_settings
    if args.exr:
        imf.file_format = "OPEN_EXR"
        imf.color_mode = "RGBA"
        imf.color_depth = "32"
        imf.exr_codec = "ZIP"
    else:
        imf.file_format = "PNG"
        imf.color_mode = "RGBA"
        imf.color_depth = args.depth
        imf.compression = 15

    if args.stereo:
        r.use_multiview = True
        r.views_format = "STEREO_3D"
        imf.views_format = "STEREO_3D"
        imf.stereo_3d_format.display_mode = "TOPBOTTOM"
        imf.stereo_3d_format.use_squeezed_frame = False

    vs = scene.view_settings
    vs.view_transform = "Filmic"
    if args.look:
        vs.look = "Medium High Contrast"
        vs.exposure = 0.5
        vs.gamma = 1.1


def setup_compositor(scene, args):
    if not (args.blur or args.glare):
        scene.use_nodes = False
        return
    scene.use_nodes = True
    scene.render.use_compositing = True
    tree = scene.node_tree
    tree.nodes.clear()
    layers = tree.nodes.new("CompositorNodeRLayers")
    composite = tree.nodes.new("CompositorNodeComposite")
    last = layers.outputs["Image"]
    if args.blur:
        blur = tree.nodes.new("CompositorNodeBlur")
        blur.filter_type = "GAUSS"
        blur.size_x = blur.size_y = args.blur
        tree.links.new(last, blur.inputs["Image"])
        last = blur.outputs["Image"]
    if args.glare:
        glare = tree.nodes.new("CompositorNodeGlare")
        glare.glare_type = "FOG_GLOW"
        glare.threshold = 0.8
        tree.links.new(last, glare.inputs["Image"])
        last = glare.outputs["Image"]
    tree.links.new(last, composite.inputs["Image"])


def main():
    args = parse_args()
    if args.write_texture:
        write_texture(args.write_texture, max(1, args.stripes))
        return
    if not args.out:
        raise SystemExit("make_scene.py: --out is required")
    # Saving first makes "//" paths on the command line resolve against the scene's directory.
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    bpy.context.preferences.filepaths.save_version = 0  # no scene.blend1 beside the scene
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(args.out), compress=False)
    clear_scene()
    scene = bpy.context.scene
    if args.demo or args.hot_left:
        build_demo(scene, args.stereo, args.hot_left)
    else:
        build_default(scene, args.stereo, args)
    setup_render(scene, args)
    setup_compositor(scene, args)
    tga = pack_noise(args.out, args.pack_noise) if args.pack_noise else None
    # Blender's save operator wants an absolute path.
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(args.out), compress=args.compress)
    if tga:
        os.remove(tga)


try:
    main()
except SystemExit:
    raise
except Exception:
    # Blender exits 0 after a failing --python script unless told otherwise; a test must not
    # go on with a missing scene.
    traceback.print_exc()
    sys.exit(1)
