package ref

import "math"

// GELU is the exact GELU, x·Φ(x) = ½·x·(1 + erf(x/√2)), as torch.nn.GELU()
// with approximate="none" (what DeiT's "gelu" activation is).
func GELU(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

// GELUs applies GELU to every element.
func GELUs(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = GELU(float64(v))
	}
	return out
}
