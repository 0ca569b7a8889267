#!/usr/bin/env bash
# Installs and builds bnr, then runs every test: unit tests, and integration tests that render
# with the real Blender, real agents and broker on loopback.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/tools/setup.sh"
cd "$here/build"
ctest --output-on-failure -j2 --timeout 600 "$@"
