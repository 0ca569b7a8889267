# agent/scene_analysis.py on fake scenes shaped like Blender 3.4's, 4.5's and 5.0's Python API
# (fake_blender.py): the same logical compositor graph gets the same answer in every version.
#   python3 -m unittest discover -s tests/python      (ctest runs it: tests/CMakeLists.txt)
import ast
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "agent"))
sys.path.insert(0, HERE)

import scene_analysis as sa  # noqa: E402
from fake_blender import ALL_APIS, Api34, Api45, Api50, Link  # noqa: E402


def reach(scene):
    unsplittable = []
    return sa.compositor_reach(scene, unsplittable), unsplittable


class CompositorReach(unittest.TestCase):
    def each_api(self, build, **scene_args):
        """build(api) wires a graph; returns {api name: (reach, unsplittable)}."""
        out = {}
        for api_type in ALL_APIS:
            api = api_type()
            build(api)
            out[api_type.__name__] = reach(api.scene(**scene_args))
        return out

    def assert_same_everywhere(self, answers, expected_reach, unsplittable_words=()):
        for api, (margin, unsplittable) in answers.items():
            with self.subTest(api=api):
                self.assertEqual(margin, expected_reach)
                if unsplittable_words:
                    self.assertEqual(len(unsplittable), 1, unsplittable)
                    for word in unsplittable_words:
                        self.assertIn(word, unsplittable[0])
                else:
                    self.assertEqual(unsplittable, [])

    def test_a_blur_then_math_reaches_the_blur_size(self):
        def build(api):
            rl, blur, math, out = api.render_layers(), api.blur(3), api.math(), api.output()
            api.link(rl, blur)
            api.link(blur, math, "Value")
            api.link(math, out)
        self.assert_same_everywhere(self.each_api(build), 3)

    def test_fast_gaussian_blur_reaches_seven_times_its_size(self):
        def build(api):
            rl, blur, out = api.render_layers(), api.blur(3, "FAST_GAUSS"), api.output()
            api.link(rl, blur)
            api.link(blur, out)
        self.assert_same_everywhere(self.each_api(build), 21)

    def test_blurs_in_series_add_and_branches_take_the_longest(self):
        def build(api):
            rl, a, b, c = api.render_layers(), api.blur(3, name="A"), api.blur(2, name="B"), api.blur(4, name="C")
            mix, out = api.mix(), api.output()
            api.link(rl, a)
            api.link(a, b)           # 3 + 2
            api.link(rl, c)          # 4
            api.link(b, mix, "A")
            api.link(c, mix, "B")
            api.link(mix, out)
        self.assert_same_everywhere(self.each_api(build), 5)

    def test_only_what_feeds_the_output_counts(self):
        def build(api):
            rl, blur, viewer, out = api.render_layers(), api.blur(9), api.viewer(), api.output()
            api.link(rl, blur)
            api.link(blur, viewer)   # a viewer branch does not shape the image
            api.link(rl, out)
        self.assert_same_everywhere(self.each_api(build), 0)

    def test_muted_nodes_and_links_read_nothing(self):
        def build(api):
            rl, blur, glare, out = api.render_layers(), api.blur(6), api.glare(), api.output()
            blur.mute = True
            api.link(rl, blur)
            api.link(blur, glare)
            api.link(glare, out, muted=True)
            api.link(blur, out)
        self.assert_same_everywhere(self.each_api(build), 0)

    def test_glare_reads_the_whole_frame(self):
        def build(api):
            rl, glare, out = api.render_layers(), api.glare(), api.output()
            api.link(rl, glare)
            api.link(glare, out)
        self.assert_same_everywhere(self.each_api(build), 0, ["Glare", "'Glare'"])

    def test_extended_bounds_change_the_image_size(self):
        def build(api):
            rl, blur, out = api.render_layers(), api.blur(2, extend=True), api.output()
            api.link(rl, blur)
            api.link(blur, out)
        self.assert_same_everywhere(self.each_api(build), 0, ["extended bounds"])

    def test_dilate_erode_reaches_its_distance_and_falloff(self):
        def build(api):
            rl, dilate, out = api.render_layers(), api.dilate(-3, 1.5), api.output()
            api.link(rl, dilate, "Mask")
            api.link(dilate, out)
        self.assert_same_everywhere(self.each_api(build), 5)

    def test_z_combine_is_pixel_local_without_anti_aliasing(self):
        for antialias, words in ((False, ()), (True, ["Z Combine anti-aliasing"])):
            def build(api):
                rl, z, out = api.render_layers(), api.zcombine(antialias), api.output()
                api.link(rl, z)
                api.link(z, out)
            self.assert_same_everywhere(self.each_api(build), 0, words)

    def test_a_node_group_counts_what_its_active_output_reads(self):
        def build(api):
            inner = api.group_tree("Soft")
            blur, spare = api.blur(4, tree=inner), api.blur(20, name="Spare", tree=inner)
            api.link(inner.input, blur)
            api.link(inner.input, spare)
            api.link(blur, api.group_output(inner, active=True))
            inactive = api.group_output(inner, active=False)
            inactive.name = "Group Output.001"
            api.link(spare, inactive)
            rl, group, out = api.render_layers(), api.group(inner), api.output()
            api.link(rl, group)
            api.link(group, out)
        self.assert_same_everywhere(self.each_api(build), 4)

    def test_an_unknown_node_is_refused_not_guessed(self):
        def build(api):
            rl, out = api.render_layers(), api.output()
            lens = api.add(api_node("CompositorNodeLensdist", "Lens Distortion"))
            api.link(rl, lens)
            api.link(lens, out)
        self.assert_same_everywhere(self.each_api(build), 0, ["Lensdist", "'Lens Distortion'"])

    def test_no_compositing_reads_nothing(self):
        def build(api):
            rl, glare, out = api.render_layers(), api.glare(), api.output()
            api.link(rl, glare)
            api.link(glare, out)
        self.assert_same_everywhere(self.each_api(build, compositing=False), 0)

    def test_compositing_switched_off_in_render_settings_reads_nothing(self):
        for api_type in ALL_APIS:
            api = api_type()
            rl, glare, out = api.render_layers(), api.glare(), api.output()
            api.link(rl, glare)
            api.link(glare, out)
            scene = api.scene()
            scene.render.use_compositing = False
            with self.subTest(api=api_type.__name__):
                self.assertEqual(reach(scene), (0, []))


