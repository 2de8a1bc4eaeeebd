package ref

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The twins are the oracles every kernel test uses, so they are checked here
// against values worked out by hand and against identities.

func TestGELU(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{0, 0}, {1, 0.8413447460685429}, {-1, -0.15865525393145707}, {3, 2.99595030590511},
	} {
		require.InDelta(t, c.want, GELU(c.x), 1e-15, "GELU(%g)", c.x)
	}
}

func TestMatmulAndLinear(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6} // [2,3]
	w := []float32{1, 0, 0, 1, 1, 1} // [3,2]
	bias := []float32{0.5, -1}
	r := []float32{10, 20, 30, 40}
	require.Equal(t, []float64{4.5, 4, 10.5, 10}, Matmul(a, w, bias, nil, 2, 2, 3, EpilogueNone))
	require.Equal(t, []float64{14.5, 24, 40.5, 50}, Matmul(a, w, bias, r, 2, 2, 3, EpilogueResidual))
	g := Matmul(a, w, nil, nil, 2, 2, 3, EpilogueGELU)
	require.InDelta(t, GELU(4), g[0], 1e-15)
	// Linear takes the nn.Linear layout [out,in] = wᵀ.
	wt := []float32{1, 0, 1, 0, 1, 1}
	require.Equal(t, []float64{4.5, 4, 10.5, 10}, Linear(a, wt, bias, 2, 3, 2))
	// Row counts that are not a multiple of the 4-row block.
	for _, rows := range []int{1, 5, 9} {
		x := make([]float32, rows*3)
		for i := range x {
			x[i] = float32(i)
		}
		y := Linear(x, wt, nil, rows, 3, 2)
		for i := range rows {
			require.Equal(t, float64(x[i*3]+x[i*3+2]), y[i*2], "rows %d row %d", rows, i)
		}
	}
}

func TestAttention(t *testing.T) {
	// One key: softmax is 1 and the output is V.
	qkv := []float32{1, 2, 3, 4, 5, 6} // B=1 T=1 H=1 Dh=2, fused
	require.Equal(t, []float64{5, 6}, Attention(qkv, qkv[2:], qkv[4:], 6, 1, 1, 1, 2, 1))
	// Two keys with equal scores average the values; separate Q, K, V.
	q := []float32{0, 0, 0, 0}
	k := []float32{1, 1, 2, 2}
	v := []float32{1, 3, 5, 7}
	require.Equal(t, []float64{3, 5, 3, 5}, Attention(q, k, v, 2, 1, 2, 1, 2, 1))
	// Scores 0 and ln 3: weights 1/4 and 3/4.
	q = []float32{1, 0}
	k = []float32{0, float32(math.Log(3))}
	v = []float32{4, 8}
	got := Attention(q, k, v, 1, 1, 2, 1, 1, 1)
	require.InDelta(t, 7, got[0], 1e-6)
}

func TestLayerNorm(t *testing.T) {
	y := LayerNorm([]float32{1, 2, 3, 4}, []float32{1, 1, 1, 1}, []float32{0, 0, 0, 1}, 1, 4, 0)
	s := math.Sqrt(1.25)
	require.InDeltaSlice(t, []float64{-1.5 / s, -0.5 / s, 0.5 / s, 1 + 1.5/s}, y, 1e-15)
}

func TestGlue(t *testing.T) {
	// 1 image, 1 channel, 2×4 pixels, P=2: two patches of four.
	px := []float32{0, 1, 2, 3, 4, 5, 6, 7}
	require.Equal(t, []float32{0, 1, 4, 5, 2, 3, 6, 7}, Patchify(px, 1, 1, 2, 4, 2))
	// A 5-wide image drops its last column.
	require.Equal(t, []float32{0, 1, 5, 6, 2, 3, 7, 8}, Patchify([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 2, 5, 2))
	tok := Tokens([]float32{10, 20}, []float32{1}, []float32{0.5, 0.25, 0.125}, 1, 3, 1, 1)
	require.Equal(t, []float32{1.5, 10.25, 20.125}, tok)
	require.Equal(t, []float32{1, 2, 5, 6}, GatherRows([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 1, 2))
}

func TestSoftmax(t *testing.T) {
	p := Softmax([]float32{0, float32(math.Log(3)), -1000})
	require.InDelta(t, 0.25, p[0], 1e-7)
	require.InDelta(t, 0.75, p[1], 1e-7)
	require.Equal(t, 0.0, p[2])
}

// noise returns n standard-normal values, deterministic in seed.
func noise(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

// TestPatchifyMatchesConv checks the patch embedding against the
// convolution formula of docs/numerics.md written out directly.
func TestPatchifyMatchesConv(t *testing.T) {
	const B, C, H, W, P, D = 2, 3, 17, 13, 4, 5 // remainders dropped on both axes
	pixels := noise(B*C*H*W, 3)
	wgt := noise(D*C*P*P, 4)
	bias := noise(D, 5)
	gh, gw := H/P, W/P
	got := Linear(Patchify(pixels, B, C, H, W, P), wgt, bias, B*gh*gw, C*P*P, D)
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
	got := Attention(q, k, v, 1, 1, 2, 1, 1, 1)
	for t0, qv := range q {
		s0, s1 := float64(qv)*3, float64(qv)*-1
		p0 := math.Exp(s0) / (math.Exp(s0) + math.Exp(s1))
		require.InDelta(t, p0*10+(1-p0)*20, got[t0], 1e-5)
	}
}

func TestLayerNormSmall(t *testing.T) {
	got := LayerNorm([]float32{1, 2, 3, 4, 10, 10}, []float32{2, 1}, []float32{0, 0.5}, 3, 2, 1e-12)
	require.InDeltaSlice(t, []float64{-2, 1.5, -2, 1.5, 0, 0.5}, got, 1e-6)
}
