#!/bin/sh
# Regenerates deit/imagenet1k_labels.txt: the 1000 ImageNet-1k class names
# in class-index order, one per line, spelled as Hugging Face's
# imagenet-1k id2label (what facebook/deit-* config.json files carry).
# Source: the IMAGENET_CLASSES table of the npm package
# @tensorflow-models/mobilenet (Apache-2.0), which holds the same strings.
# Needs npm and node; run from anywhere.
set -eu
out="$(cd "$(dirname "$0")/.." && pwd)/deit/imagenet1k_labels.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent @tensorflow-models/mobilenet@2.1.1 >/dev/null
tar xzf tensorflow-models-mobilenet-2.1.1.tgz
node -e '
const {IMAGENET_CLASSES: m} = require("./package/dist/imagenet_classes.js");
const out = [];
for (let i = 0; i < 1000; i++) out.push(m[i]);
process.stdout.write(out.join("\n") + "\n");
' >"$out"
echo "wrote $out"
