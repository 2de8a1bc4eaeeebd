package deit

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// cpuTinyConfig is a small config for fast tests.
func cpuTinyConfig(head HeadKind) Config {
	c := Config{Hidden: 32, Layers: 2, Heads: 2, MLP: 64, ImageSize: 20, PatchSize: 8, Channels: 3,
		NumLabels: 5, Eps: 1e-6, Head: head}
	c.Labels = genericLabels(c.NumLabels)
	return c
}

// noisePixels returns n standard-normal values, deterministic in seed.
func noisePixels(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

func TestForwardReferenceInputErrors(t *testing.T) {
	cfg := cpuTinyConfig(HeadDistilled)
	m := &Model{Config: cfg, Weights: RandomWeights(cfg, 1)}
	n := 3 * 20 * 20
	for _, tc := range []struct {
		name    string
		m       *Model
		pixels  int
		batch   int
		wantErr string
	}{
		{"short", m, 2*n - 1, 2, "got 2399 pixel values, want B×C×H×W = 2×3×20×20 = 2400"},
		{"long", m, n + 1, 1, "got 1201 pixel values, want B×C×H×W = 1×3×20×20 = 1200"},
		{"zero batch", m, 0, 0, "batch size 0"},
		{"no weights", &Model{Config: cfg}, n, 1, "no weights"},
		{"short layer", &Model{Config: cfg, Weights: func() *Weights {
			w := RandomWeights(cfg, 1)
			w.Layers[1].FC1W = w.Layers[1].FC1W[:10]
			return w
		}()}, n, 1, "Layers[1].FC1W has 10 values, config needs 2048"},
		{"bad config", &Model{Config: Config{Hidden: 30, Heads: 4, Layers: 1, MLP: 8}}, n, 1, "not a multiple of 4 heads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.ForwardReference(context.Background(), make([]float32, tc.pixels), tc.batch)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestForwardReferenceCanceled(t *testing.T) {
	cfg := cpuTinyConfig(HeadDistilled)
	m := &Model{Config: cfg, Weights: RandomWeights(cfg, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.ForwardReference(ctx, make([]float32, 3*20*20), 1)
	require.ErrorIs(t, err, context.Canceled)
}

// TestForwardReferenceShapes runs every head kind on an image size that is not a
// multiple of the patch size (the remainder is dropped, like PyTorch's conv).
func TestForwardReferenceShapes(t *testing.T) {
	for _, head := range []HeadKind{HeadDistilled, HeadClassifier, HeadDistilledClassifier} {
		t.Run(head.String(), func(t *testing.T) {
			cfg := cpuTinyConfig(head)
			m := &Model{Config: cfg, Weights: RandomWeights(cfg, 7)}
			const B = 3
			res, err := m.ForwardReference(context.Background(), noisePixels(B*3*20*20, 2), B)
			require.NoError(t, err)
			require.Len(t, res.Logits, B*cfg.NumLabels)
			require.Len(t, res.Hidden, cfg.Layers)
			for _, h := range res.Hidden {
				require.Len(t, h, B*cfg.Tokens()*cfg.Hidden)
			}
			require.Equal(t, 4+cfg.Special(), cfg.Tokens())
			for _, v := range res.Logits {
				require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0))
			}
			require.NotEqual(t, res.Logits[:cfg.NumLabels], res.Logits[cfg.NumLabels:2*cfg.NumLabels], "different images, different logits")
		})
	}
}

// BenchmarkForwardReference measures the CPU reference on the full
// deit-small-distilled shape (random weights) at batch 1 and 8.
func BenchmarkForwardReference(b *testing.B) {
	cfg, err := Preset("small-distilled")
	require.NoError(b, err)
	m := &Model{Config: cfg, Weights: RandomWeights(cfg, 1)}
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("small-distilled/B%d", batch), func(b *testing.B) {
			pixels := noisePixels(batch*3*224*224, 1)
			for b.Loop() {
				if _, err := m.ForwardReference(context.Background(), pixels, batch); err != nil {
					b.Fatal(err)
				}
			}
			imgs := float64(b.N * batch)
			b.ReportMetric(imgs/b.Elapsed().Seconds(), "img/s")
			b.ReportMetric(cfg.FLOPs()*imgs/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
