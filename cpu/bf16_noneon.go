//go:build !arm64 || purego

package cpu

// Without the arm64 assembly, BF16NEON is never selected (Supported reports
// false); this stand-in only keeps the dispatch compiling.

func gemmKernelBF16NEON(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, pf *float32, pfn int) {
	panic("cpu: BFDOT kernel in a build without arm64 assembly")
}
