# Measures how render cost is spread over a scene's columns, for bnr-bench-scheduler's
# "measured" cost map. Runs inside Blender (3.4):
#
#   blender -b --factory-startup -t 1 SCENE.blend --python bench/sim/measure_cost_map.py -- \
#       --strips 32 --passes 6 --out bench/sim/demo_cost_map.txt
#
# One Blender process with persistent data renders the frame as `--strips` equal full-height
# column strips (border render, cropped, nothing written to disk), `--passes` times in
# alternating order (forward, backward, ...). The first render builds the scene (BVH, shaders)
# and is thrown away; after it each border render costs only its pixels. Each strip is timed
# in process CPU seconds (all render threads together), which another busy process on the
# machine disturbs much less than wall time; a 1-column render, timed the same way, estimates
# the fixed cost of a render call and is subtracted. Writes one number per strip, left to
# right: the median over passes, in CPU seconds.
import argparse
import statistics
import sys
import time

import bpy


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="measure_cost_map.py")
    p.add_argument("--strips", type=int, default=32)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def render_columns(scene, x0, x1):
    """Renders columns [x0, x1) at full height; returns (cpu seconds, wall seconds)."""
    r = scene.render
    width = r.resolution_x * r.resolution_percentage // 100
    # Blender truncates a float32 fraction: aim at the middle of the edge pixel.
    r.border_min_x = (x0 + 0.5) / width if x0 > 0 else 0.0
    r.border_max_x = (x1 + 0.5) / width if x1 < width else 1.0
    r.border_min_y, r.border_max_y = 0.0, 1.0
    cpu, wall = time.process_time(), time.perf_counter()
    bpy.ops.render.render()
    return time.process_time() - cpu, time.perf_counter() - wall


def main():
    args = parse_args()
    scene = bpy.context.scene
    r = scene.render
    r.use_persistent_data = True
    r.use_border = True
    r.use_crop_to_border = True
    width = r.resolution_x * r.resolution_percentage // 100
    edges = [round(i * width / args.strips) for i in range(args.strips + 1)]

    render_columns(scene, edges[0], edges[1])  # warm-up: builds the scene once
    fixed = min(render_columns(scene, width // 2, width // 2 + 1)[0] for _ in range(3))
    times = [[] for _ in range(args.strips)]
    walls = [[] for _ in range(args.strips)]
    for p in range(args.passes):
        order = range(args.strips) if p % 2 == 0 else reversed(range(args.strips))
        for i in order:
            cpu, wall = render_columns(scene, edges[i], edges[i + 1])
            times[i].append(cpu)
            walls[i].append(wall)
    net = [max(statistics.median(t) - fixed, 0.0) for t in times]
    with open(args.out, "w") as f:
        f.write(f"# {width}x{r.resolution_y * r.resolution_percentage // 100}, {args.strips} strips, "
                f"{scene.cycles.samples} samples, {args.passes} passes; fixed cost per render "
                f"{fixed:.4f} CPU s subtracted\n")
        f.write(f"# total {sum(net):.2f} CPU s; wall s per strip (median): "
                + " ".join(f"{statistics.median(w):.3f}" for w in walls) + "\n")
        for v in net:
            f.write(f"{v:.4f}\n")
    print(f"measure_cost_map: wrote {args.out}: total {sum(net):.2f} CPU s, fixed {fixed:.4f} s",
          file=sys.stderr)


try:
    main()
except Exception as e:  # noqa: BLE001 -- one line and a non-zero exit for the caller
    print(f"measure_cost_map: {e}", file=sys.stderr)
    sys.exit(1)
