package ref

import (
	"math"

	"github.com/vkdeit/vkdeit/internal/par"
)

// LayerNorm is the twin of the layernorm kernels: each row of x [rows, D]
// minus its mean, divided by sqrt(biased variance + eps), times gamma plus
// beta, as torch.nn.LayerNorm computes it.
func LayerNorm(x, gamma, beta []float32, rows, D int, eps float64) []float64 {
	y := make([]float64, rows*D)
	par.Rows(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*D : (r+1)*D]
			var mean float64
			for _, v := range xr {
				mean += float64(v)
			}
			mean /= float64(D)
			var variance float64
			for _, v := range xr {
				dv := float64(v) - mean
				variance += dv * dv
			}
			inv := 1 / math.Sqrt(variance/float64(D)+eps)
			for i, v := range xr {
				y[r*D+i] = (float64(v)-mean)*inv*float64(gamma[i]) + float64(beta[i])
			}
		}
	})
	return y
}
