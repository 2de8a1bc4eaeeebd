#!/bin/sh
# Compiles every shaders/*.comp into the committed shaders/*.spv, then the
# variants listed in shaders/variants (another source plus flags, e.g. the
# -DFP16 builds), used by `make shaders`. shaders/embed.go embeds the .spv
# files, so `go build` needs no glslc. shaders_test.go checks that this command
# reproduces the committed bytes.
#
# Sources that use GL_KHR_cooperative_matrix need glslang ≥ 13 and a
# spirv-val that knows the extension: they are compiled and validated with
# the coopmat lane's trixie glslc and spirv-val (scripts/vulkan-lane.sh sets
# it up in $VKDEIT_LANE_DIR); the others with the system's glslc. Everything
# targets Vulkan 1.1 (SPIR-V 1.3): vulkan1.3 would emit LocalSizeId, which
# needs maintenance4.
set -eu
cd "$(dirname "$0")"
LANE=${VKDEIT_LANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vkdeit/lane}

# compile OUT SRC [FLAGS...] writes OUT.spv and validates it.
compile() {
	out=$1
	src=$2
	shift 2
	cc=glslc
	val=spirv-val
	if grep -q GL_KHR_cooperative_matrix "$src"; then
		if [ ! -x "$LANE/bin/glslc" ]; then
			echo "build.sh: $src needs the coopmat lane's glslc: run scripts/vulkan-lane.sh" >&2
			exit 1
		fi
		cc=$LANE/bin/glslc
		val=$LANE/bin/spirv-val
	fi
	"$cc" --target-env=vulkan1.1 -O -I . "$@" -o "$out.spv" "$src"
	"$val" --target-env vulkan1.1 "$out.spv"
}

for src in *.comp; do
	compile "${src%.comp}" "$src"
done
grep -v '^#' variants | while read -r out src flags; do
	[ -n "$out" ] || continue
	# $flags is deliberately split into words.
	# shellcheck disable=SC2086
	compile "$out" "$src" $flags
done
