package ref

import (
	"math"
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
