//go:build !purego

package cpu

// The BFDOT micro-kernel of gemm_bf16_arm64.s; see the comments there.

//go:noescape
func gemmKernelBF16NEON(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, pf *float32, pfn int)
