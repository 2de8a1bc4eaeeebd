package bench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// tinyModel is a 2-layer, 32-pixel model: the real network structure at a
// size that runs in milliseconds on any engine.
func tinyModel(t *testing.T) *deit.Model {
	t.Helper()
	cfg := deit.Config{Hidden: 32, Layers: 2, Heads: 2, MLP: 64, ImageSize: 32, PatchSize: 8,
		Channels: 3, NumLabels: 10, Eps: 1e-6, Head: deit.HeadDistilled}
	require.NoError(t, cfg.Validate())
	return &deit.Model{Config: cfg, Weights: deit.RandomWeights(cfg, 7)}
}

// refTarget is the reference engine as a bench target.
func refTarget(m *deit.Model, batches ...int) Target {
	return Target{Path: "ref", Batches: batches, Open: func(b int) (engine.Engine, error) {
		return engine.NewReference(m, b, engine.ReferenceOptions{})
	}}
}

func TestRunReference(t *testing.T) {
	m := tinyModel(t)
	var log bytes.Buffer
	r, err := Run(context.Background(), Options{Model: m, ModelName: "tiny", Targets: []Target{refTarget(m, 2, 1, 2)},
		Warmup: 1, Iters: 4, Seed: 3, Log: &log})
	require.NoError(t, err)
	require.Len(t, r.Paths, 1)
	p := r.Paths[0]
	require.Equal(t, "ref", p.Path)
	require.Contains(t, p.Label, "reference")
	require.Len(t, p.Batches, 2, "batches are sorted and deduplicated")
	for i, b := range []int{1, 2} {
		br := p.Batches[i]
		require.Equal(t, b, br.Batch)
		require.Equal(t, 4, br.Latency.N)
		require.Greater(t, br.Latency.P50, 0.0)
		require.LessOrEqual(t, br.Latency.Min, br.Latency.P50)
		require.LessOrEqual(t, br.Latency.P50, br.Latency.P99)
		// img/s is images over the summed latencies, so mean latency × img/s = batch.
		require.InDelta(t, float64(b), br.ImgPerSec*br.Latency.Mean/1e3, 1e-6*float64(b))
		require.InDelta(t, br.ImgPerSec*m.Config.FLOPs()/1e12, br.TFLOPS, 1e-12)
		require.Zero(t, br.DeviceMs)
	}
	require.InDelta(t, m.Config.FLOPs()/1e9, r.GFLOPPerImage, 1e-12)
	require.Nil(t, r.Parity)
	require.Contains(t, log.String(), "bench: ref batch 2: 4 iterations")

	_, err = Run(context.Background(), Options{Model: m, Iters: 1})
	require.ErrorContains(t, err, "nothing to run")
	_, err = Run(context.Background(), Options{Model: m, Targets: []Target{refTarget(m, 0)}, Iters: 1})
	require.ErrorContains(t, err, "batch size must be ≥ 1")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Run(ctx, Options{Model: m, Targets: []Target{refTarget(m, 1)}, Iters: 2})
	require.ErrorIs(t, err, context.Canceled)
}

// TestRunBounds: batches whose input would not fit the host budget are
// skipped before anything is allocated, and MaxTime bounds the whole run.
func TestRunBounds(t *testing.T) {
	m := tinyModel(t)
	per := int64(3 * 32 * 32 * 4)
	r, err := Run(context.Background(), Options{Model: m, Targets: []Target{refTarget(m, 1, 100000000)},
		Iters: 1, HostBytes: 10 * per})
	require.NoError(t, err)
	require.Len(t, r.Paths[0].Batches, 1)
	require.Contains(t, r.Notes[0], "ref batch 100000000 skipped: its input needs 1.1 TiB")

	start := time.Now()
	r, err = Run(context.Background(), Options{Model: m, Targets: []Target{refTarget(m, 1, 2, 4)},
		Warmup: 1000, Iters: 1000000, MaxTime: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Less(t, time.Since(start), 3*time.Second, "MaxTime bounds the run")
	for _, br := range r.Paths[0].Batches {
		require.GreaterOrEqual(t, br.Latency.N, 1)
		require.Less(t, br.Latency.N, 1000000)
	}
}

// TestRunNothingMeasured: a run in which every batch size was skipped is
// an error that gives the reasons, not an empty report.
func TestRunNothingMeasured(t *testing.T) {
	m := tinyModel(t)
	per := int64(3 * 32 * 32 * 4)
	for _, tt := range []struct {
		name    string
		targets []Target
		host    int64
		msg     string
	}{
		{"every input too large", []Target{refTarget(m, 2, 4)}, per,
			"bench: nothing was measured: ref batch 2 skipped: its input needs 24.0 KiB, more than the 12.0 KiB of host memory set aside for inputs; ref batch 4 skipped"},
		{"no batch sizes", []Target{refTarget(m)}, 0, "bench: nothing was measured: no batch sizes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Run(context.Background(), Options{Model: m, Targets: tt.targets, Iters: 1, HostBytes: tt.host})
			require.ErrorContains(t, err, tt.msg)
			require.Nil(t, r)
		})
	}
}

func TestRunGPU(t *testing.T) {
	m := tinyModel(t)
	d := gputest.Open(t)
	gpuTarget := Target{Path: "gpu", Batches: []int{1, 3}, Open: func(b int) (engine.Engine, error) {
		return engine.NewGPU(d, m, b, engine.GPUOptions{})
	}}
	r, err := Run(context.Background(), Options{Model: m, ModelName: "tiny", Targets: []Target{gpuTarget, refTarget(m, 1)},
		Warmup: 1, Iters: 3, ProfileRuns: 2, Seed: 5})
	require.NoError(t, err)
	require.Len(t, r.Paths, 2)
	require.Equal(t, d.Info().Name, r.Device.Name)
	g := r.Paths[0]
	require.Equal(t, "gpu", g.Path)
	require.Len(t, g.Batches, 2)
	for _, br := range g.Batches {
		require.Equal(t, 3, br.Latency.N)
		require.Greater(t, br.ImgPerSec, 0.0)
		if !d.Info().Timestamps {
			continue
		}
		require.Greater(t, br.DeviceMs, 0.0)
		require.NotEmpty(t, br.Kernels)
		var share float64
		kinds := map[string]bool{}
		for _, k := range br.Kernels {
			share += k.Share
			kinds[k.Kernel] = true
		}
		require.InDelta(t, 1, share, 1e-9)
		require.True(t, kinds["matmul"] && kinds["attention"], "kernels: %v", kinds)
	}
	// Every matmul and attention step names its configuration; without a
	// tuning they all come from the heuristic.
	for _, br := range g.Batches {
		require.Len(t, br.Configs, 5*m.Config.Layers+2, "batch %d", br.Batch)
		for _, c := range br.Configs {
			require.NotEmpty(t, c.Config, c.Step)
			require.False(t, c.Tuned, c.Step)
		}
	}
	// The two engines ran on the same input: their logits agree.
	require.Len(t, r.Parity, 1)
	pp := r.Parity[0]
	require.Equal(t, [3]any{1, "gpu", "ref"}, [3]any{pp.Batch, pp.Path, pp.Base})
	require.Less(t, pp.RelL2, 1e-4, "GPU vs reference logits, worst element %d (abs %g)", pp.Worst, pp.MaxAbs)
	r.ComputeRatios()
	require.Equal(t, []Ratio{{Batch: 1, Num: "gpu", Den: "ref", Value: r.Ratios[0].Value}}, r.Ratios)
}
