//go:build !arm64 || purego

package cpu

func layerNormNEON(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32) {
	panic("cpu: NEON kernel in a build without arm64 assembly")
}
