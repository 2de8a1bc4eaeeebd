//go:build !amd64 || purego

package cpu

import "unsafe"

func softmaxAVX512(p *float32, n int, scale float32, c *vecConsts) {
	panic("cpu: AVX-512 kernel in a build without assembly")
}

func softmaxAVX2(p *float32, n int, scale float32, c *vecConsts) {
	panic("cpu: AVX2 kernel in a build without assembly")
}

func gatherColsAVX512(dst, src unsafe.Pointer, ld int, n int, mask int, iota *[16]int32) {
	panic("cpu: AVX-512 kernel in a build without assembly")
}

func interleavePairsAVX512(dst *uint32, src *uint16, ld int, n int, idx *[2][32]uint16) {
	panic("cpu: AVX-512 kernel in a build without assembly")
}
