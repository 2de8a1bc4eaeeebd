//go:build !amd64 || purego

package cpu

// Without the assembly, the native bf16 units are never selected
// (Supported reports false); these stand-ins only keep the dispatch
// compiling.

func gemmKernelBF16AVX512(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, pf *float32, pfn int) {
	panic("cpu: AVX512_BF16 kernel in a build without assembly")
}

func gemmKernelAMX(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, cfg *amxConfig) {
	panic("cpu: AMX kernel in a build without assembly")
}

func roundRowsBF16AVX512(dst *uint16, ldd int, src *float32, lds int, rows int, n int) {
	panic("cpu: AVX512_BF16 rounding in a build without assembly")
}

func dpPeakBF16AVX512(n int) {
	panic("cpu: AVX512_BF16 kernel in a build without assembly")
}
