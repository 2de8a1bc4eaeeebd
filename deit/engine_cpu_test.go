package deit

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/cpu"
)

// forEachCPUISA runs f once per ISA this CPU supports (the others skip).
func forEachCPUISA(t *testing.T, f func(t *testing.T, isa cpu.ISA)) {
	for _, isa := range cpu.ISAs() {
		t.Run(isa.String(), func(t *testing.T) {
			if !isa.Supported() {
				t.Skipf("%v not supported here", isa)
			}
			f(t, isa)
		})
	}
}

func newCPUEngine(t testing.TB, m *Model, maxBatch int, opts CPUOptions) *CPUEngine {
	t.Helper()
	e, err := NewCPUEngine(m, maxBatch, opts)
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// TestCPUEngineMatchesCPU compares the float32 CPU engine with the float64
// reference, logits and every layer, on every ISA. The bound is the GPU
// engine's (TestGPUEngineMatchesReference): float32 products of at most a few
// hundred terms and a float32 softmax stay near 1e-6 relative, so 1e-5
// leaves a margin without hiding a wrong index or term.
func TestCPUEngineMatchesCPU(t *testing.T) {
	odd := tinyConfig(HeadDistilled)
	odd.ImageSize, odd.PatchSize, odd.Hidden, odd.Heads, odd.MLP, odd.NumLabels, odd.Layers = 40, 16, 128, 2, 384, 1001, 1
	cases := []struct {
		name string
		cfg  Config
		B    int
	}{
		{"distilled/B1", tinyConfig(HeadDistilled), 1},
		{"distilled/B3", tinyConfig(HeadDistilled), 3},
		{"classifier/B2", tinyConfig(HeadClassifier), 2},
		{"distilled-classifier/B2", tinyConfig(HeadDistilledClassifier), 2},
		{"odd-size-image/B2", odd, 2}, // 40 px with patch 16: remainder dropped, 1001 labels
		{"384px-geometry/B1", Config{Hidden: 64, Layers: 1, Heads: 1, MLP: 128, ImageSize: 384, PatchSize: 16,
			Channels: 3, NumLabels: 1000, Eps: 1e-12, Head: HeadDistilled}, 1}, // 578 tokens, head dim 64
	}
	for i, tc := range cases {
		seed := int64(100 + i)
		m := randomModel(t, tc.cfg, seed)
		px := randomPixels(tc.cfg, tc.B, seed)
		ref, err := m.ForwardReference(context.Background(), px, tc.B)
		require.NoError(t, err)
		t.Run(tc.name, func(t *testing.T) {
			forEachCPUISA(t, func(t *testing.T, isa cpu.ISA) {
				requireMatchesReference(t, newCPUEngine(t, m, tc.B, CPUOptions{ISA: isa}), px, tc.B, ref, 1e-5)
			})
		})
	}
}

// TestCPUEngineMatchesTorch runs every committed PyTorch fixture and
// compares with PyTorch's float64 logits and hidden states.
func TestCPUEngineMatchesTorch(t *testing.T) {
	for _, f := range torchFixtures {
		t.Run(f.Name, func(t *testing.T) {
			m, px, want := loadFixture(t, f.Dir, f.Weights)
			B := len(want) / m.Config.NumLabels
			forEachCPUISA(t, func(t *testing.T, isa cpu.ISA) {
				requireMatchesTorch(t, newCPUEngine(t, m, B, CPUOptions{ISA: isa}), f.Dir, px, B, want, 1e-5)
			})
		})
	}
}

// TestCPUEngineDeiTSmall checks the full deit-small-distilled shape (random
// weights) at batch 1 and 2 against the float64 reference, every layer and
// the logits, on the AVX ISAs (the generic one is far too slow here).
func TestCPUEngineDeiTSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("full deit-small in -short mode")
	}
	c, err := Preset("small-distilled")
	require.NoError(t, err)
	m := randomModel(t, c, 7)
	const B = 2
	px := randomPixels(c, B, 7)
	ref, err := m.ForwardReference(context.Background(), px, B)
	require.NoError(t, err)
	per := len(px) / B
	D, T, L := c.Hidden, c.Tokens(), c.NumLabels
	for _, isa := range []cpu.ISA{cpu.AVX2, cpu.AVX512} {
		t.Run(isa.String(), func(t *testing.T) {
			if !isa.Supported() {
				t.Skipf("%v not supported here", isa)
			}
			e := newCPUEngine(t, m, B, CPUOptions{ISA: isa})
			logits, hidden, err := e.ForwardHidden(context.Background(), px, B)
			require.NoError(t, err)
			for l := range hidden {
				requireRelL2(t, fmt.Sprintf("layer %d", l), hidden[l], widen(ref.Hidden[l]), 1e-5)
			}
			requireRelL2(t, "logits B=2", logits, widen(ref.Logits), 1e-5)
			one, err := e.Forward(context.Background(), px[per:], 1)
			require.NoError(t, err)
			requireRelL2(t, "logits B=1 (image 1)", one, widen(ref.Logits[L:]), 1e-5)
			require.Equal(t, logits[L:], one, "image 1 alone and in the batch")
			for b := range B {
				require.Equal(t, top5(ref.Logits, L, b), top5(logits, L, b), "top-5 of image %d", b)
			}
			_ = D * T
		})
	}
}