class VersionSpecificSettings(unittest.TestCase):
    def test_34_blur_size_socket_is_a_factor_bounded_by_size_x(self):
        api = Api34()
        rl, mask, blur, out = api.render_layers(), api.math("Mask"), api.blur(5), api.output()
        api.link(rl, blur)
        api.link(mask, blur, "Size")  # variable size: at most size_x
        api.link(blur, out)
        self.assertEqual(reach(api.scene()), (5, []))

    def test_34_relative_blur_is_refused(self):
        api = Api34()
        rl, blur, out = api.render_layers(), api.blur(5), api.output()
        blur.use_relative = True
        api.link(rl, blur)
        api.link(blur, out)
        margin, unsplittable = reach(api.scene())
        self.assertEqual(margin, 0)
        self.assertIn("relative size", unsplittable[0])

    def test_45_and_50_blur_size_fed_by_a_link_has_no_bound(self):
        for api_type in (Api45, Api50):
            api = api_type()
            rl, size, blur, out = api.render_layers(), api.math("Size"), api.blur(5), api.output()
            api.link(rl, blur)
            api.link(size, blur, "Size")
            api.link(blur, out)
            margin, unsplittable = reach(api.scene())
            with self.subTest(api=api_type.__name__):
                self.assertEqual(margin, 0)
                self.assertEqual(len(unsplittable), 1)
                self.assertIn("fed by a link", unsplittable[0])

    def test_45_deprecated_blur_properties_are_not_read(self):
        api = Api45()
        rl, blur, out = api.render_layers(), api.blur(3), api.output()
        blur.size_x = blur.size_y = 50  # 4.5 ignores them; its Size socket says 3
        blur.use_relative = True
        api.link(rl, blur)
        api.link(blur, out)
        self.assertEqual(reach(api.scene()), (3, []))

    def test_50_blur_type_fed_by_a_link_is_taken_as_the_widest(self):
        api = Api50()
        rl, menu, blur, out = api.render_layers(), api.math("Menu"), api.blur(2), api.output()
        api.link(rl, blur)
        api.link(menu, blur, "Type")
        api.link(blur, out)
        self.assertEqual(reach(api.scene()), (14, []))

    def test_50_shared_math_and_mix_are_pixel_local(self):
        api = Api50()
        self.assertEqual((api.math().bl_idname, api.mix().bl_idname), ("ShaderNodeMath", "ShaderNodeMix"))
        for kind in ("ShaderNodeMath", "ShaderNodeMix", "ShaderNodeMapRange", "ShaderNodeClamp"):
            with self.subTest(kind=kind):
                self.assertEqual(sa.own_reach(api_node(kind, kind), None, [], ""), 0)

    def test_50_without_a_compositing_node_group_reads_nothing(self):
        api = Api50()
        scene = api.scene()
        scene.compositing_node_group = None
        self.assertEqual(reach(scene), (0, []))
        self.assertFalse(hasattr(scene, "node_tree"))


