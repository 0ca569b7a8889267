# Small fake scenes and compositor node graphs shaped like Blender's Python API in each
# version bnr supports, for agent/scene_analysis.py (which reads them through the same
# attribute names as it reads bpy's). One builder per API shape; each builds the same
# logical graph in its version's way, so tests can ask that the answers agree.
#   Api34: scene.use_nodes + scene.node_tree, a Composite node, settings as properties
#          (Blur size_x/size_y, a "Size" factor socket), CompositorNodeMath/MixRGB,
#          sequence_editor.sequences_all, image_settings.use_zbuffer.
#   Api45: as 4.4/4.5: sequence_editor.strips_all; Blur's size is a 2D "Size" socket in
#          pixels with "Extend Bounds" beside it (size_x/size_y deprecated, left at 0 here).
#   Api50: scene.compositing_node_group (no node_tree, no use_nodes), its output the active
#          Group Output node, settings as input sockets (Blur "Size"/"Type"/"Extend Bounds",
#          Dilate/Erode "Size"/"Falloff Size", "Anti-Alias"), shared ShaderNodeMath/Mix,
#          image_settings.media_type limiting file_format.
from types import SimpleNamespace


class Link:
    def __init__(self, from_node, is_muted=False):
        self.from_node = from_node
        self.is_valid = True
        self.is_muted = is_muted


class Socket:
    def __init__(self, name, type="VALUE", default_value=0.0):
        self.name = name
        self.type = type
        self.default_value = default_value
        self.links = []

    @property
    def is_linked(self):
        return bool(self.links)


class Sockets(list):
    def get(self, name, default=None):
        return next((s for s in self if s.name == name), default)


class Node:
    def __init__(self, bl_idname, name, bl_label=None, inputs=(), **props):
        self.bl_idname = bl_idname
        self.name = name
        self.label = ""
        self.bl_label = bl_label or bl_idname.replace("CompositorNode", "")
        self.mute = False
        self.inputs = Sockets(inputs)
        for key, value in props.items():
            setattr(self, key, value)


class Tree:
    def __init__(self, name):
        self.name = name
        self.nodes = []


def image_socket(name="Image"):
    return Socket(name, "RGBA", (1.0, 1.0, 1.0, 1.0))


class Api34:
    """Blender 3.4 (and 4.0-4.3 for everything scene_analysis reads)."""
    output_type = "CompositorNodeComposite"
    math_type = "CompositorNodeMath"
    mix_type = "CompositorNodeMixRGB"

    def __init__(self):
        self.tree = Tree("Compositing")
        self.scene_object = SimpleNamespace(name="Scene")

    def add(self, node, tree=None):
        (tree or self.tree).nodes.append(node)
        return node

    @staticmethod
    def link(from_node, to_node, socket_name="Image", muted=False):
        to_node.inputs.get(socket_name).links.append(Link(from_node, muted))

    def render_layers(self, tree=None):
        return self.add(Node("CompositorNodeRLayers", "Render Layers", scene=None), tree)

    def output(self, name="Composite", tree=None):
        return self.add(Node(self.output_type, name, inputs=[image_socket()]), tree)

    def viewer(self, tree=None):
        return self.add(Node("CompositorNodeViewer", "Viewer", inputs=[image_socket()]), tree)

    def math(self, name="Math", tree=None):
        return self.add(Node(self.math_type, name, inputs=[Socket("Value"), Socket("Value_001")]), tree)

    def mix(self, name="Mix", tree=None):
        return self.add(Node(self.mix_type, name, inputs=[Socket("Fac"), image_socket("A"), image_socket("B")]), tree)

    def glare(self, tree=None):
        return self.add(Node("CompositorNodeGlare", "Glare", inputs=[image_socket()], glare_type="FOG_GLOW"), tree)

    def blur(self, size, filter_type="GAUSS", extend=False, name="Blur", tree=None):
        return self.add(Node("CompositorNodeBlur", name, inputs=[image_socket(), Socket("Size", "VALUE", 1.0)],
                             size_x=size, size_y=size, filter_type=filter_type, use_relative=False,
                             use_extended_bounds=extend), tree)

    def dilate(self, distance, edge, tree=None):
        return self.add(Node("CompositorNodeDilateErode", "Dilate/Erode", inputs=[Socket("Mask")],
                             distance=distance, edge=edge), tree)

    def zcombine(self, antialias, tree=None):
        return self.add(Node("CompositorNodeZcombine", "Z Combine",
                             inputs=[image_socket(), Socket("Z"), image_socket("Image_001"), Socket("Z_001")],
                             use_antialias_z=antialias), tree)

    def group(self, inner, tree=None):
        return self.add(Node("CompositorNodeGroup", "Group", inputs=[image_socket()], node_tree=inner), tree)

    def group_tree(self, name):
        inner = Tree(name)
        inner.input = self.add(Node("NodeGroupInput", "Group Input"), inner)
        return inner

    def group_output(self, inner, active=True):
        return self.add(Node("NodeGroupOutput", "Group Output", inputs=[image_socket()], is_active_output=active),
                        inner)

    def image_settings(self):
        return SimpleNamespace(file_format="PNG", color_depth="8", color_mode="RGBA", views_format="INDIVIDUAL",
                               use_zbuffer=False, use_preview=False,
                               stereo_3d_format=SimpleNamespace(display_mode="ANAGLYPH", use_sidebyside_crosseyed=False,
                                                                use_squeezed_frame=False, anaglyph_type="RED_CYAN",
                                                                interlace_type="ROW_INTERLEAVED",
                                                                use_interlace_swap=False))

    def sequence_editor(self, strips):
        return SimpleNamespace(sequences_all=strips)

    def compositor(self, scene, use):
        scene.use_nodes = use
        scene.node_tree = self.tree

    def scene(self, compositing=True, denoise=False, strips=None):
        render = SimpleNamespace(
            engine="CYCLES", use_compositing=compositing, use_multiview=False, views=[], views_format="STEREO_3D",
            resolution_x=64, resolution_y=48, resolution_percentage=100, use_sequencer=True, use_stamp=False,
            use_freestyle=False, film_transparent=False, use_border=False, image_settings=self.image_settings())
        scene = self.scene_object
        scene.__dict__.update(render=render, camera=object(), frame_current=1, view_layers=[],
                              cycles=SimpleNamespace(use_adaptive_sampling=False, use_denoising=denoise),
                              sequence_editor=self.sequence_editor(strips) if strips is not None else None)
        self.compositor(scene, compositing)
        return scene


