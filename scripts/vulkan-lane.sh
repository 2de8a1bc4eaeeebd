#!/usr/bin/env bash
# vulkan-lane.sh — sets up the "coopmat lane": a newer Vulkan stack, unpacked
# (never installed) into a cache directory outside the repository, that runs
# next to the system's Debian 12 one.
#
# Why: Debian 12's Mesa 22.3 lavapipe has no VK_KHR_cooperative_matrix, its
# glslc (glslang 11) cannot compile GL_KHR_cooperative_matrix, and its
# spirv-val rejects the SPIR-V. Debian 13 (trixie) has glslc/glslang 15 and
# spirv-tools that handle it, and trixie-backports has Mesa 26, whose lavapipe
# advertises VK_KHR_cooperative_matrix (8×8×8 fp16 shapes, lowered to scalar
# code: a correctness vehicle, not a fast path). Those binaries need trixie's
# glibc, so every lane program runs under trixie's own dynamic loader:
#   $ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path LIBS PROGRAM
#
# What it does (idempotent; a second run with the lane in place takes well
# under a second):
#   1. a throwaway apt configuration under $LANE/apt with trixie and
#      trixie-backports (the host's own apt state is not touched);
#   2. picks versions at run time (apt-cache madison: the newest Mesa in
#      trixie-backports, which must be ≥ 26; never a pinned version, since old
#      versions vanish from the archive) and downloads, with their dependency
#      closure: mesa-vulkan-drivers (lavapipe), libvulkan1 (loader),
#      vulkan-validationlayers, glslc, spirv-tools;
#   3. unpacks them with dpkg -x into $LANE/root, writes an ICD json with an
#      absolute library_path, and wrapper scripts:
#        $LANE/bin/run        runs a program on the lane (Vulkan loader, lavapipe
#                             26 as the only driver, the trixie validation layer);
#                             used as `go test -exec "$LANE/bin/run"`
#        $LANE/bin/glslc      trixie's glslc
#        $LANE/bin/spirv-val  trixie's spirv-val
#      and $LANE/env.sh (the same as variables, for sourcing) and
#      $LANE/versions.txt;
#   4. checks with vulkaninfo that lavapipe on the lane reports
#      VK_KHR_cooperative_matrix.
#
# $LANE is $VKDEIT_LANE_DIR, default ${XDG_CACHE_HOME:-~/.cache}/vkdeit/lane.
# Needs: apt-get, dpkg, network access to the Debian archive (first run only);
# about 90 MB downloaded, 550 MB unpacked, 20-60 s on 2 cores.
#
# Usage: scripts/vulkan-lane.sh [--check] [--force]
#   --check  only report whether the lane is ready (exit 0) or not (exit 1)
#   --force  rebuild it from scratch
# Prints the lane directory on success. Exit status 0 ready; 1 cannot be set
# up (the reason on stderr); 2 usage.
set -euo pipefail

LANE=${VKDEIT_LANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vkdeit/lane}
CHECK=0
FORCE=0
for a in "$@"; do
	case $a in
	--check) CHECK=1 ;;
	--force) FORCE=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "vulkan-lane: unknown argument $a" >&2; exit 2 ;;
	esac
done

ready() { [ -f "$LANE/ready" ] && [ -x "$LANE/bin/run" ] && [ -x "$LANE/bin/glslc" ] && [ -x "$LANE/bin/spirv-val" ]; }

if [ $CHECK = 1 ]; then
	ready && { echo "$LANE"; exit 0; }
	echo "vulkan-lane: not set up in $LANE (run scripts/vulkan-lane.sh)" >&2
	exit 1
fi
if [ $FORCE = 0 ] && ready; then
	echo "$LANE"
	exit 0
fi

fail() {
	echo "vulkan-lane: $*" >&2
	exit 1
}
for t in apt-get apt-cache dpkg dpkg-deb; do
	command -v $t >/dev/null || fail "$t not found (the lane needs a Debian-like host)"
