//go:build !amd64 || purego

package cpu

func geluAVX512(dst *float32, src *float32, n int, c *vecConsts) {
	panic("cpu: AVX-512 kernel in a build without assembly")
}

func geluAVX2(dst *float32, src *float32, n int, c *vecConsts, mask *[16]int32) {
	panic("cpu: AVX2 kernel in a build without assembly")
}
