package cpu

import "math"

// expMin is the argument below which the vectorized exp returns 0 (see
// vecmath.go).
const expMin = -60

// geluGeneric is the Go twin of the assembly GELU: the formula of
// vecmath_amd64.h (and shaders/gelu.glsl) in float32, with math.Exp.
func geluGeneric(dst, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = gelu32(x)
	}
}

func gelu32(x float32) float32 {
	z := x * 0.70710678118654752
	t := float32(math.Abs(float64(z)))
	h := 0.5 * x
	if t < 1 {
		s := z * z
		p := erfSmall[0]
		for _, c := range erfSmall[1:] {
			p = p*s + c
		}
		return h * (1 + z*p)
	}
	u := 1 / (1 + 0.5*min(t, 4.5))
	q := erfcLarge[0]
	for _, c := range erfcLarge[1:] {
		q = q*u + c
	}
	var e float32
	if y := -t * t; y >= expMin { // the vector exp's flush to 0 below −60
		e = h * (float32(math.Exp(float64(y))) * q)
	}
	if x >= 0 {
		return x - e
	}
	return e
}