done
[ "$(dpkg --print-architecture)" = amd64 ] || fail "only amd64 hosts are supported (this is $(dpkg --print-architecture))"

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f $KEYRING ] || fail "$KEYRING missing (apt-get install debian-archive-keyring)"
MIRROR=${VKDEIT_LANE_MIRROR:-http://deb.debian.org/debian}

rm -rf "$LANE/root" "$LANE/bin" "$LANE/ready" "$LANE/apt/archives"
mkdir -p "$LANE/apt/lists/partial" "$LANE/apt/archives/partial" "$LANE/apt/cache" "$LANE/root" "$LANE/bin"
: >"$LANE/apt/status"
cat >"$LANE/apt/sources.list" <<EOF
deb [signed-by=$KEYRING] $MIRROR trixie main
deb [signed-by=$KEYRING] $MIRROR trixie-backports main
EOF
cat >"$LANE/apt/apt.conf" <<EOF
Dir::Etc::SourceList "$LANE/apt/sources.list";
Dir::Etc::SourceParts "$LANE/apt/none";
Dir::Etc::Preferences "$LANE/apt/none";
Dir::Etc::PreferencesParts "$LANE/apt/none";
Dir::State "$LANE/apt";
Dir::State::Lists "$LANE/apt/lists";
Dir::State::status "$LANE/apt/status";
Dir::Cache "$LANE/apt/cache";
Dir::Cache::Archives "$LANE/apt/archives";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Default-Release "trixie";
APT::Install-Recommends "false";
APT::Get::AllowUnauthenticated "false";
Debug::NoLocking "true";
EOF
export APT_CONFIG=$LANE/apt/apt.conf
t0=$(date +%s)
apt-get -q -o Acquire::Languages=none update >"$LANE/apt/update.log" 2>&1 ||
	fail "apt-get update against $MIRROR trixie failed: $(tail -3 "$LANE/apt/update.log" | tr '\n' ' ')"

# The newest Mesa of trixie-backports; it must be 26 or later (the first
# lavapipe with VK_KHR_cooperative_matrix).
MESA=$(apt-cache madison mesa-vulkan-drivers | awk -F'|' '$3 ~ /trixie-backports/ {gsub(/ /, "", $2); print $2; exit}')
[ -n "$MESA" ] || fail "no mesa-vulkan-drivers in trixie-backports (apt-cache madison found: $(apt-cache madison mesa-vulkan-drivers | tr '\n' ';'))"
major=${MESA%%.*}
major=${major##*:}
[ "$major" -ge 26 ] 2>/dev/null || fail "trixie-backports has Mesa $MESA; the lane needs Mesa ≥ 26 (lavapipe's VK_KHR_cooperative_matrix)"

# Download the packages with their dependency closure (the empty status file
# makes apt treat nothing as installed), then unpack each one.
apt-get -q -y --download-only install "mesa-vulkan-drivers=$MESA" libvulkan1 vulkan-validationlayers vulkan-tools glslc spirv-tools \
	>"$LANE/apt/download.log" 2>&1 ||
	fail "downloading the lane packages failed: $(grep -E '^(E:|W:| )' "$LANE/apt/download.log" | tail -6 | tr '\n' ' ')"
n=0
for deb in "$LANE"/apt/archives/*.deb; do
	dpkg -x "$deb" "$LANE/root" || fail "dpkg -x $deb failed"
	n=$((n + 1))
done
LIB=$LANE/root/usr/lib/x86_64-linux-gnu
LD=$LIB/ld-linux-x86-64.so.2
[ -x "$LD" ] || LD=$LANE/root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
[ -x "$LD" ] || fail "no ld-linux-x86-64.so.2 among the unpacked packages"
LVP=$LIB/libvulkan_lvp.so
[ -f "$LVP" ] || fail "mesa-vulkan-drivers $MESA has no libvulkan_lvp.so"
LIBS=$LIB:$LANE/root/lib/x86_64-linux-gnu
api=$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$LANE"/root/usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -1)
cat >"$LANE/lvp_icd.json" <<EOF
{
    "ICD": {
        "api_version": "${api:-1.4.0}",
        "library_path": "$LVP"
    },
    "file_format_version": "1.0.0"
}
EOF
LAYERS=$LANE/root/usr/share/vulkan/explicit_layer.d
[ -f "$LAYERS/VkLayer_khronos_validation.json" ] || fail "vulkan-validationlayers unpacked no VkLayer_khronos_validation.json"

cat >"$LANE/env.sh" <<EOF
# Written by scripts/vulkan-lane.sh: the coopmat lane's programs and Vulkan environment.
VKDEIT_LANE_DIR='$LANE'
VKDEIT_LANE_LD='$LD'
VKDEIT_LANE_LIBS='$LIBS'
VKDEIT_LANE_ICD='$LANE/lvp_icd.json'
VKDEIT_LANE_LAYERS='$LAYERS'
EOF
cat >"$LANE/bin/run" <<EOF
#!/bin/sh
# Runs a program on the coopmat lane (scripts/vulkan-lane.sh): trixie's
# dynamic loader and libraries, lavapipe $MESA as the only Vulkan driver,
# trixie's validation layer.
export VK_DRIVER_FILES='$LANE/lvp_icd.json' VK_ICD_FILENAMES='$LANE/lvp_icd.json' VK_LAYER_PATH='$LAYERS'
unset VK_ADD_DRIVER_FILES VK_ADD_LAYER_PATH
exec '$LD' --library-path '$LIBS' "\$@"
EOF
for tool in glslc spirv-val; do
	[ -x "$LANE/root/usr/bin/$tool" ] || fail "no $tool among the unpacked packages"
	printf '#!/bin/sh\n# trixie'"'"'s %s, through the lane'"'"'s dynamic loader (scripts/vulkan-lane.sh).\nexec '"'%s'"' --library-path '"'%s'"' '"'%s'"' "$@"\n' \
		"$tool" "$LD" "$LIBS" "$LANE/root/usr/bin/$tool" >"$LANE/bin/$tool"
done
chmod +x "$LANE/bin/run" "$LANE/bin/glslc" "$LANE/bin/spirv-val"

{
	echo "mesa-vulkan-drivers $MESA"
	for p in libvulkan1 vulkan-validationlayers glslc spirv-tools libc6; do
		f=$(ls "$LANE"/apt/archives/${p}_*.deb 2>/dev/null | head -1)
		[ -n "$f" ] && echo "$p $(dpkg-deb -f "$f" Version)"
	done
	echo "glslc: $("$LANE/bin/glslc" --version 2>&1 | head -2 | tr '\n' ' ')"
} >"$LANE/versions.txt"
"$LANE/bin/glslc" --version >/dev/null 2>&1 || fail "the lane's glslc does not run: $("$LANE/bin/glslc" --version 2>&1 | head -3)"

# lavapipe on the lane must see VK_KHR_cooperative_matrix (lavapipe exposes
# it only on hosts with 256-bit vectors).
"$LANE/bin/run" "$LANE/root/usr/bin/vulkaninfo" >"$LANE/vulkaninfo.txt" 2>&1 ||
	fail "vulkaninfo fails on the lane: $(tail -3 "$LANE/vulkaninfo.txt" | tr '\n' ' ')"
grep -q VK_KHR_cooperative_matrix "$LANE/vulkaninfo.txt" ||
	fail "lavapipe $MESA on this host reports no VK_KHR_cooperative_matrix (it needs 256-bit vectors, AVX2); see $LANE/vulkaninfo.txt"
rm -rf "$LANE/apt/archives"/*.deb
date -u +%FT%TZ >"$LANE/ready"
echo "vulkan-lane: $n packages, Mesa $MESA, $(du -sh "$LANE" | cut -f1) in $LANE, $(($(date +%s) - t0)) s" >&2
echo "$LANE"
