# bnr's whole-frame compositing: runs in the broker's own Blender once every region is merged,
#
#   blender -b --factory-startup --disable-autoexec SCENE.blend --python-exit-code 2 \
#       --python composite.py -- --layers MERGED.exr --out STEM [--frame N] [--exr LINEAR.exr]
#
# MERGED.exr holds every pass of every view layer of the whole frame (the agents rendered them
# with compositing off). Each Render Layers node of the scene's compositor becomes an Image
# node reading the same view layer's passes from it, so Blender has nothing left to render
# (it skips the render engine when no Render Layers node is live) and only composites, then
# writes the scene's own output format to STEM plus its extension, as Blender names a still.
# File Output nodes write their files as in Blender's own render, once. A scene without a
# compositor gets one that passes the active view layer through, so that Blender's own writer
# writes the formats bnr does not write itself (JPEG, TIFF, EXR...). --exr also saves the
# composited image as float RGBA. Prints "bnr-error<TAB>REASON" and exits 1 when it cannot.
import argparse
import os
import sys

import bpy

# The worker's scene analysis (agent/scene_analysis.py), written next to this script: its
# shims find the compositor of every Blender from 3.4 to 5.x.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scene_analysis import compositing_tree, output_nodes, set_file_format  # noqa: E402


class CompositeError(Exception):
    pass


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="composite.py")
    p.add_argument("--layers", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--frame", type=int, default=None)
    p.add_argument("--exr", default=None)
    return p.parse_args(argv)


def output_name(socket_name):
    # Render Layers calls the combined pass "Image"; an Image node of a multilayer EXR names
    # it as the file does.
    return "Combined" if socket_name == "Image" else socket_name


def compositing(scene):
    tree, kind = compositing_tree(scene)
    return tree is not None and bool(output_nodes(tree, kind)) and any(
        n.bl_idname == "CompositorNodeRLayers" and not n.mute for n in tree.nodes)


def empty_compositor(scene):
    """A fresh compositor tree and its output socket: 3.4-4.x a Composite node in
    scene.node_tree; 5.0 a node group with an "Image" output."""
    scene.render.use_compositing = True
    if hasattr(scene, "compositing_node_group"):
        tree = bpy.data.node_groups.new("bnr pass-through", "CompositorNodeTree")
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        scene.compositing_node_group = tree
        return tree, tree.nodes.new("NodeGroupOutput").inputs["Image"], None
    scene.use_nodes = True
    tree = scene.node_tree
    tree.nodes.clear()  # nodes of a compositor that was switched off stay off
    composite = tree.nodes.new("CompositorNodeComposite")
    return tree, composite.inputs["Image"], composite.inputs["Alpha"]


def pass_through(scene, image):
    """No compositor: Blender writes the active view layer's combined image. A compositor of
    just that lets Blender's own writer write the scene's format from the merged passes."""
    tree, image_in, alpha_in = empty_compositor(scene)
    source = tree.nodes.new("CompositorNodeImage")
    source.image = image
    source.layer = bpy.context.view_layer.name
    tree.links.new(source.outputs["Combined"], image_in)
    if alpha_in is not None:
        tree.links.new(source.outputs["Alpha"], alpha_in)


def feed_from_merged(scene, image):
    tree, _ = compositing_tree(scene)
    replaced = 0
    for node in [n for n in tree.nodes if n.bl_idname == "CompositorNodeRLayers"]:
        if node.mute:
            continue
        source = tree.nodes.new("CompositorNodeImage")
        source.image = image
        source.layer = node.layer
        source.location = node.location
        for socket in node.outputs:
            for link in list(socket.links):
                feed = source.outputs.get(output_name(socket.name))
                if feed is None:
                    raise CompositeError(f"the merged passes of view layer '{node.layer}' have no "
                                         f"'{socket.name}' (Render Layers node '{node.name}')")
                tree.links.new(feed, link.to_socket)
        tree.nodes.remove(node)
        replaced += 1
    if replaced == 0:
        raise CompositeError("the compositor has no live Render Layers node to feed")


def save_linear(scene, path):
    imf = scene.render.image_settings
    set_file_format(imf, "OPEN_EXR")
    imf.color_mode = "RGBA"
    imf.color_depth = "32"
    imf.exr_codec = "ZIP"
    bpy.data.images["Render Result"].save_render(filepath=path, scene=scene)


def main():
    args = parse_args()
    try:
        scene = bpy.context.scene
        if args.frame is not None:
            scene.frame_set(args.frame)
        image = bpy.data.images.load(args.layers, check_existing=False)
        if compositing(scene):
            feed_from_merged(scene, image)
        else:
            pass_through(scene, image)
        r = scene.render
        r.use_border = False
        r.use_file_extension = True
        r.filepath = args.out
        result = bpy.ops.render.render(write_still=True)
        if "FINISHED" not in result:
            raise CompositeError(f"Blender's render operator returned {sorted(result)}")
        if args.exr:
            save_linear(scene, args.exr)
    except (CompositeError, RuntimeError) as e:
        print("bnr-error\t" + " ".join(str(e).split()), flush=True)
        sys.exit(1)


main()
