package bench

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/engine"
)

// sampleReport is a hand-made report with a GPU and a CPU path.
func sampleReport() *Report {
	lat := func(ms ...float64) Stats {
		var ds []time.Duration
		for _, m := range ms {
			ds = append(ds, time.Duration(m*float64(time.Millisecond)))
		}
		return Summarize(ds)
	}
	return &Report{
		Date: "2026-11-26T01:00:00Z", GoVersion: "go1.26", Host: "linux/amd64, 2 CPUs",
		Model: "random small-distilled (seed 1)", Config: "D=384", GFLOPPerImage: 9.25,
		Warmup: 1, Iters: 3,
		Device: &DeviceSummary{Name: "llvmpipe", Type: "cpu", Driver: "Mesa", MemoryBytes: 8 << 30},
		Paths: []PathReport{
			{Path: "gpu", Label: "llvmpipe (cpu)", Batches: []BatchResult{
				{Batch: 1, Latency: lat(10, 12, 11), ImgPerSec: 100, TFLOPS: 0.925, DeviceMs: 9,
					Kernels: []KernelStat{{Kernel: "matmul", Count: 50, TotalMicros: 8000, Share: 0.9, GFLOPS: 1100}},
					Configs: []engine.KernelChoice{
						{Step: "layer0.qkv", Shape: "matmul 198x1152x384 f32->f32", Config: "tiled 64x64x16 4x4 wg256", Tuned: true},
						{Step: "layer0.attention", Shape: "attention 1x198x6x64 f32", Config: "tiled bq32 kpt1", Tuned: false},
						{Step: "layer0.proj", Shape: "matmul 198x384x384 f32->f32", Config: "tiled 64x64x16 4x4 wg256", Tuned: true},
					}},
				{Batch: 8, Latency: lat(40, 41, 42), ImgPerSec: 200, TFLOPS: 1.85, DeviceMs: 38},
			}},
			{Path: "cpu", Label: "cpu avx512 (2 threads)", Batches: []BatchResult{
				{Batch: 1, Latency: lat(500, 510, 520), ImgPerSec: 2},
				{Batch: 8, Latency: lat(4000, 4000, 4000), ImgPerSec: 2.5},
			}},
		},
		Parity: []Parity{{Batch: 1, Path: "gpu", Base: "cpu", Diff: Diff{MaxAbs: 1e-5, RelL2: 2e-6, Worst: 3}}},
		Notes:  []string{"gpu batch 256 skipped: does not fit in device memory"},
	}
}

func TestReportJSON(t *testing.T) {
	r := sampleReport()
	r.Paths[1].Batches = append(r.Paths[1].Batches, BatchResult{Batch: 32, Latency: Summarize(nil)}) // NaN stats
	var buf bytes.Buffer
	require.NoError(t, r.WriteJSON(&buf))
	var back Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, "llvmpipe", back.Device.Name)
	require.Len(t, back.Paths, 2)
	require.Equal(t, 8, back.Paths[0].Batches[1].Batch)
	require.InDelta(t, 11, back.Paths[0].Batches[0].Latency.P50, 1e-9)
	require.Equal(t, "matmul", back.Paths[0].Batches[0].Kernels[0].Kernel)
	require.Zero(t, back.Paths[1].Batches[2].Latency.P50, "NaN must become 0")
	require.Equal(t, []Ratio{{Batch: 1, Num: "gpu", Den: "cpu", Value: 50}, {Batch: 8, Num: "gpu", Den: "cpu", Value: 80}}, back.Ratios)
	require.InDelta(t, 2e-6, back.Parity[0].RelL2, 1e-18)
	require.True(t, math.IsNaN(r.Paths[1].Batches[2].Latency.P50), "WriteJSON must not modify the report")
}

func TestReportText(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, sampleReport().WriteText(&buf))
	out := buf.String()
	for _, want := range []string{
		"9.25 GFLOP/image",
		"device  llvmpipe (cpu)",
		"batch-1 latency, gpu: p50 11.000 ms, p95 11.900 ms, p99 11.980 ms (3 runs)",
		"GPU/CPU throughput at batch 1: 50.00×",
		"GPU/CPU throughput at batch 8: 80.00×",
		"GPU vs CPU logits at batch 1: max abs 1e-05, rel L2 2e-06",
		"per-kernel time, gpu, batch 1 (9.000 ms per forward):",
		"kernel configurations: 2 of 3 steps tuned",
		"    2× tiled 64x64x16 4x4 wg256 (tuned)",
		"    1× tiled bq32 kpt1 (heuristic)",
		"gpu batch 256 skipped",
	} {
		require.Contains(t, out, want)
	}
	// The main table has one row per (path, batch) plus its header.
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 10 && (f[0] == "gpu" || f[0] == "cpu") {
			rows++
		}
	}
	require.Equal(t, 4, rows, out)
}

func TestReportPlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.png")
	require.NoError(t, sampleReport().WritePlotFile(path))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, 1152, img.Bounds().Dx()) // 12 in at 96 dpi
	require.Equal(t, 480, img.Bounds().Dy())
	// Something was drawn: not every pixel is the white background.
	colored := 0
	for y := 0; y < img.Bounds().Dy(); y += 3 {
		for x := 0; x < img.Bounds().Dx(); x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			if r != g || g != b {
				colored++
			}
		}
	}
	require.Greater(t, colored, 50, "no colored line pixels in the plot")

	empty := &Report{}
	require.Error(t, empty.WritePlot(&bytes.Buffer{}))
}