class SceneShims(unittest.TestCase):
    def test_sequencer_strips_under_either_name(self):
        for api_type in ALL_APIS:
            with self.subTest(api=api_type.__name__):
                self.assertEqual(len(sa.sequencer_strips(api_type().scene(strips=["a strip"]))), 1)
                self.assertEqual(len(sa.sequencer_strips(api_type().scene(strips=[]))), 0)
                self.assertEqual(len(sa.sequencer_strips(api_type().scene())), 0)

    def test_file_format_is_set_through_the_media_type_where_there_is_one(self):
        for api_type in ALL_APIS:
            imf = api_type().image_settings()
            with self.subTest(api=api_type.__name__):
                for fmt in ("OPEN_EXR_MULTILAYER", "PNG", "OPEN_EXR", "PNG"):
                    sa.set_file_format(imf, fmt)
                    self.assertEqual(imf.file_format, fmt)
        imf = Api50().image_settings()
        sa.set_file_format(imf, "OPEN_EXR_MULTILAYER")
        self.assertEqual(imf.media_type, "MULTI_LAYER_IMAGE")
        with self.assertRaises(TypeError):
            imf.file_format = "PNG"  # what a script without the shim meets in 5.0

    def test_blender_version_is_major_minor_patch(self):
        class App:
            version = (4, 2, 3)
            version_string = "4.2.3 LTS"
        self.assertEqual(sa.blender_version(App()), "4.2.3")


class Analyse(unittest.TestCase):
    def scene(self, api_type, **kwargs):
        api = api_type()
        rl, blur, math, out = api.render_layers(), api.blur(3), api.math(), api.output()
        api.link(rl, blur)
        api.link(blur, math, "Value")
        api.link(math, out)
        return api.scene(**kwargs)

    def test_the_ready_fields_agree_across_versions(self):
        answers = {t.__name__: dict(sa.analyse(self.scene(t), False, "x.y.z")) for t in ALL_APIS}
        for name, fields in answers.items():
            with self.subTest(api=name):
                self.assertEqual(fields, answers["Api34"])
        self.assertEqual(answers["Api34"]["margin"], 3)
        self.assertEqual((answers["Api34"]["width"], answers["Api34"]["height"]), (64, 48))

    def test_sequencer_strips_are_unsplittable_in_every_version(self):
        for api_type in ALL_APIS:
            fields = dict(sa.analyse(self.scene(api_type, strips=["a strip"]), False, "x"))
            with self.subTest(api=api_type.__name__):
                self.assertIn("sequencer", fields["unsplittable"])

    def test_whole_frame_nodes_and_file_outputs_go_to_the_broker_in_every_version(self):
        for api_type in ALL_APIS:
            api = api_type()
            rl, glare, out = api.render_layers(), api.glare(), api.output()
            files = api.add(api_node("CompositorNodeOutputFile", "File Output"))
            api.link(rl, glare)
            api.link(glare, out)
            api.link(rl, files)
            fields = dict(sa.analyse(api.scene(), False, "x"))
            with self.subTest(api=api_type.__name__):
                self.assertEqual(fields["unsplittable"], "")
                self.assertIn("Glare (compositor node 'Glare')", fields["post"])
                self.assertIn("(compositor node 'File Output') writes files of its own", fields["post"])
                self.assertEqual(dict(sa.analyse(api_type().scene(), False, "x"))["post"], "")

    def test_no_denoise_turns_denoising_off(self):
        for api_type in ALL_APIS:
            scene = self.scene(api_type, denoise=True)
            with self.subTest(api=api_type.__name__):
                self.assertTrue(sa.scene_denoises(scene))
                self.assertEqual(dict(sa.analyse(scene, False, "x"))["denoise"], 1)
                self.assertEqual(dict(sa.analyse(scene, True, "x"))["denoise"], 0)
                self.assertFalse(sa.scene_denoises(scene))

    def test_a_scene_without_a_camera_is_an_error(self):
        scene = self.scene(Api50)
        scene.camera = None
        with self.assertRaises(sa.WorkerError):
            sa.analyse(scene, False, "x")


class ScriptsImportWhatExists(unittest.TestCase):
    def test_every_name_the_scripts_take_from_scene_analysis_is_there(self):
        for script in ("agent/blender_worker.py", "broker/scene_files.py"):
            with open(os.path.join(ROOT, script), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            names = [a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and node.module == "scene_analysis" for a in node.names]
            with self.subTest(script=script):
                self.assertTrue(names)
                for name in names:
                    self.assertTrue(hasattr(sa, name), name)


def api_node(kind, name):
    from fake_blender import Node, image_socket
    return Node(kind, name, inputs=[image_socket()])


if __name__ == "__main__":
    unittest.main()
