//go:build !purego

package cpu

// The assembly LayerNorm row of layernorm_arm64.s.

//go:noescape
func layerNormNEON(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32)
