#!/bin/sh
# Compiles every shaders/*.comp into the committed shaders/*.spv (used by
# `make shaders`). shaders/embed.go embeds the .spv files, so `go build` needs no glslc.
# shaders_test.go checks that this command reproduces the committed bytes.
set -eu
cd "$(dirname "$0")"
for src in *.comp; do
	glslc --target-env=vulkan1.1 -O -I . -o "${src%.comp}.spv" "$src"
	spirv-val --target-env vulkan1.1 "${src%.comp}.spv"
done
