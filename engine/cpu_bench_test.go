package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vkdeit/vkdeit/cpu"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// BenchmarkCPUSmallBatch1 and …Batch8 run deit-small-distilled
// (random weights) on the CPU engine with every CPU and the best ISA,
// reporting img/s and ms/img, and log the per-kernel breakdown of one
// profiled forward. VKDEIT_CPU_ISA is not read: use the ISA sub-benchmarks
// of BenchmarkCPUSmallISA to compare instruction sets.
func BenchmarkCPUSmallBatch1(b *testing.B) { benchCPUSmall(b, 1, CPUOptions{}) }

func BenchmarkCPUSmallBatch8(b *testing.B) { benchCPUSmall(b, 8, CPUOptions{}) }

// BenchmarkCPUSmallBF16Batch1 and …Batch8 are the same at bf16 (the best
// bf16 unit; the Go emulation where the CPU has none).
func BenchmarkCPUSmallBF16Batch1(b *testing.B) {
	benchCPUSmall(b, 1, CPUOptions{Precision: deit.BF16})
}

func BenchmarkCPUSmallBF16Batch8(b *testing.B) {
	benchCPUSmall(b, 8, CPUOptions{Precision: deit.BF16})
}

// BenchmarkCPUModel times a model from disk on given pixels and writes the
// logits, for bench/cpu_baselines.py, which compares vkdeit with PyTorch
// and ONNX Runtime on the same weights and inputs. It skips unless
// VKDEIT_BENCH_MODEL (a model directory) and VKDEIT_BENCH_PIXELS (raw
// little-endian float32 [B, 3, H, W]) are set; VKDEIT_BENCH_BATCH is B
// (default 1), VKDEIT_BENCH_PRECISION the precision (default fp32),
// VKDEIT_BENCH_THREADS the workers (default GOMAXPROCS), and
// VKDEIT_BENCH_LOGITS, when set, receives the logits as raw float32.
func BenchmarkCPUModel(b *testing.B) {
	dir, pixFile := os.Getenv("VKDEIT_BENCH_MODEL"), os.Getenv("VKDEIT_BENCH_PIXELS")
	if dir == "" || pixFile == "" {
		b.Skip("VKDEIT_BENCH_MODEL and VKDEIT_BENCH_PIXELS are not set")
	}
	B, threads := 1, 0
	var err error
	if v := os.Getenv("VKDEIT_BENCH_BATCH"); v != "" {
		if B, err = strconv.Atoi(v); err != nil {
			b.Fatalf("VKDEIT_BENCH_BATCH: %v", err)
		}
	}
	if v := os.Getenv("VKDEIT_BENCH_THREADS"); v != "" {
		if threads, err = strconv.Atoi(v); err != nil {
			b.Fatalf("VKDEIT_BENCH_THREADS: %v", err)
		}
	}
	prec := deit.FP32
	if v := os.Getenv("VKDEIT_BENCH_PRECISION"); v != "" {
		if prec, err = deit.ParsePrecision(v); err != nil {
			b.Fatalf("VKDEIT_BENCH_PRECISION: %v", err)
		}
	}
	files, err := modeldir.Find(dir)
	if err != nil {
		b.Fatal(err)
	}
	m, err := deit.Load(files)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(pixFile)
	if err != nil {
		b.Fatal(err)
	}
	px := make([]float32, len(raw)/4)
	for i := range px {
		px[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	e, err := NewCPU(m, B, CPUOptions{Precision: prec, Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.Logf("engine: %s", e.Name())
	dst := make([]float32, B*m.Config.NumLabels)
	ctx := context.Background()
	if err := e.ForwardInto(ctx, dst, px, B); err != nil {
		b.Fatal(err)
	}
	if out := os.Getenv("VKDEIT_BENCH_LOGITS"); out != "" {
		buf := make([]byte, 4*len(dst))
		for i, v := range dst {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		if err := os.WriteFile(out, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := e.ForwardInto(ctx, dst, px, B); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1e3*b.Elapsed().Seconds()/float64(b.N*B), "ms/img")
}

// BenchmarkCPUSmallISA runs batch 1 on each supported AVX ISA with
// one and with every thread.
func BenchmarkCPUSmallISA(b *testing.B) {
	for _, isa := range []cpu.ISA{cpu.AVX2, cpu.AVX512} {
		if !isa.Supported() {
			continue
		}
		for _, threads := range []int{1, 0} {
			b.Run(fmt.Sprintf("%v/t%d", isa, threads), func(b *testing.B) {
				benchCPUSmall(b, 1, CPUOptions{ISA: isa, Threads: threads})
			})
		}
	}
}

func benchCPUSmall(b *testing.B, B int, opts CPUOptions) {
	c, err := deit.Preset("small-distilled")
	if err != nil {
		b.Fatal(err)
	}
	m := randomModel(c, 1)
	e, err := NewCPU(m, B, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	px := deit.RandomPixels(c, B, 1)
	dst := make([]float32, B*c.NumLabels)
	ctx := context.Background()
	if err := e.ForwardInto(ctx, dst, px, B); err != nil { // warm the caches and the workers
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := cpuSeconds()
	for b.Loop() {
		if err := e.ForwardInto(ctx, dst, px, B); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N) / float64(B)
	b.ReportMetric(1/sec, "img/s")
	b.ReportMetric(1e3*sec, "ms/img")
	b.ReportMetric(c.FLOPs()/sec/1e9, "GFLOPS")
	if cs := cpuSeconds() - c0; cs > 0 {
		// CPU time per image, all workers together: on a shared machine
		// the wall time also counts waiting for a core.
		b.ReportMetric(1e3*cs/float64(b.N*B), "cpu-ms/img")
	}
	b.StopTimer()
	logCPUProfile(b, e, px, B)
}

// logCPUProfile logs one profiled forward summed by kernel role (qkv,
// attention, fc1, …, over all layers): time, share and GFLOPS.
func logCPUProfile(b *testing.B, e *CPU, px []float32, B int) {
	_, times, err := e.Profile(context.Background(), px, B)
	if err != nil {
		b.Fatal(err)
	}
	type agg struct{ ns, flops float64 }
	by := map[string]*agg{}
	var total float64
	for _, d := range times {
		role := d.Step[strings.IndexByte(d.Step, '.')+1:]
		if by[role] == nil {
			by[role] = &agg{}
		}
		by[role].ns += d.Nanos
		by[role].flops += d.FLOPs
		total += d.Nanos
	}
	roles := make([]string, 0, len(by))
	for r := range by {
		roles = append(roles, r)
	}
	sort.Slice(roles, func(i, j int) bool { return by[roles[i]].ns > by[roles[j]].ns })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s, batch %d: %.2f ms/img profiled\n", e.Name(), B, total/1e6/float64(B))
	// Three roles a line: the test log of a benchmark keeps only ten lines.
	for i, r := range roles {
		a := by[r]
		fmt.Fprintf(&sb, "  %s %.2f ms %.1f%%", r, a.ns/1e6/float64(B), 100*a.ns/total)
		if a.flops > 0 {
			fmt.Fprintf(&sb, " %.0f GFLOPS", a.flops/a.ns)
		}
		if i%3 == 2 || i == len(roles)-1 {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte(';')
		}
	}
	b.Log(sb.String())
}
