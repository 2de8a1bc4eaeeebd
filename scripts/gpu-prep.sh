#!/usr/bin/env bash
# gpu-prep.sh — run HERE (where Go is) before carrying the tree to a lent GPU
# machine that has no Go toolchain. Builds into .gpubin/ (git-ignored):
#   .gpubin/vkdeit      the CLI
#   .gpubin/gpu.test    gpu package tests (kernel parity: Ops, Matmul, Attention)
#   .gpubin/engine.test engine package tests (GPU engine parity and precision benchmarks)
# Then carry .gpubin and .gl (the Vulkan loader .debs) and run
# scripts/gpu-check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
command -v go >/dev/null || { echo "gpu-prep.sh: go is not installed here" >&2; exit 1; }
[ "$(go env GOARCH)" = amd64 ] || echo "gpu-prep.sh: warning: building for $(go env GOARCH); the lent machines are x86-64" >&2
mkdir -p .gpubin
export CGO_ENABLED=1
git rev-parse --short HEAD >.gpubin/COMMIT 2>/dev/null || echo unknown >.gpubin/COMMIT
git diff --quiet HEAD 2>/dev/null || sed -i 's/$/+dirty/' .gpubin/COMMIT
go build -buildvcs=auto -trimpath -ldflags="-s -w" -o .gpubin/vkdeit ./cmd/vkdeit
go test -c -ldflags="-s -w" -o .gpubin/gpu.test ./gpu/
go test -c -ldflags="-s -w" -o .gpubin/engine.test ./engine/
# The binaries link glibc dynamically; the lent machine must have at least the
# newest symbol version they use.
need=$(for f in .gpubin/*; do objdump -T "$f" 2>/dev/null; done | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "gpu-prep.sh: built $(ls .gpubin | tr '\n' ' ')(needs ${need:-unknown glibc}; this machine: $(ldd --version | head -1 | grep -o '[0-9.]*$'))"
[ -n "$(ls .gl/*.deb 2>/dev/null)" ] || echo "gpu-prep.sh: warning: no .gl/*.deb (Vulkan loader) to carry; see scripts/gpu-check.sh" >&2
echo "gpu-prep.sh: carry: .gpubin .gl   then run: bash scripts/gpu-check.sh"
