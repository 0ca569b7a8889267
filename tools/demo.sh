#!/usr/bin/env bash
# Installs and builds bnr, generates the bundled demo scene (glass spheres on a checkerboard)
# and renders it with bnr-broker alone, which starts a local agent: demo.png in this folder.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/tools/setup.sh"
mkdir -p "$here/build/demo"
blender -b --factory-startup --python-exit-code 2 --python "$here/tools/scenes/make_scene.py" -- \
  --demo --size 960x540 --samples 64 --out "$here/build/demo/demo.blend" >/dev/null
"$here/build/bin/bnr-broker" "$here/build/demo/demo.blend" -o "$here/demo.png" "$@"
