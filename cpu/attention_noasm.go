//go:build !amd64 || purego

package cpu

func softmaxAVX512(p *float32, n int, scale float32, c *vecConsts) {
	panic("cpu: AVX-512 kernel in a build without assembly")
}

func softmaxAVX2(p *float32, n int, scale float32, c *vecConsts) {
	panic("cpu: AVX2 kernel in a build without assembly")
}
