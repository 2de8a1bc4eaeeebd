package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/ref"
)

// probsBound bounds the error of one probability p of query row t, head h.
// Its score is a float32 dot product of Dh terms, off by δ ≤
// (Dh+2)·u·scale·Σ|q·k|; shifting the scores by δ_u multiplies p_u by
// exp(δ_u − Σ_v p_v·δ_v), a relative change of at most 2·max δ (to first
// order); exp, the sum of T weights and the normalization add (T + 16)·u
// relative. Weights whose scaled score lies more than 60 below the row's
// maximum are flushed to 0 by the vector exp: e⁻⁶⁰ absolute.
func probsBound(qkv []float32, want []float64, B, T, H, Dh int, scale float64) func(i int) float64 {
	D := H * Dh
	stride := 3 * D
	bounds := make([]float64, B*H*T*T)
	for b := range B {
		for h := range H {
			for t := range T {
				var smax float64
				for u := range T {
					var s float64
					for e := range Dh {
						s += math.Abs(float64(qkv[(b*T+t)*stride+h*Dh+e]) * float64(qkv[(b*T+u)*stride+D+h*Dh+e]))
					}
					smax = math.Max(smax, s*scale)
				}
				rel := 2*float64(Dh+2)*u*smax + float64(T+16)*u
				row := ((b*H+h)*T + t) * T
				for v := range T {
					bounds[row+v] = want[row+v]*rel*1.01 + math.Exp(-60)
				}
			}
		}
	}
	return func(i int) float64 { return bounds[i] + 1e-30 }
}

// TestAttentionProbs checks the probabilities against the float64 twin on
// every ISA, each image alone against the batch (the same bits), and that
// they are exactly what Attention multiplies V by: Attention's output
// recomputed from them in float64 stays within Attention's own bound.
func TestAttentionProbs(t *testing.T) {
	forEachISA(t, func(t *testing.T, isa ISA) {
		k := newKernels(t, isa, 2)
		for si, sh := range attentionShapes {
			B, T, H, Dh := sh.B, sh.T, sh.H, sh.Dh
			t.Run(fmt.Sprintf("B%d_T%d_H%d_Dh%d", B, T, H, Dh), func(t *testing.T) {
				D := H * Dh
				qkv := randSlice(uint64(si), B*T*3*D, -2, 2)
				scale := 1 / math.Sqrt(float64(Dh))
				want := ref.AttentionProbs(qkv, B, T, H, Dh, scale)
				out := poisoned(B * H * T * T)
				require.NoError(t, k.AttentionProbs(out, qkv, B, T, H, Dh, float32(scale)))
				checkBound(t, "vs ref", out, want, probsBound(qkv, want, B, T, H, Dh, scale))
				for b := range B {
					one := poisoned(H * T * T)
					require.NoError(t, k.AttentionProbs(one, qkv[b*T*3*D:(b+1)*T*3*D], 1, T, H, Dh, float32(scale)))
					bitsEqual(t, fmt.Sprintf("image %d alone", b), out[b*H*T*T:(b+1)*H*T*T], one)
				}
				// P·V from these probabilities is Attention's output.
				att := poisoned(B * T * D)
				require.NoError(t, k.Attention(att, qkv, B, T, H, Dh, float32(scale)))
				pv := make([]float64, B*T*D)
				for b := range B {
					for h := range H {
						for q := range T {
							for v := range T {
								p := float64(out[((b*H+h)*T+q)*T+v])
								for e := range Dh {
									pv[(b*T+q)*D+h*Dh+e] += p * float64(qkv[(b*T+v)*3*D+2*D+h*Dh+e])
								}
							}
						}
					}
				}
				bound := attentionBound(qkv, B, T, H, Dh, scale)
				checkBound(t, "Attention vs probabilities·V", att, pv, func(i int) float64 { return 2 * bound(i) })
			})
		}
	})
}

func TestAttentionProbsErrors(t *testing.T) {
	k := newKernels(t, Auto, 1)
	qkv := make([]float32, 2*3*4) // B=1 T=2 H=2 Dh=2
	out := make([]float32, 2*2*2)
	require.ErrorContains(t, k.AttentionProbs(out, qkv[:5], 1, 2, 2, 2, 1), "qkv has 5")
	require.ErrorContains(t, k.AttentionProbs(out[:7], qkv, 1, 2, 2, 2, 1), "out has 7")
	require.ErrorContains(t, k.AttentionProbs(out, qkv, 1, 2, 2, 2, float32(math.Inf(1))), "scale")
	require.ErrorContains(t, k.AttentionProbs(out, qkv, 1, 0, 2, 2, 1), "out of range")
	require.ErrorContains(t, k.AttentionProbs(qkv[4:], qkv, 1, 2, 2, 2, 1), "overlaps")
	require.NoError(t, k.AttentionProbs(nil, nil, 0, 2, 2, 2, 1))
	k.Close()
	require.ErrorIs(t, k.AttentionProbs(out, qkv, 1, 2, 2, 2, 1), errClosed)
}
