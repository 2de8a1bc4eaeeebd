package cpu

import "math"

// layerNormGeneric is the Go twin of the assembly LayerNorm row: the same
// two passes (mean, then the biased variance about it), accumulated in
// float64, and y = (x − mean)·inv·g + b rounded once to float32.
func layerNormGeneric(y, x, g, b []float32, eps float32) {
	n := len(x)
	y, g, b = y[:n], g[:n], b[:n]
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(n)
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	inv := 1 / math.Sqrt(ss/float64(n)+float64(eps))
	for i, v := range x {
		y[i] = float32((float64(v)-mean)*inv*float64(g[i]) + float64(b[i]))
	}
}
