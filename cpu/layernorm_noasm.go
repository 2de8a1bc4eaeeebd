//go:build !amd64 || purego

package cpu

func layerNormAVX512(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32) {
	panic("cpu: AVX-512 kernel in a build without assembly")
}

func layerNormAVX2(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32, mask *[16]int32) {
	panic("cpu: AVX2 kernel in a build without assembly")
}