// TestCPUEngineInvariant: an image's logits are the same bits alone or in a
// batch, with one thread or three.
func TestCPUEngineInvariant(t *testing.T) {
	c := tinyConfig(HeadDistilled)
	m := randomModel(t, c, 21)
	const B = 5
	px := randomPixels(c, B, 21)
	per, L := len(px)/B, c.NumLabels
	forEachCPUISA(t, func(t *testing.T, isa cpu.ISA) {
		e1 := newCPUEngine(t, m, B, CPUOptions{ISA: isa, Threads: 1})
		e3 := newCPUEngine(t, m, B, CPUOptions{ISA: isa, Threads: 3})
		all, err := e1.Forward(context.Background(), px, B)
		require.NoError(t, err)
		all3, err := e3.Forward(context.Background(), px, B)
		require.NoError(t, err)
		require.Equal(t, all, all3, "1 vs 3 threads")
		for b := range B {
			one, err := e3.Forward(context.Background(), px[b*per:(b+1)*per], 1)
			require.NoError(t, err)
			require.Equal(t, all[b*L:(b+1)*L], one, "image %d alone vs in a batch of %d", b, B)
		}
	})
}

// TestCPUEngineConcurrent calls one engine from several goroutines with
// different batch sizes: every answer must be bit-identical to a single
// call's. Run with -race.
func TestCPUEngineConcurrent(t *testing.T) {
	c := tinyConfig(HeadDistilled)
	e := newCPUEngine(t, randomModel(t, c, 3), 4, CPUOptions{})
	ctx := context.Background()
	px4 := randomPixels(c, 4, 3)
	px1 := px4[:len(px4)/4]
	want4, err := e.Forward(ctx, px4, 4)
	require.NoError(t, err)
	want1, err := e.Forward(ctx, px1, 1)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				px, want := px4, want4
				if (g+i)%2 == 1 {
					px, want = px1, want1
				}
				got, err := e.Forward(ctx, px, len(want)/c.NumLabels)
				if err != nil {
					errs[g] = err
					return
				}
				for j := range got {
					if got[j] != want[j] {
						errs[g] = fmt.Errorf("goroutine %d run %d: logit %d = %v, want %v", g, i, j, got[j], want[j])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// TestCPUEngineNoAllocs: ForwardInto allocates nothing (Forward allocates
// only the logits it returns).
func TestCPUEngineNoAllocs(t *testing.T) {
	c := tinyConfig(HeadDistilled)
	e := newCPUEngine(t, randomModel(t, c, 4), 2, CPUOptions{})
	px := randomPixels(c, 2, 4)
	dst := make([]float32, 2*c.NumLabels)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(5, func() {
		if err := e.ForwardInto(ctx, dst, px, 2); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs, "allocations per ForwardInto")
	allocs = testing.AllocsPerRun(5, func() {
		if _, err := e.Forward(ctx, px, 2); err != nil {
			t.Fatal(err)
		}
	})
	require.Equal(t, 1.0, allocs, "allocations per Forward (the logits)")
}

func TestCPUEngineProfile(t *testing.T) {
	c := tinyConfig(HeadDistilled)
	e := newCPUEngine(t, randomModel(t, c, 5), 2, CPUOptions{})
	px := randomPixels(c, 2, 5)
	want, err := e.Forward(context.Background(), px, 2)
	require.NoError(t, err)
	got, times, err := e.Profile(context.Background(), px, 2)
	require.NoError(t, err)
	require.Equal(t, want, got)
	kinds := map[string]int{}
	var flops float64
	for _, d := range times {
		require.GreaterOrEqual(t, d.Nanos, 0.0, d.Label)
		kinds[d.Kernel]++
		flops += d.FLOPs
	}
	require.Equal(t, 4*c.Layers+2, kinds["matmul"])
	require.Equal(t, 2*c.Layers+1, kinds["layernorm"])
	require.Equal(t, c.Layers, kinds["attention"])
	require.Equal(t, "layer0.ln1", times[3].Label)
	require.InDelta(t, 2*c.FLOPs(), flops, 0.02*2*c.FLOPs(), "profiled FLOPs vs Config.FLOPs for 2 images")
}

func TestCPUEngineErrors(t *testing.T) {
	c := tinyConfig(HeadDistilled)
	m := randomModel(t, c, 1)
	_, err := NewCPUEngine(m, 0, CPUOptions{})
	require.ErrorContains(t, err, "batch size 0")
	_, err = NewCPUEngine(nil, 1, CPUOptions{})
	require.ErrorContains(t, err, "nil model")
	_, err = NewCPUEngine(m, 1, CPUOptions{Threads: -1})
	require.ErrorContains(t, err, "threads")
	_, err = NewCPUEngine(m, 1, CPUOptions{ISA: cpu.ISA(42)})
	require.ErrorContains(t, err, "not supported")
	_, err = NewCPUEngine(m, 1<<40, CPUOptions{})
	require.ErrorContains(t, err, "exceed")
	short := *m
	short.Weights = RandomWeights(c, 1)
	short.Weights.Layers[0].FC1W = short.Weights.Layers[0].FC1W[:10]
	_, err = NewCPUEngine(&short, 1, CPUOptions{})
	require.ErrorContains(t, err, "Layers[0].FC1W has 10 values")

	e := newCPUEngine(t, m, 2, CPUOptions{})
	ctx := context.Background()
	_, err = e.Forward(ctx, make([]float32, 10), 1)
	require.ErrorContains(t, err, "got 10 pixel values")
	_, err = e.Forward(ctx, randomPixels(c, 3, 1), 3)
	require.ErrorContains(t, err, "batch 3 outside 1..2")
	require.ErrorContains(t, e.ForwardInto(ctx, make([]float32, 3), randomPixels(c, 1, 1), 1), "logits buffer has 3")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = e.Forward(canceled, randomPixels(c, 1, 1), 1)
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, e.Name(), "threads")
	require.Equal(t, 2, e.MaxBatch())
	require.Equal(t, c.Hidden, e.Config().Hidden)

	require.NoError(t, e.Close())
	require.NoError(t, e.Close())
	px := randomPixels(c, 1, 1)
	_, err = e.Forward(ctx, px, 1)
	require.ErrorContains(t, err, "after Close")
	_, _, err = e.Profile(ctx, px, 1)
	require.ErrorContains(t, err, "after Close")
	_, _, err = e.ForwardHidden(ctx, px, 1)
	require.ErrorContains(t, err, "after Close")
}
