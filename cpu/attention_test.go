package cpu

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/ref"
)

var attentionShapes = []struct{ B, T, H, Dh int }{
	{1, 1, 1, 1}, {2, 3, 2, 5}, {1, 7, 1, 16}, {1, 33, 2, 64}, {3, 31, 2, 33}, {1, 197, 3, 32}, {2, 198, 6, 64},
}

// attentionBound bounds the error of one output element of query row, head
// h, column e. A score s = scale·q·k is a float32 dot product of Dh terms,
// off by δ ≤ (Dh+2)·u·scale·Σ|q·k|; a shift δ_u of score u moves the output
// by at most 2·max_u δ_u · max_u |v_u,e| (softmax is 1-Lipschitz in that
// sense), and exp, the sum of T weights, the normalization and the sum over
// T products add (T + 16)·u·max|v|.
func attentionBound(qkv []float32, B, T, H, Dh int, scale float64) func(i int) float64 {
	D := H * Dh
	stride := 3 * D
	bounds := make([]float64, B*T*D)
	for b := range B {
		for h := range H {
			vmax := make([]float64, Dh)
			for u := range T {
				for e := range Dh {
					vmax[e] = math.Max(vmax[e], math.Abs(float64(qkv[(b*T+u)*stride+2*D+h*Dh+e])))
				}
			}
			for t := range T {
				var smax float64
				for u := range T {
					var s float64
					for e := range Dh {
						s += math.Abs(float64(qkv[(b*T+t)*stride+h*Dh+e]) * float64(qkv[(b*T+u)*stride+D+h*Dh+e]))
					}
					smax = math.Max(smax, s*scale)
				}
				for e := range Dh {
					bounds[(b*T+t)*D+h*Dh+e] = (2*float64(Dh+2)*u*smax + float64(T+16)*u) * vmax[e]
				}
			}
		}
	}
	return func(i int) float64 { return bounds[i] + 1e-30 }
}

func TestAttention(t *testing.T) {
	forEachISA(t, func(t *testing.T, isa ISA) {
		k := newKernels(t, isa, 2)
		gen := newKernels(t, Generic, 1)
		for si, sh := range attentionShapes {
			B, T, H, Dh := sh.B, sh.T, sh.H, sh.Dh
			t.Run(fmt.Sprintf("B%d_T%d_H%d_Dh%d", B, T, H, Dh), func(t *testing.T) {
				D := H * Dh
				qkv := randSlice(uint64(si), B*T*3*D, -2, 2)
				scale := 1 / math.Sqrt(float64(Dh))
				want := ref.Attention(qkv, qkv[D:], qkv[2*D:], 3*D, B, T, H, Dh, scale)
				bound := attentionBound(qkv, B, T, H, Dh, scale)
				out := poisoned(B * T * D)
				require.NoError(t, k.Attention(out, qkv, B, T, H, Dh, float32(scale)))
				checkBound(t, "vs ref", out, want, bound)
				outG := poisoned(B * T * D)
				require.NoError(t, gen.Attention(outG, qkv, B, T, H, Dh, float32(scale)))
				checkBound(t, "vs generic", out, ref.F64(outG), func(i int) float64 { return 2 * bound(i) })
				// Each image alone gives the same bits as in the batch
				// (the query chunks change with B; the arithmetic does not).
				for b := range B {
					one := poisoned(T * D)
					require.NoError(t, k.Attention(one, qkv[b*T*3*D:(b+1)*T*3*D], 1, T, H, Dh, float32(scale)))
					bitsEqual(t, fmt.Sprintf("image %d alone", b), out[b*T*D:(b+1)*T*D], one)
				}
			})
		}
	})
}

func TestAttentionConcurrent(t *testing.T) {
	const B, T, H, Dh = 2, 50, 3, 16
	k := newKernels(t, Auto, 2)
	qkv := randSlice(7, B*T*3*H*Dh, -1, 1)
	want := make([]float32, B*T*H*Dh)
	require.NoError(t, k.Attention(want, qkv, B, T, H, Dh, 0.25))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, len(want))
			for range 10 {
				if errs[g] = k.Attention(out, qkv, B, T, H, Dh, 0.25); errs[g] != nil {
					return
				}
				for i := range out {
					if out[i] != want[i] {
						errs[g] = fmt.Errorf("goroutine %d: element %d = %v, want %v", g, i, out[i], want[i])
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

func TestAttentionErrors(t *testing.T) {
	k := newKernels(t, Auto, 1)
	qkv := make([]float32, 2*3*4)
	out := make([]float32, 2*4)
	require.ErrorContains(t, k.Attention(out, qkv[:5], 1, 2, 2, 2, 1), "qkv has 5")
	require.ErrorContains(t, k.Attention(out[:3], qkv, 1, 2, 2, 2, 1), "out has 3")
	require.ErrorContains(t, k.Attention(out, qkv, 1, 2, 2, 2, 0), "scale")
	require.ErrorContains(t, k.Attention(out, qkv, 1, 0, 2, 2, 1), "out of range")
	require.ErrorContains(t, k.Attention(qkv[4:], qkv, 1, 2, 2, 2, 1), "overlaps")
	require.NoError(t, k.Attention(nil, nil, 0, 2, 2, 2, 1))
}
