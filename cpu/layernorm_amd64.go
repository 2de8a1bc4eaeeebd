//go:build !purego

package cpu

// The assembly LayerNorm rows of layernorm_amd64.s.

//go:noescape
func layerNormAVX512(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32)

//go:noescape
func layerNormAVX2(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32, mask *[16]int32)
