package cpu

import "math"

// softmaxGeneric is the Go twin of the assembly softmax row: p[i] =
// exp(scale·(p[i] − max)) / Σ in float32, with math.Exp and the vector
// exp's flush to 0 below −60.
func softmaxGeneric(p []float32, scale float32) {
	m := float32(math.Inf(-1))
	for _, v := range p {
		m = max(m, v)
	}
	var sum float32
	for i, v := range p {
		var e float32
		if y := (v - m) * scale; y >= expMin {
			e = float32(math.Exp(float64(y)))
		}
		p[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range p {
		p[i] *= inv
	}
}