class Api45(Api34):
    """Blender 4.4/4.5: strips_all; Blur's size in a 2D socket, its property deprecated."""

    def blur(self, size, filter_type="GAUSS", extend=False, name="Blur", tree=None):
        return self.add(Node("CompositorNodeBlur", name,
                             inputs=[image_socket(), Socket("Size", "VECTOR", (size, size)),
                                     Socket("Extend Bounds", "BOOLEAN", extend), Socket("Separable", "BOOLEAN", True)],
                             size_x=0, size_y=0, filter_type=filter_type, use_relative=False,
                             use_extended_bounds=False), tree)

    def image_settings(self):
        imf = super().image_settings()
        del imf.use_zbuffer
        return imf

    def sequence_editor(self, strips):
        return SimpleNamespace(strips_all=strips)


class MediaTypedImageSettings(SimpleNamespace):
    """5.0's image_settings: file_format accepts only formats of the current media_type."""
    FORMATS = {"IMAGE": {"PNG", "JPEG", "OPEN_EXR", "TIFF"}, "MULTI_LAYER_IMAGE": {"OPEN_EXR_MULTILAYER"},
               "VIDEO": {"FFMPEG"}}

    def __setattr__(self, key, value):
        if key == "file_format" and value not in self.FORMATS[self.media_type]:
            raise TypeError(f'enum "{value}" not found in {sorted(self.FORMATS[self.media_type])}')
        super().__setattr__(key, value)


class Api50(Api45):
    """Blender 5.0: a compositing node group, Group Output, settings as sockets, shared types."""
    output_type = "NodeGroupOutput"
    math_type = "ShaderNodeMath"
    mix_type = "ShaderNodeMix"

    def output(self, name="Group Output", tree=None):
        return self.add(Node("NodeGroupOutput", name, inputs=[image_socket()], is_active_output=True), tree)

    def blur(self, size, filter_type="GAUSS", extend=False, name="Blur", tree=None):
        return self.add(Node("CompositorNodeBlur", name,
                             inputs=[image_socket(), Socket("Size", "VECTOR", (size, size)),
                                     Socket("Type", "MENU", filter_type), Socket("Extend Bounds", "BOOLEAN", extend),
                                     Socket("Separable", "BOOLEAN", True)]), tree)

    def dilate(self, distance, edge, tree=None):
        return self.add(Node("CompositorNodeDilateErode", "Dilate/Erode",
                             inputs=[Socket("Mask"), Socket("Size", "INT", distance), Socket("Type", "MENU", "STEP"),
                                     Socket("Falloff Size", "VALUE", edge)]), tree)

    def zcombine(self, antialias, tree=None):
        return self.add(Node("CompositorNodeZcombine", "Z Combine",
                             inputs=[image_socket(), Socket("Z"), image_socket("Image_001"), Socket("Z_001"),
                                     Socket("Use Alpha", "BOOLEAN", False), Socket("Anti-Alias", "BOOLEAN", antialias)]),
                        tree)

    def glare(self, tree=None):
        return self.add(Node("CompositorNodeGlare", "Glare",
                             inputs=[image_socket(), Socket("Type", "MENU", "FOG_GLOW"), Socket("Threshold", "VALUE", 1)]),
                        tree)

    def image_settings(self):
        imf = super().image_settings()
        values = dict(vars(imf), media_type="IMAGE")
        return MediaTypedImageSettings(**values)

    def compositor(self, scene, use):
        scene.compositing_node_group = self.tree if use else None


ALL_APIS = (Api34, Api45, Api50)
