//go:build !arm64 || purego

package cpu

func softmaxNEON(p *float32, n int, scale float32, c *vecConsts) {
	panic("cpu: NEON kernel in a build without arm64 assembly")
}
