#!/usr/bin/env bash
# `cpack -G DEB` builds a .deb whose Depends name Blender and every package that provides a
# library the programs link, holding the programs, the unit, the add-on and the maintainer
# scripts that create the service's user. Usage: check_deb.sh BUILD_DIR
set -euo pipefail
build=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
(cd "$build" && cpack -G DEB -B "$out" >/dev/null) || fail "cpack -G DEB failed"
deb=$(ls "$out"/*.deb)
[ -f "$deb" ] || fail "no .deb built"

depends=$(dpkg-deb -f "$deb" Depends)
has_dep() { tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ *(.*//' | grep -qx "$1"; }
has_dep blender || fail "Depends lacks blender: $depends"
# Each shared library the programs need comes from a package that is in Depends.
for exe in bnr-broker bnr-agent; do
  for lib in $(readelf -d "$build/bin/$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !p { print $NF; p = 1 }')
    [ -n "$path" ] || fail "$exe needs $lib, which ldconfig does not know"
    real=$(readlink -f "$path")
    pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null || true)
    pkg=${pkg%%:*}
    [ -n "$pkg" ] || fail "no package owns $path ($lib, needed by $exe)"
    has_dep "$pkg" || fail "$exe needs $lib from $pkg, which Depends lacks: $depends"
  done
done
for pkg in libzmq5 libsodium23 libpng16-16 libavahi-compat-libdnssd1; do
  has_dep "$pkg" || fail "Depends lacks $pkg: $depends"
done
has_dep "$(dpkg -S "$(readlink -f "$(ldconfig -p | awk '/libOpenEXR-3/ && /x86-64/ && !p { print $NF; p = 1 }')")" | cut -d: -f1)" ||
  fail "Depends lacks the OpenEXR runtime package: $depends"

contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/bnr-broker ./usr/bin/bnr-agent ./usr/lib/systemd/system/bnr-agent.service ./usr/share/bnr/bnr_farm.zip; do
  grep -q " $f\$" <<<"$contents" || fail "the .deb lacks $f"
done
control=$(mktemp -d "$out/control.XXXX")
dpkg-deb -e "$deb" "$control"
[ -x "$control/postinst" ] || fail "no postinst"
grep -q "adduser --system --group .*bnr" "$control/postinst" || fail "postinst does not create the bnr user"
sh -n "$control/postinst" && sh -n "$control/prerm" && sh -n "$control/postrm" || fail "a maintainer script does not parse"
dpkg-deb -x "$deb" "$out/root"
grep -qx "ExecStart=/usr/bin/bnr-agent \$BNR_AGENT_ARGS" "$out/root/usr/lib/systemd/system/bnr-agent.service" ||
  fail "the packaged unit does not run /usr/bin/bnr-agent"
echo "$(basename "$deb"): Depends: $depends"
