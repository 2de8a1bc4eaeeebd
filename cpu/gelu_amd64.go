//go:build !purego

package cpu

// The assembly GELU of gelu_amd64.s (formula in vecmath_amd64.h).

//go:noescape
func geluAVX512(dst *float32, src *float32, n int, c *vecConsts)

//go:noescape
func geluAVX2(dst *float32, src *float32, n int, c *vecConsts, mask *[16]int32)
