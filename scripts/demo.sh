#!/usr/bin/env bash
# demo.sh — what `make demo` runs: classify samples/grace_hopper.jpg with the
# default model (facebook/deit-small-distilled-patch16-224, downloaded into the
# Hugging Face cache on first use). When the Hub cannot be reached and the
# cache does not hold the model, it says so and shows the main job working
# anyway: it classifies a bundled test image with the bundled trained fixture
# (testdata/trained/model, a small DeiT trained on procedurally drawn shapes),
# naming it as such and how to get the real model.
#
# VKDEIT is the command that runs vkdeit (default bin/vkdeit).
set -uo pipefail
cd "$(dirname "$0")/.."
read -r -a vk <<<"${VKDEIT:-bin/vkdeit}"
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"${vk[@]}" classify samples/grace_hopper.jpg 2> >(tee "$err" >&2)
status=$?
wait # for tee
if [ "$status" -eq 0 ] || ! grep -q "cannot reach the Hub" "$err"; then
	exit "$status"
fi
cat >&2 <<'MSG'

demo: the default model cannot be downloaded here (no network to the Hub) and is not in the
demo: Hugging Face cache, so this demo runs vkdeit's OFFLINE FIXTURE instead: a small DeiT
demo: trained on drawn shapes (testdata/trained), on one of its test images. To run the real
demo: model, use one of the remedies above: a proxy (HTTPS_PROXY), a mirror (HF_ENDPOINT), or
demo: a Hugging Face cache copied from a connected machine (`vkdeit download` fills one) with
demo: HF_HUB_OFFLINE=1; then `make demo` again.

MSG
"${vk[@]}" classify --model testdata/trained/model testdata/trained/test/triangle/triangle_000.png
