//go:build !purego

package cpu

// The assembly micro-kernels of gemm_amd64.s; see the header comments there
// for the register blocks and layouts.

//go:noescape
func gemmKernelAVX512(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int)

//go:noescape
func gemmKernelAVX2(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int)

// fmaPeakAVX512 and fmaPeakAVX2 only run FMAs, for BenchmarkPeak.
//
//go:noescape
func fmaPeakAVX512(n int)

//go:noescape
func fmaPeakAVX2(n int)
