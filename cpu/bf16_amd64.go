//go:build !purego

package cpu

// The bf16 assembly of gemm_bf16_amd64.s; see the comments there.

//go:noescape
func gemmKernelBF16AVX512(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, pf *float32, pfn int)

//go:noescape
func gemmKernelAMX(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, cfg *amxConfig)

//go:noescape
func roundRowsBF16AVX512(dst *uint16, ldd int, src *float32, lds int, rows int, n int)

func xgetbv0() uint64

// dpPeakBF16AVX512 only runs VDPBF16PS, for BenchmarkPeak.
//
//go:noescape
func dpPeakBF16AVX512(n int)
