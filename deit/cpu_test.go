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

func TestForwardCPUInputErrors(t *testing.T) {
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
			_, err := tc.m.ForwardCPU(context.Background(), make([]float32, tc.pixels), tc.batch)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestForwardCPUCanceled(t *testing.T) {
	cfg := cpuTinyConfig(HeadDistilled)
	m := &Model{Config: cfg, Weights: RandomWeights(cfg, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.ForwardCPU(ctx, make([]float32, 3*20*20), 1)
	require.ErrorIs(t, err, context.Canceled)
}

// TestForwardCPUShapes runs every head kind on an image size that is not a
// multiple of the patch size (the remainder is dropped, like PyTorch's conv).
func TestForwardCPUShapes(t *testing.T) {
	for _, head := range []HeadKind{HeadDistilled, HeadClassifier, HeadDistilledClassifier} {
		t.Run(head.String(), func(t *testing.T) {
			cfg := cpuTinyConfig(head)
			m := &Model{Config: cfg, Weights: RandomWeights(cfg, 7)}
			const B = 3
			res, err := m.ForwardCPU(context.Background(), noisePixels(B*3*20*20, 2), B)
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

// TestPatchifyMatchesConv checks the patch embedding against the
// convolution formula of deit-spec.md §2.2 written out directly.
func TestPatchifyMatchesConv(t *testing.T) {
	const B, C, H, W, P, D = 2, 3, 17, 13, 4, 5 // remainders dropped on both axes
	pixels := noisePixels(B*C*H*W, 3)
	wgt := noisePixels(D*C*P*P, 4)
	bias := noisePixels(D, 5)
	gh, gw := H/P, W/P
	got := linear(patchify(pixels, B, C, H, W, P), wgt, bias, B*gh*gw, C*P*P, D)
	for b := range B {
		for py := range gh {
			for px := range gw {
				for o := range D {
					want := float64(bias[o])
					for c := range C {
						for ky := range P {
							for kx := range P {
								want += float64(wgt[((o*C+c)*P+ky)*P+kx]) * float64(pixels[((b*C+c)*H+P*py+ky)*W+P*px+kx])
							}
						}
					}
					n := py*gw + px
					require.InDelta(t, want, got[((b*gh*gw)+n)*D+o], 1e-5, "b=%d patch=%d o=%d", b, n, o)
				}
			}
		}
	}
}

// TestAttentionSmall checks attention on a case small enough to write out:
// one image, two tokens, one head of width 1.
func TestAttentionSmall(t *testing.T) {
	q := []float32{1, 2}
	k := []float32{3, -1}
	v := []float32{10, 20}
	got := attention(q, k, v, 1, 2, 1, 1)
	for t0, qv := range q {
		s0, s1 := float64(qv)*3, float64(qv)*-1
		p0 := math.Exp(s0) / (math.Exp(s0) + math.Exp(s1))
		require.InDelta(t, p0*10+(1-p0)*20, got[t0], 1e-5)
	}
}

func TestLayerNormSmall(t *testing.T) {
	got := layerNorm([]float32{1, 2, 3, 4, 10, 10}, []float32{2, 1}, []float32{0, 0.5}, 3, 2, 1e-12)
	require.InDeltaSlice(t, []float32{-2, 1.5, -2, 1.5, 0, 0.5}, got, 1e-6)
}

// BenchmarkForwardCPU measures the CPU reference on the full
// deit-small-distilled shape (random weights) at batch 1 and 8.
func BenchmarkForwardCPU(b *testing.B) {
	cfg, err := Preset("small-distilled")
	require.NoError(b, err)
	m := &Model{Config: cfg, Weights: RandomWeights(cfg, 1)}
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("small-distilled/B%d", batch), func(b *testing.B) {
			pixels := noisePixels(batch*3*224*224, 1)
			for b.Loop() {
				if _, err := m.ForwardCPU(context.Background(), pixels, batch); err != nil {
					b.Fatal(err)
				}
			}
			imgs := float64(b.N * batch)
			b.ReportMetric(imgs/b.Elapsed().Seconds(), "img/s")
			b.ReportMetric(cfg.FLOPs()*imgs/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
