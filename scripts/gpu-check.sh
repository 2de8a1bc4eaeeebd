#!/usr/bin/env bash
# gpu-check.sh — the one-call GPU check (`make gpu-check`).
#
# Run on a machine with a GPU (the lent NVIDIA H100/H200: no Go, no internet,
# no Vulkan loader installed) after scripts/gpu-prep.sh built .gpubin/ here;
# carry .gpubin and .gl (the Vulkan loader .debs). In one run, each step
# time-boxed, a failing step reported and the rest still run:
#   1. sets up the Vulkan loader from .gl/*.deb if libvulkan.so.1 is missing
#      (and points the loader at NVIDIA's ICD if no device shows), prints the
#      devices with their fp16 support and cooperative-matrix property list
#      (M×N×K, A/B/C/result types, scope) and the device vkdeit picks, and
#      stops with a clear message when it is not a GPU;
#   2. `vkdeit tune` first: the kernel autotuner on deit-small's shapes at
#      batch 256, 1, 64, 8 (fp32 and fp16; every candidate parity-checked
#      against the float64 twin, timed with GPU timestamps), time-boxed, into
#      a fresh cache ($XDG_CACHE_HOME under the check's temporary directory)
#      that every later vkdeit step uses; prints the winners table;
#   3. runs the parity suites on the GPU (gpu kernels, fp32, fp16 and
#      cooperative-matrix, the tuner's own tests; the GPU engine at fp32 and
#      fp16, against the float64 reference and the PyTorch fixtures) and
#      `vkdeit verify` on random deit-small weights at fp32 and fp16, batch
#      8 (a tuned batch): the tuned configurations against the float64
#      reference;
#   4. scripts/hf_compare.py: a random DeiTForImageClassificationWithTeacher
#      from transformers, saved as safetensors and .bin, classified by HF and
#      by vkdeit: max relative logit difference and top-5 agreement;
#   5. `vkdeit bench` (fp32; its report names each kernel's configuration and
#      whether it is tuned), the precision benchmarks (deit-small forward at
#      fp32, fp16 and fp16 on cooperative matrices at batch 1/8/64/256;
#      matmul GFLOPS per precision) and scripts/torch_gpu_bench.py (eager
#      fp32, bf16 AMP, torch.compile if it works) at batch 1/8/64/256 on the
#      same card;
#   6. prints the vkdeit-vs-torch tables (every precision, and the fp16 goals:
#      batch 256 >= 1.5x bf16 AMP, batch 1 <= 1 ms, coopmat matmul >= 300
#      TFLOPS) and the step list last.
# Files under $OUT (default out/gpu-check; at most 8): gpu-check.log,
# parity.log, hf_compare.json, vkdeit_bench.json, vkdeit_bench.png,
# torch_gpu.json, torch_compile.json or tiles.log, summary.json.
#
# Usage: scripts/gpu-check.sh [--allow-cpu] [--no-compile] [--no-tiles]
#   --allow-cpu   accept a CPU Vulkan device (lavapipe) and run the whole flow
#                 with tiny sizes, to check the plumbing on a machine without GPU.
#   --no-compile  skip the torch.compile baseline (about 90 s of compiling), for
#                 a quick rerun when its numbers are already recorded.
#   --no-tiles    skip the per-tile kernel benchmarks (about 90 s).
# GPU_CHECK_NO_GO=1 uses the carried .gpubin binaries even where Go exists.
# Exit status: 0 all passed; 1 a parity or benchmark step failed; 3 no GPU or
# no Vulkan (nothing else ran); 2 usage.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 3
ROOT=$PWD
ALLOW_CPU=0
COMPILE=1
TILES=1
for a in "$@"; do
	case $a in
	--allow-cpu) ALLOW_CPU=1 ;;
	--no-compile) COMPILE=0 ;;
	--no-tiles) TILES=0 ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "gpu-check: unknown argument $a (usage: scripts/gpu-check.sh [--allow-cpu] [--no-compile] [--no-tiles])" >&2; exit 2 ;;
	esac
done
OUT=${OUT:-$ROOT/out/gpu-check}
# DEADLINE (s) is what the whole check aims to stay inside (the lent
# machines allow 10 minutes a command): optional steps are skipped past it.
DEADLINE=480
mkdir -p "$OUT" || exit 3
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT
START=$(date +%s)
STEPS=()
FAILED=()

note() { printf '== [%3ds] %s\n' "$(($(date +%s) - START))" "$*"; }

