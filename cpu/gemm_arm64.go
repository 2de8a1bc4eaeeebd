//go:build !purego

package cpu

// The assembly micro-kernel of gemm_arm64.s; see its header comment for the
// register block and layouts.

//go:noescape
func gemmKernelNEON(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int)

// fmaPeakNEON only runs FMAs, for BenchmarkPeak.
//
//go:noescape
func fmaPeakNEON(n int)
