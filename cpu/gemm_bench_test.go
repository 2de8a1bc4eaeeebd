package cpu

import (
	"fmt"
	"testing"
)

// gemmBenchShape is one product the GEMM benchmarks time.
type gemmBenchShape struct {
	name    string
	M, N, K int
	ep      Epilogue
}

// gemmBenchShapes are DeiT-small's layer products at batch 1 (M = 200 ≈ 198
// tokens) and batch 8 (M = 1584), shared by the fp32 and bf16 benchmarks so
// that their figures compare shape for shape.
var gemmBenchShapes = []gemmBenchShape{
	{"fc1", 200, 1536, 384, EpilogueGELU},
	{"fc1-nogelu", 200, 1536, 384, EpilogueNone},
	{"fc1-b8", 1584, 1536, 384, EpilogueGELU},
	{"qkv", 200, 1152, 384, EpilogueNone},
	{"proj", 200, 384, 384, EpilogueResidual},
	{"fc2", 200, 384, 1536, EpilogueResidual},
	{"fc2-b8", 1584, 384, 1536, EpilogueResidual},
}

// benchGemmShape times k.Gemm on sh with the weight pack made (from a
// [K, N] random weight) and reports its GFLOPS.
func benchGemmShape(b *testing.B, k *Kernels, sh gemmBenchShape, pack func(w []float32, K, N int) *PackedB) {
	a := randSlice(1, sh.M*sh.K, -1, 1)
	pb := pack(randSlice(2, sh.K*sh.N, -0.05, 0.05), sh.K, sh.N)
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
}

// BenchmarkGemm reports GFLOPS (2·M·N·K per call) for gemmBenchShapes on
// each ISA with one and two threads.
func BenchmarkGemm(b *testing.B) {
	pack := func(w []float32, K, N int) *PackedB { return must(PackB(w, K, N)) }
	for _, isa := range ISAs() {
		if !isa.Supported() {
			continue
		}
		for _, threads := range []int{1, 2} {
			k, err := New(isa, threads)
			if err != nil {
				b.Fatal(err)
			}
			for _, sh := range gemmBenchShapes {
				if isa == Generic && sh.M > 200 {
					continue
				}
				b.Run(fmt.Sprintf("%s/%v/t%d", sh.name, isa, threads), func(b *testing.B) { benchGemmShape(b, k, sh, pack) })
			}
			k.Close()
		}
	}
}

// reportFlops reports GFLOPS over the wall time and "core-GFLOPS" over the
// CPU time the process used since c0 (per busy core: on a shared machine
// the wall figure also counts the time the workers waited for a core).
func reportFlops(b *testing.B, flops, c0 float64) {
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOPS")
	if cs := cpuSeconds() - c0; cs > 0 {
		b.ReportMetric(flops/cs/1e9, "core-GFLOPS")
	}
}

// BenchmarkPeak measures one core's FMA throughput (no memory traffic), and
// its bf16 dot products' where it has them: the ceilings the GEMM GFLOPS
// should be read against.
func BenchmarkPeak(b *testing.B) {
	for _, c := range []struct {
		name      string
		supported bool
		f         func(int)
		flops     float64
	}{
		{AVX2.String(), AVX2.Supported(), fmaPeakAVX2, 192},
		{AVX512.String(), AVX512.Supported(), fmaPeakAVX512, 512},
		{NEON.String(), NEON.Supported(), fmaPeakNEON, 192},
		{BF16AVX512.String(), BF16AVX512.Supported(), dpPeakBF16AVX512, 1536},
	} {
		if !c.supported {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			const iters = 1 << 16
			c0 := cpuSeconds()
			for b.Loop() {
				c.f(iters)
			}
			reportFlops(b, c.flops*iters*float64(b.N), c0)
		})
	}
}
