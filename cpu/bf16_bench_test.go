package cpu

import (
	"fmt"
	"testing"
)

// BenchmarkGemmBF16 reports GFLOPS of the bf16 products (weights packed by
// PackLinearBF16, A rounded per call) on gemmBenchShapes, per native bf16
// unit, with one and two threads: compare with BenchmarkGemm's fp32 figures
// of the same shapes.
func BenchmarkGemmBF16(b *testing.B) {
	// The shapes' weights are [K, N]; PackLinearBF16 reads nn.Linear's
	// [N, K]: the same random values, laid out as it wants them.
	pack := func(w []float32, K, N int) *PackedB { return must(PackLinearBF16(w, N, K)) }
	for _, d := range BF16Dots() {
		if !d.Native() || !d.Supported() {
			continue
		}
		for _, threads := range []int{1, 2} {
			k, err := NewBF16(Best(), d, threads)
			if err != nil {
				b.Fatal(err)
			}
			for _, sh := range gemmBenchShapes {
				b.Run(fmt.Sprintf("%s/%v/t%d", sh.name, d, threads), func(b *testing.B) { benchGemmShape(b, k, sh, pack) })
			}
			k.Close()
		}
	}
}
