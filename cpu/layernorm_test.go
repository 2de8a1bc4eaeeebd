package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestLayerNorm(t *testing.T) {
	shapes := []struct{ rows, D int }{{1, 1}, {3, 7}, {2, 16}, {5, 17}, {4, 31}, {3, 64}, {198, 384}, {3, 1001}}
	forEachISA(t, func(t *testing.T, isa ISA) {
		k := newKernels(t, isa, 2)
		for si, sh := range shapes {
			t.Run(fmt.Sprintf("%dx%d", sh.rows, sh.D), func(t *testing.T) {
				rows, D := sh.rows, sh.D
				x := randSlice(uint64(si), rows*D, -3, 3)
				for i := range x {
					x[i] += 10 // a mean far from zero: a one-pass variance would cancel
				}
				g := randSlice(uint64(si+50), D, 0.5, 1.5)
				b := randSlice(uint64(si+60), D, -1, 1)
				const eps = 1e-6
				want := ref.LayerNorm(x, g, b, rows, D, eps)
				// The float32 sums err by up to D·u relative to Σ|x| (the
				// mean) and Σ(x−μ)² (the variance, so inv by half that);
				// (x − μ)·inv·g + b adds a few roundings.
				bound := func(i int) float64 {
					r, c := i/D, i%D
					var mean, absMean, ss float64
					for _, v := range x[r*D : (r+1)*D] {
						mean += float64(v)
						absMean += math.Abs(float64(v))
					}
					mean, absMean = mean/float64(D), absMean/float64(D)
					for _, v := range x[r*D : (r+1)*D] {
						ss += (float64(v) - mean) * (float64(v) - mean)
					}
					inv := 1 / math.Sqrt(ss/float64(D)+eps)
					dx := math.Abs(float64(x[i]) - mean)
					e := float64(D+8) * u
					return e*math.Abs(float64(g[c]))*inv*(absMean+dx) + 4*u*(math.Abs(want[i])+math.Abs(float64(b[c])))
				}
				y := poisoned(rows * D)
				require.NoError(t, k.LayerNorm(y, x, g, b, rows, D, eps))
				checkBound(t, "vs ref", y, want, bound)
				gen := make([]float32, rows*D)
				for r := range rows {
					layerNormGeneric(gen[r*D:(r+1)*D], x[r*D:(r+1)*D], g, b, eps)
				}
				checkBound(t, "vs generic", y, ref.F64(gen), func(i int) float64 { return 2 * bound(i) })
				inPlace := append([]float32(nil), x...)
				require.NoError(t, k.LayerNorm(inPlace, inPlace, g, b, rows, D, eps))
				bitsEqual(t, "in place", y, inPlace)
			})
		}
	})
}

func TestLayerNormErrors(t *testing.T) {
	k := newKernels(t, Auto, 1)
	x := make([]float32, 12)
	g := make([]float32, 4)
	require.ErrorContains(t, k.LayerNorm(x, x[:7], g, g, 2, 4, 1e-5), "x has 7")
	require.ErrorContains(t, k.LayerNorm(x, x, g[:3], g, 2, 4, 1e-5), "gamma has 3")
	require.ErrorContains(t, k.LayerNorm(x, x, g, g, 2, 0, 1e-5), "out of range")
	require.ErrorContains(t, k.LayerNorm(x, x, g, g, 2, 4, float32(math.NaN())), "eps")
	require.ErrorContains(t, k.LayerNorm(x[1:9], x[:8], g, g, 2, 4, 1e-5), "partly overlaps")
	require.NoError(t, k.LayerNorm(nil, nil, g, g, 0, 4, 1e-5))
}