# step NAME KIND LIMIT CMD...: runs CMD under `timeout LIMIT`, records the
# outcome. KIND is parity or bench (a failure fails the check) or optional.
step() {
	local name=$1 kind=$2 limit=$3
	shift 3
	note "$name (limit ${limit}s)"
	local t0 rc status
	t0=$(date +%s)
	timeout --kill-after=10 "$limit" "$@"
	rc=$?
	status=ok
	if [ $rc -ne 0 ]; then
		status="FAILED (exit $rc)"
		[ $rc -eq 124 ] || [ $rc -eq 137 ] && status="TIMED OUT after ${limit}s"
		[ "$kind" = optional ] || FAILED+=("$name")
	fi
	STEPS+=("$(printf '%-30s %-8s %4ds  %s' "$name" "$kind" "$(($(date +%s) - t0))" "$status")")
	return $rc
}

# stop ends the check early (no GPU, no Vulkan): one clear line, exit 3.
stop() {
	echo "gpu-check: $*"
	exit 3
}

# have_loader reports whether the dynamic linker knows libvulkan.so.1. (Not
# `ldconfig -p | grep -q`: with pipefail, grep -q exiting early makes the
# pipeline fail on SIGPIPE.)
have_loader() { ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; }

# run_tiles benchmarks every matmul_tiled and attention_tiled tile (gpu package).
run_tiles() {
	if [ "$HAVE_GO" = 1 ]; then
		go test ./gpu/ -run '^$' -bench 'MatmulTiles|AttentionTiledTiles' -benchtime 20x
	else
		(cd gpu && ../.gpubin/gpu.test -test.run '^$' -test.bench 'MatmulTiles|AttentionTiledTiles' -test.benchtime 20x)
	fi
}

# run_precisions benchmarks the forward at every precision (Forward and
# ForwardStream), the matmul per precision and the matmul_coopmat tilings
# (engine and gpu packages); batches from $PREC_BATCHES.
run_precisions() {
	if [ "$HAVE_GO" = 1 ]; then
		VKDEIT_BENCH_BATCHES=$PREC_BATCHES go test ./engine/ -run '^$' -bench 'GPUPrecision' -benchtime "$PREC_ITERS"x -timeout 10m &&
			go test ./gpu/ -run '^$' -bench 'MatmulPrecision|MatmulCoopMatTiles' -benchtime "$PREC_ITERS"x -timeout 10m
	else
		(cd engine && VKDEIT_BENCH_BATCHES=$PREC_BATCHES ../.gpubin/engine.test -test.run '^$' -test.bench 'GPUPrecision' -test.benchtime "$PREC_ITERS"x) &&
			(cd gpu && ../.gpubin/gpu.test -test.run '^$' -test.bench 'MatmulPrecision|MatmulCoopMatTiles' -test.benchtime "$PREC_ITERS"x)
	fi
}

pick_python() {
	# The interpreter with torch: the machine's python3, else Debian's.
	for p in python3 /usr/bin/python3; do
		command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null && { echo "$p"; return; }
	done
	command -v python3 || echo /usr/bin/python3
}

