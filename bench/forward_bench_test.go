package bench

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
)

// smallModel is deit-small-distilled with random weights, the flagship's
// shape, built once per benchmark.
func smallModel(b *testing.B) *deit.Model {
	b.Helper()
	cfg, err := deit.Preset("small-distilled")
	if err != nil {
		b.Fatal(err)
	}
	return &deit.Model{Config: cfg, Weights: deit.RandomWeights(cfg, 1)}
}

// benchDevice opens the default Vulkan device for timing: unlike
// gputest.Open it does not force the validation layer on (that would time the
// layer), though $VKDEIT_VALIDATION=1 still enables it. Skipped without a
// device unless $CI is set.
func benchDevice(b *testing.B) *gpu.Device {
	b.Helper()
	d, err := gpu.Open(gpu.OptionsFromEnv())
	if err != nil {
		if errors.Is(err, gpu.ErrNoDevice) && os.Getenv("CI") == "" {
			b.Skipf("no Vulkan device: %v", err)
		}
		b.Fatalf("opening Vulkan device: %v", err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// benchGPU times Engine.Forward at batch B and reports images per second.
func benchGPU(b *testing.B, B int) {
	m := smallModel(b)
	d := benchDevice(b)
	eng, err := engine.NewGPU(d, m, B, engine.GPUOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	px := deit.RandomPixels(m.Config, B, 1)
	ctx := context.Background()
	if _, err := eng.Forward(ctx, px, B); err != nil { // records the sequence
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := eng.Forward(ctx, px, B); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "img/s")
}

// BenchmarkForwardGPUBatch1 is the batch-1 latency of the GPU engine on
// deit-small-distilled.
func BenchmarkForwardGPUBatch1(b *testing.B) { benchGPU(b, 1) }

// BenchmarkForwardGPUBatch8 is the GPU engine's throughput at batch 8.
func BenchmarkForwardGPUBatch8(b *testing.B) { benchGPU(b, 8) }

// BenchmarkForwardReferenceBatch1 is the pure-Go reference path at batch 1.
func BenchmarkForwardReferenceBatch1(b *testing.B) {
	m := smallModel(b)
	px := deit.RandomPixels(m.Config, 1, 1)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := engine.RunReference(ctx, m, px, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
}
