package cpu

import (
	"fmt"
	"testing"
)

// BenchmarkGemmBF16 reports GFLOPS of the bf16 products (weights packed by
// PackLinearBF16, A rounded per call) at DeiT-small's fc1 and fc2 shapes,
// per native bf16 unit, with one and two threads: compare with
// BenchmarkGemm's fp32 figures of the same shapes.
func BenchmarkGemmBF16(b *testing.B) {
	shapes := []struct {
		name    string
		M, N, K int
		ep      Epilogue
	}{
		{"fc1", 200, 1536, 384, EpilogueGELU},
		{"fc1-nogelu", 200, 1536, 384, EpilogueNone},
		{"fc1-b8", 1584, 1536, 384, EpilogueGELU},
		{"qkv", 200, 1152, 384, EpilogueNone},
		{"fc2", 200, 384, 1536, EpilogueResidual},
		{"fc2-b8", 1584, 384, 1536, EpilogueResidual},
	}
	for _, d := range BF16Dots() {
		if !d.Native() || !d.Supported() {
			continue
		}
		for _, threads := range []int{1, 2} {
			k, err := NewBF16(AVX512, d, threads)
			if err != nil {
				b.Fatal(err)
			}
			for _, sh := range shapes {
				b.Run(fmt.Sprintf("%s/%v/t%d", sh.name, d, threads), func(b *testing.B) {
					a := randSlice(1, sh.M*sh.K, -1, 1)
					pb := must(PackLinearBF16(randSlice(2, sh.K*sh.N, -0.05, 0.05), sh.N, sh.K))
					bias := randSlice(3, sh.N, -1, 1)
					c := make([]float32, sh.M*sh.N)
					r := randSlice(4, sh.M*sh.N, -1, 1)
					b.ResetTimer()
					c0 := cpuSeconds()
					for b.Loop() {
						if err := k.Gemm(c, a, pb, bias, r, sh.M, sh.ep); err != nil {
							b.Fatal(err)
						}
					}
					reportFlops(b, 2*float64(sh.M*sh.N*sh.K)*float64(b.N), c0)
				})
			}
			k.Close()
		}
	}
}