main() {
	note "gpu-check on $(hostname) ($(uname -m)), $(nproc) CPUs; $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD 2>/dev/null || cat .gpubin/COMMIT 2>/dev/null || echo '?')"
	command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
	PY=$(pick_python)
	note "python: $PY ($("$PY" --version 2>&1))"

	# 1. The Vulkan loader and the device.
	if ! have_loader; then
		if compgen -G ".gl/*.deb" >/dev/null; then
			note "no libvulkan.so.1: unpacking the carried .gl/*.deb"
			for f in .gl/*.deb; do dpkg -x "$f" / || stop "dpkg -x $f failed (needs root)"; done
			ldconfig
		fi
	fi
	have_loader ||
		stop "no Vulkan loader (libvulkan.so.1) and no .gl/*.deb to install it from: carry .gl (see .gl/ and /work/.library/device/README.md)"

	export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
	if [ -z "${GPU_CHECK_NO_GO:-}" ] && command -v go >/dev/null; then
		HAVE_GO=1
		note "building with $(go version)"
		mkdir -p .gpubin
		go build -o .gpubin/vkdeit ./cmd/vkdeit || stop "go build ./cmd/vkdeit failed"
	else
		HAVE_GO=0
		[ -x .gpubin/vkdeit ] || stop "no Go toolchain and no carried .gpubin/vkdeit: run scripts/gpu-prep.sh where Go is, then carry .gpubin"
		note "no Go here: using the carried .gpubin binaries"
	fi
	VK=$ROOT/.gpubin/vkdeit

	devices() { "$VK" devices --json >"$TMPD/devices.json" 2>"$TMPD/devices.err"; }
	# picked FIELD: the Vulkan device --device gpu runs (vkdeit devices --json marks it "gpu").
	picked() { "$PY" -c 'import json,sys; d=[x for x in json.load(open(sys.argv[1])) if x.get("gpu")]; print(d[0][sys.argv[2]] if d else "")' "$TMPD/devices.json" "$1" 2>/dev/null; }
	NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
	if ! devices || [ "$(picked type)" = cpu ]; then
		if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f $NV_ICD ]; then
			note "no GPU through the default ICD search path: VK_DRIVER_FILES=$NV_ICD"
			export VK_DRIVER_FILES=$NV_ICD __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
			devices
		fi
	fi
	if [ ! -s "$TMPD/devices.json" ] || [ -z "$(picked name)" ]; then
		stop "no Vulkan device: $(tr '\n' ' ' <"$TMPD/devices.err" | cut -c1-400)"
	fi
	"$VK" devices
	TYPE=$(picked type)
	NAME=$(picked name)
	COOPMAT=$(picked coopmat)
	note "vkdeit picks: $NAME ($TYPE); fp16 $(picked fp16), cooperative matrices $COOPMAT ($(picked coopmat_note))"
	SMALL=0
	if [ "$TYPE" = cpu ]; then
		what=$NAME
		case $NAME in *llvmpipe*) what=lavapipe ;; esac
		[ $ALLOW_CPU = 1 ] || stop "no GPU (only CPU Vulkan device $what)"
		note "--allow-cpu: running the whole flow on $what with tiny sizes"
		SMALL=1
	fi

	# 2. The tuner, first, into a cache of this run only; every vkdeit step
	# after it (verify, bench) runs the tuned configurations.
	export XDG_CACHE_HOME=$TMPD/xdg
	tbatches=256,1,64,8 tcfg=small-distilled tmax=120 tcands=24
	[ $SMALL = 1 ] && tbatches=1,2 tcfg=tiny-distilled tmax=40 tcands=3
	# --max-time stops between candidates: the step's limit leaves room for
	# the one in flight (seconds on lavapipe) and the engines' start.
	step "vkdeit tune" bench $((tmax + 60)) "$VK" tune --config $tcfg --batch $tbatches --precision fp32,fp16 \
		--max-candidates $tcands --max-time ${tmax}s --json "$TMPD/tune.json"
	if [ -s "$TMPD/tune.json" ]; then
		"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("tuning: %d shapes measured, %d from the cache, %.0fs; %s" % (r["tuned"], r["cached"], r["seconds"], r["cache"]))' "$TMPD/tune.json"
	fi

	# 3. Parity on the device, validation off (no layer there). The fp16
	# tests must not skip on a GPU, nor the coopmat ones where it has them.
	unset VKDEIT_VALIDATION
	export CI=true VKDEIT_REQUIRE_FP16=1 # a missing device fails the tests instead of skipping them
	[ "$COOPMAT" = True ] && export VKDEIT_REQUIRE_COOPMAT=1
	: >"$OUT/parity.log"
	kernels='Ops|Matmul|Attention|LayerNorm|GELU|Patchify|Tokens|Gather|DeviceFeatures|Precision|Half|Tun'
	if [ $HAVE_GO = 1 ]; then
		step "gpu kernel parity" parity 240 bash -c "go test ./gpu/ -count=1 -run '$kernels' -v >>'$OUT/parity.log' 2>&1"
		step "engine parity" parity 240 bash -c "VKDEIT_TEST_ENGINES=gpu/fp32,gpu/fp16 go test ./engine/ -count=1 -run 'Engines|GPU|Precision' -v >>'$OUT/parity.log' 2>&1"
	else
		step "gpu kernel parity" parity 240 bash -c "cd gpu && ../.gpubin/gpu.test -test.count=1 -test.run '$kernels' -test.v >>'$OUT/parity.log' 2>&1"
		step "engine parity" parity 240 bash -c "cd engine && VKDEIT_TEST_ENGINES=gpu/fp32,gpu/fp16 ../.gpubin/engine.test -test.count=1 -test.run 'Engines|GPU|Precision' -test.v >>'$OUT/parity.log' 2>&1"
	fi
	unset VKDEIT_REQUIRE_COOPMAT VKDEIT_REQUIRE_FP16
	echo "fp16 and coopmat errors (relative L2 against the float64 twins), first 16:"
	grep -E 'fp16 logits|_f16|f16->|amp[0-9]' "$OUT/parity.log" | grep -E 'rel(ative)? L2' | sed 's/^ *//' | head -16
	grep -E '^(--- FAIL|FAIL|ok|PASS|panic)' "$OUT/parity.log" | head -40
	echo "($(grep -c '^--- PASS' "$OUT/parity.log") tests passed, $(grep -c '^--- FAIL' "$OUT/parity.log") failed, $(grep -c '^--- SKIP' "$OUT/parity.log") skipped; full log parity.log)"
	preset=small-distilled
	[ $SMALL = 1 ] && preset=tiny-distilled
	vb=8
	[ $SMALL = 1 ] && vb=2
	for vp in fp32 fp16; do
		step "verify $preset $vp b$vb (tuned)" parity 90 "$VK" verify --device gpu --random $preset --precision $vp --batch $vb
	done

	# 4. Against Hugging Face transformers.
	shape=small-distilled
	[ $SMALL = 1 ] && shape=micro
	step "hf_compare ($shape)" parity 240 "$PY" scripts/hf_compare.py --vkdeit "$VK" --device gpu --shape $shape \
		--json "$OUT/hf_compare.json"

	# 5. Speed, vkdeit and PyTorch on the same card (tuned kernels).
	batches=1,8,64,256 warm=10 iters=40 maxt=90
	[ $SMALL = 1 ] && batches=1,2 warm=1 iters=3 maxt=20
	cfg=small-distilled
	[ $SMALL = 1 ] && cfg=tiny-distilled
	export HAVE_GO PREC_BATCHES=$batches PREC_ITERS=$iters
	export -f run_precisions
	step "vkdeit bench" bench 200 "$VK" bench --device gpu --config $cfg --batch $batches --warmup $warm --iters $iters \
		--max-time ${maxt}s --json "$OUT/vkdeit_bench.json" --plot "$OUT/vkdeit_bench.png"
	# Every precision: the deit-small forward at fp32, fp16 and fp16 on
	# cooperative matrices (wall clock per forward, same batches), and the
	# matmul GFLOPS of each path at the DeiT-small shapes.
	step "vkdeit precisions" bench 210 bash -c 'run_precisions >"$0" 2>&1' "$TMPD/gobench.txt"
	grep -E '^Benchmark' "$TMPD/gobench.txt" | sed 's/[[:space:]][[:space:]]*/ /g'
	# Kernel tuning data: every matmul_tiled and attention_tiled tile at the
	# DeiT-small shapes (optional; only what the time budget allows).
	if [ $TILES = 1 ] && [ $SMALL = 0 ] && [ $((DEADLINE - 180 - ($(date +%s) - START))) -ge 120 ]; then
		export HAVE_GO
		export -f run_tiles
		step "kernel tile benchmarks" optional 90 bash -c 'run_tiles >"$0" 2>&1' "$OUT/tiles.log"
		grep -E 'GFLOPS' "$OUT/tiles.log" | sort -t$'\t' -k1,1 | head -80
	fi
	tshape=small-distilled
	[ $SMALL = 1 ] && tshape=tiny-distilled
	targs=(--batch $batches --warmup $warm --iters $iters --max-time $maxt --shape $tshape)
	[ $SMALL = 1 ] && targs+=(--allow-cpu)
	step "torch eager+amp" bench 150 "$PY" scripts/torch_gpu_bench.py "${targs[@]}" --modes eager,amp --json "$OUT/torch_gpu.json"
	left=$((DEADLINE - ($(date +%s) - START)))
	if [ $COMPILE = 0 ]; then
		STEPS+=("$(printf '%-30s %-8s %4ds  %s' "torch.compile" optional 0 "skipped: --no-compile")")
	elif [ $left -ge 40 ]; then
		budget=$((left - 25))
		[ $budget -gt 120 ] && budget=120
		step "torch.compile" optional $((budget + 20)) "$PY" scripts/torch_gpu_bench.py "${targs[@]}" --modes compile \
			--compile-budget $budget --json "$OUT/torch_compile.json"
	else
		STEPS+=("$(printf '%-30s %-8s %4ds  %s' "torch.compile" optional 0 "skipped: only ${left}s left of the ${DEADLINE}s budget")")
	fi

	# 6. Summary, last.
	echo
	note "summary"
	if [ -s "$OUT/hf_compare.json" ]; then
		"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("HF parity: worst rel L2 %.3g over %d runs (tol %g), formats identical: %s, %s" % (r["worst_rel_l2"], len(r["runs"]), r["tol"], r["formats_identical"], "OK" if r["ok"] else "FAILED"))' "$OUT/hf_compare.json"
	fi
	if [ -s "$OUT/vkdeit_bench.json" ]; then
		tj=()
		for f in "$OUT/torch_gpu.json" "$OUT/torch_compile.json"; do [ -s "$f" ] && tj+=("$f"); done
		"$PY" scripts/torch_gpu_bench.py --summary --vkdeit-json "$OUT/vkdeit_bench.json" --vkdeit-gobench "$TMPD/gobench.txt" \
			--json "$OUT/summary.json" "${tj[@]}"
	fi
	echo
	printf '%-30s %-8s %5s  %s\n' step kind time result
	printf '%s\n' "${STEPS[@]}"
	if [ ${#FAILED[@]} -gt 0 ]; then
		echo "gpu-check: FAILED: $(printf '%s; ' "${FAILED[@]}")(total $(($(date +%s) - START))s)"
		return 1
	fi
	echo "gpu-check: OK on $NAME (total $(($(date +%s) - START))s)"
}

main 2>&1 | tee "$OUT/gpu-check.log"
exit "${PIPESTATUS[0]}"
