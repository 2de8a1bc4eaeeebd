#!/usr/bin/env bash
# contention.sh [ROUNDS] — the CPU engine alone and beside a CPU hog.
#
# Times deit-small-distilled (random weights) at batch 1 in fp32 and bf16
# (go test -bench 'CPUSmall(BF16)?Batch1$' ./engine) on a quiet machine and
# then with one busy-looping process (`yes > /dev/null`) per two cores
# beside it, alternating ROUNDS times (default 4), and prints the minimum
# ms per image of each: how much the pool's polling costs, or saves, when
# another process wants the cores (the pool stops polling while the
# process's threads keep being preempted; see cpu/pool.go and
# bench/RESULTS.md). Run it on an otherwise idle machine.
set -eu
rounds=${1:-4}
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/engine.test
trap 'rm -rf "$(dirname "$bin")"; kill $(jobs -p) 2>/dev/null || true' EXIT
go test -c -o "$bin" ./engine
hogs=$(( ($(nproc) + 1) / 2 ))
run() { "$bin" -test.run '^$' -test.bench 'CPUSmall(BF16)?Batch1$' -test.benchtime 6x 2>&1 | awk -v tag="$1" '/^Benchmark/ {print tag, $1, $(NF-1)}'; }
out=$(for r in $(seq "$rounds"); do
  run quiet
  pids=()
  for h in $(seq "$hogs"); do yes > /dev/null & pids+=($!); done
  sleep 0.5
  run "hog×$hogs"
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
done)
echo "min ms/img over $rounds rounds ($(nproc) CPUs):"
sort <<<"$out" | awk '{k=$1" "$2; if(!(k in m)||$3<m[k])m[k]=$3} END{for(k in m)print "  "k, m[k]}' | sort -k2
