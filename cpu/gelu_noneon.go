//go:build !arm64 || purego

package cpu

func geluNEON(dst, src []float32) {
	panic("cpu: NEON kernel in a build without arm64 assembly")
}
