//go:build !arm64 || purego

package cpu

// Without the arm64 assembly, NEON is never selected (Supported reports
// false); these stand-ins only keep the dispatch compiling.

func gemmKernelNEON(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int) {
	panic("cpu: NEON kernel in a build without arm64 assembly")
}

func fmaPeakNEON(n int) { panic("cpu: NEON kernel in a build without arm64 assembly") }
