//go:build !amd64 || purego

package cpu

// Without the assembly, the AVX kernels are never selected (Supported
// reports false); these stand-ins only keep the dispatch compiling.

func gemmKernelAVX512(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int) {
	panic("cpu: AVX-512 kernel in a build without assembly")
}

func gemmKernelAVX2(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int) {
	panic("cpu: AVX2 kernel in a build without assembly")
}

func fmaPeakAVX512(n int) { panic("cpu: AVX-512 kernel in a build without assembly") }

func fmaPeakAVX2(n int) { panic("cpu: AVX2 kernel in a build without assembly") }
