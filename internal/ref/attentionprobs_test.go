package ref

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAttentionProbs(t *testing.T) {
	// B=1 T=2 H=1 Dh=1, fused rows [q | k | v]: query 0 is 0 (equal scores),
	// query 1 is 1 against keys 0 and ln 3: weights 1/4 and 3/4.
	l3 := float32(math.Log(3))
	qkv := []float32{0, 0, 5, 1, l3, 7}
	got := AttentionProbs(qkv, 1, 2, 1, 1, 1)
	require.InDeltaSlice(t, []float64{0.5, 0.5, 0.25, 0.75}, got, 1e-7)

	// Random heads: every row sums to 1, and P·V is Attention.
	const B, T, H, Dh = 2, 5, 3, 4
	D := H * Dh
	r := rand.New(rand.NewPCG(1, 2))
	qkv = make([]float32, B*T*3*D)
	for i := range qkv {
		qkv[i] = float32(r.NormFloat64())
	}
	p := AttentionProbs(qkv, B, T, H, Dh, 0.5)
	att := Attention(qkv, qkv[D:], qkv[2*D:], 3*D, B, T, H, Dh, 0.5)
	for b := range B {
		for h := range H {
			for q := range T {
				row := p[((b*H+h)*T+q)*T:][:T]
				var sum float64
				for _, v := range row {
					sum += v
				}
				require.InDelta(t, 1, sum, 1e-15)
				for e := range Dh {
					var pv float64
					for k, w := range row {
						pv += w * float64(qkv[(b*T+k)*3*D+2*D+h*Dh+e])
					}
					require.InDelta(t, att[(b*T+q)*D+h*Dh+e], pv, 1e-14)
				}
			}
		}
	}
}
