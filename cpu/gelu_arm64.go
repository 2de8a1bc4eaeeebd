//go:build !purego

package cpu

// The assembly GELU of gelu_arm64.s (formula in vecmath_arm64.h).

//go:noescape
func geluNEONAsm(dst *float32, src *float32, n int, c *vecConsts)

// geluNEON is GELU on one slice (len(dst) ≥ len(src)): whole vectors in the
// assembly, the last len mod 4 elements through a zero-padded copy on the
// stack, so no load or store goes past the slices.
func geluNEON(dst, src []float32) {
	n := len(src) &^ 3
	if n > 0 {
		geluNEONAsm(&dst[0], &src[0], n, vecTab)
	}
	if t := len(src) - n; t > 0 {
		var buf [4]float32
		copy(buf[:], src[n:])
		geluNEONAsm(&buf[0], &buf[0], 4, vecTab)
		copy(dst[n:len(src)], buf[:t])
	}
}
