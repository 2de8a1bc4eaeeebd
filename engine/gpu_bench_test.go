package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

// BenchmarkGPUPrecision times a deit-small-distilled forward (random
// weights) at each precision the device runs: fp32, fp16 without
// cooperative matrices (a device opened with NoCoopMat) and, where the
// device has them, fp16 on cooperative matrices. Batches: 1 and 8, or the
// comma-separated $VKDEIT_BENCH_BATCHES (scripts/gpu-check.sh: 1,8,64,256).
// Metrics: ns/op per forward, img/s, and cpu-ms/op: the process's CPU time
// per forward, which on a CPU driver (lavapipe runs the kernels on this
// process's threads) measures the work itself, little disturbed by other
// load on a shared machine. Sub-benchmarks are named B<batch>/<Engine.Arithmetic()>,
// and B<batch>/<Engine.Arithmetic()>/stream for the same forward through
// ForwardStream (upload overlapped with compute on discrete GPUs).
func BenchmarkGPUPrecision(b *testing.B) {
	c, err := deit.Preset("small-distilled")
	require.NoError(b, err)
	m := randomModel(c, 1)
	batches := []int{1, 8}
	if env := os.Getenv("VKDEIT_BENCH_BATCHES"); env != "" {
		batches = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(b, err, "VKDEIT_BENCH_BATCHES=%q", env)
			batches = append(batches, n)
		}
	}
	type config struct {
		p      deit.Precision
		noCoop bool
	}
	done := map[string]bool{}
	for _, cf := range []config{{deit.FP32, false}, {deit.FP16, true}, {deit.FP16, false}} {
		opts := gpu.OptionsFromEnv()
		opts.Validation = false
		opts.NoCoopMat = opts.NoCoopMat || cf.noCoop
		dev, err := gpu.Open(opts)
		if err != nil {
			b.Skipf("no Vulkan device: %v", err)
		}
		for _, B := range batches {
			e, err := NewGPU(dev, m, B, GPUOptions{Precision: cf.p})
			if errors.Is(err, gpu.ErrUnsupported) {
				break
			}
			if errors.Is(err, gpu.ErrOutOfMemory) {
				b.Logf("batch %d at %v does not fit: %v", B, cf.p, err)
				continue
			}
			require.NoError(b, err)
			name := fmt.Sprintf("B%d/%s", B, e.Arithmetic())
			if !done[name] {
				done[name] = true
				px := deit.RandomPixels(c, B, 1)
				b.Run(name, func(b *testing.B) {
					ctx := context.Background()
					_, err := e.Forward(ctx, px, B) // records the sequence
					require.NoError(b, err)
					cpu0 := cpuSeconds()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := e.Forward(ctx, px, B); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(B)*float64(b.N)/b.Elapsed().Seconds(), "img/s")
					b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N), "cpu-ms/op")
				})
				// The same forward over a stream of batches: on a discrete
				// GPU the next batch's upload overlaps this one's compute.
				b.Run(name+"/stream", func(b *testing.B) {
					ctx := context.Background()
					left := b.N
					next := func() ([]float32, error) {
						if left == 0 {
							return nil, nil
						}
						left--
						return px, nil
					}
					b.ResetTimer()
					if err := e.ForwardStream(ctx, B, next, func([]float32) error { return nil }); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(B)*float64(b.N)/b.Elapsed().Seconds(), "img/s")
				})
			}
			e.Close()
		}
		dev.Close()
	}
}
