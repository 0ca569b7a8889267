#!/usr/bin/env bash
# Installs what bnr needs from Debian's packages (only what is missing) and builds it in build/.
# Run as root or with sudo available. Usage: tools/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake make pkg-config blender cppzmq-dev libzmq3-dev libmsgpack-cxx-dev libopenexr-dev
          libpng-dev libsodium-dev libavahi-compat-libdnssd-dev avahi-daemon dbus libgtest-dev libbenchmark-dev
          clang libclang-rt-14-dev chromium python3 xvfb)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bnr setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
