package cpu

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/ref"
)

// gemmShapes have tails in every dimension: 1, below and above the tile
// sizes (6, 8 rows; 16, 32 columns), K not a multiple of the unroll (4) and
// above the K block (512), and the model's real shapes.
var gemmShapes = []struct{ M, N, K int }{
	{1, 1, 1}, {1, 3, 7}, {3, 7, 1}, {7, 31, 5}, {8, 32, 4}, {9, 33, 3},
	{6, 16, 17}, {5, 17, 33}, {13, 64, 64}, {17, 47, 513}, {2, 1001, 31},
	{197, 65, 1025}, {198, 384, 384}, {1000, 7, 3},
}

// gemmBound is the worst-case error of a float32 dot product of K terms
// accumulated in order plus the bias and residual adds: every partial sum
// is rounded once, so |err| ≤ (K+2)·u·(Σ|a·b| + |bias| + |r|). For GELU
// the error passes through |gelu'| ≤ 1.13 and the approximation adds
// 2e-7 + u·|gelu| (see gelu_test.go).
// refEpilogue maps the GEMM's epilogues to their twins'.
var refEpilogue = map[Epilogue]ref.Epilogue{
	EpilogueNone: ref.EpilogueNone, EpilogueGELU: ref.EpilogueGELU, EpilogueResidual: ref.EpilogueResidual,
}

func gemmBound(a, w, bias, r []float32, M, N, K int, ep Epilogue, want []float64) func(i int) float64 {
	mag := make([]float64, M*N)
	for i := range M {
		for j := range N {
			var s float64
			for kk := range K {
				s += math.Abs(float64(a[i*K+kk]) * float64(w[kk*N+j]))
			}
			if bias != nil {
				s += math.Abs(float64(bias[j]))
			}
			if ep == EpilogueResidual {
				s += math.Abs(float64(r[i*N+j]))
			}
			mag[i*N+j] = s
		}
	}
	g := float64(K+2) * u
	return func(i int) float64 {
		b := g * mag[i]
		if ep == EpilogueGELU {
			b = 1.13*b + 2e-7 + u*math.Abs(want[i])
		}
		return b + 1e-30
	}
}

func TestGemm(t *testing.T) {
	forEachISA(t, func(t *testing.T, isa ISA) {
		k := newKernels(t, isa, 2)
		gen := newKernels(t, Generic, 1)
		for si, sh := range gemmShapes {
			M, N, K := sh.M, sh.N, sh.K
			a := randSlice(uint64(si), M*K, -1, 1)
			w := randSlice(uint64(si+100), K*N, -1, 1)
			bias := randSlice(uint64(si+200), N, -1, 1)
			r := randSlice(uint64(si+300), M*N, -2, 2)
			pb, err := PackB(w, K, N)
			require.NoError(t, err)
			for _, ep := range []Epilogue{EpilogueNone, EpilogueGELU, EpilogueResidual} {
				for _, withBias := range []bool{true, false} {
					name := fmt.Sprintf("M%d_N%d_K%d_ep%d_bias%v", M, N, K, ep, withBias)
					t.Run(name, func(t *testing.T) {
						bs := bias
						if !withBias {
							bs = nil
						}
						want := ref.Matmul(a, w, bs, r, M, N, K, refEpilogue[ep])
						bound := gemmBound(a, w, bs, r, M, N, K, ep, want)
						c := poisoned(M * N)
						require.NoError(t, k.Gemm(c, a, pb, bs, r, M, ep))
						checkBound(t, "vs ref", c, want, bound)
						if ep != EpilogueGELU {
							// Statistically the rounding errors grow like √K,
							// not K: a tighter check of ‖C − ref‖ against
							// ‖Σ|terms|‖ (the bound over (K+2)·u).
							var num, den float64
							for i, w := range want {
								d := float64(c[i]) - w
								m := bound(i) / (float64(K+2) * u)
								num, den = num+d*d, den+m*m
							}
							require.LessOrEqual(t, math.Sqrt(num/den), (math.Sqrt(float64(K))+2)*u, "L2 error relative to the terms")
						}
						if ep == EpilogueResidual {
							inPlace := append([]float32(nil), r...)
							require.NoError(t, k.Gemm(inPlace, a, pb, bs, inPlace, M, ep))
							bitsEqual(t, "in-place residual", c, inPlace)
						}
						if isa != Generic {
							cg := poisoned(M * N)
							require.NoError(t, gen.Gemm(cg, a, pb, bs, r, M, ep))
							w64 := make([]float64, len(cg))
							for i, v := range cg {
								w64[i] = float64(v)
							}
							checkBound(t, "vs generic", c, w64, func(i int) float64 { return 2 * bound(i) })
						}
					})
				}
			}
		}
	})
}

// TestGemmInvariance checks the property the engine relies on: an output
// row does not depend on the other rows (batch size), the thread count, the
// K blocking or (without GELU) the ISA's register block.
func TestGemmInvariance(t *testing.T) {
	const M, N, K = 50, 70, 1100 // three K blocks, row and column tails
	a := randSlice(1, M*K, -1, 1)
	w := randSlice(2, K*N, -1, 1)
	bias := randSlice(3, N, -1, 1)
	pb, err := PackB(w, K, N)
	require.NoError(t, err)
	var first []float32
	forEachISA(t, func(t *testing.T, isa ISA) {
		c1 := poisoned(M * N)
		require.NoError(t, newKernels(t, isa, 1).Gemm(c1, a, pb, bias, nil, M, EpilogueNone))
		c3 := poisoned(M * N)
		require.NoError(t, newKernels(t, isa, 3).Gemm(c3, a, pb, bias, nil, M, EpilogueNone))
		bitsEqual(t, "1 vs 3 threads", c1, c3)
		k := newKernels(t, isa, 2)
		for _, row := range []int{0, 7, M - 1} {
			one := poisoned(N)
			require.NoError(t, k.Gemm(one, a[row*K:(row+1)*K], pb, bias, nil, 1, EpilogueNone))
			bitsEqual(t, fmt.Sprintf("row %d alone vs in the batch", row), c1[row*N:(row+1)*N], one)
		}
		if isa == Generic {
			return
		}
		if first == nil {
			first = c1
		} else {
			bitsEqual(t, "AVX2 vs AVX-512", first, c1)
		}
	})
}

func TestPackLinear(t *testing.T) {
	// PackLinear transposes (by gathers on AVX-512), PackB copies: the
	// same panels, tails of N included.
	for _, sh := range []struct{ N, K int }{{37, 5}, {1, 1}, {32, 3}, {64, 384}, {33, 17}} {
		N, K := sh.N, sh.K
		w := randSlice(9, N*K, -1, 1) // [N, K]
		wt := make([]float32, K*N)
		for n := range N {
			for kk := range K {
				wt[kk*N+n] = w[n*K+kk]
			}
		}
		a, b := must(PackLinear(w, N, K)), must(PackB(wt, K, N))
		require.Equal(t, b.data, a.data, "N=%d K=%d", N, K)
		require.Equal(t, K, a.K())
		require.Equal(t, N, a.N())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestGemmErrors(t *testing.T) {
	k := newKernels(t, Auto, 2)
	pb := must(PackB(make([]float32, 6), 2, 3))
	_, err := PackB(make([]float32, 5), 2, 3)
	require.ErrorContains(t, err, "5 values for K×N = 2×3")
	_, err = PackLinear(nil, 0, 3)
	require.ErrorContains(t, err, "at least 1")
	c := make([]float32, 12)
	require.ErrorContains(t, k.Gemm(c, make([]float32, 7), pb, nil, nil, 4, EpilogueNone), "A has 7 values")
	require.ErrorContains(t, k.Gemm(c[:5], make([]float32, 8), pb, nil, nil, 4, EpilogueNone), "C has 5 values")
	require.ErrorContains(t, k.Gemm(c, make([]float32, 8), pb, make([]float32, 2), nil, 4, EpilogueNone), "bias has 2")
	require.ErrorContains(t, k.Gemm(c, make([]float32, 8), pb, nil, nil, 4, EpilogueResidual), "residual has 0")
	require.ErrorContains(t, k.Gemm(c, make([]float32, 8), pb, nil, nil, 4, Epilogue(7)), "unknown epilogue")
	require.ErrorContains(t, k.Gemm(c, c, pb, nil, nil, 4, EpilogueNone), "C overlaps A")
	big := make([]float32, 20)
	require.ErrorContains(t, k.Gemm(big[:12], make([]float32, 8), pb, nil, big[1:13], 4, EpilogueResidual), "partly overlaps")
	require.ErrorContains(t, k.Gemm(c, nil, nil, nil, nil, 4, EpilogueNone), "nil PackedB")
	require.ErrorContains(t, k.Gemm(big[:12], make([]float32, 8), pb, big[10:13], nil, 4, EpilogueNone), "overlaps the bias")
	require.NoError(t, k.Gemm(nil, nil, pb, nil, nil, 0, EpilogueNone))
	k.Close()
	require.ErrorIs(t, k.Gemm(c, make([]float32, 8), pb, nil, nil, 4, EpilogueNone), errClosed)
}

// TestGemmConcurrent runs several goroutines on one Kernels: calls are
// serialized, and each must get exactly its single-call answer.
func TestGemmConcurrent(t *testing.T) {
	const M, N, K = 40, 96, 200
	k := newKernels(t, Auto, 2)
	a := randSlice(5, M*K, -1, 1)
	pb := must(PackB(randSlice(6, K*N, -1, 1), K, N))
	want := make([]float32, M*N)
	require.NoError(t, k.Gemm(want, a, pb, nil, nil, M, EpilogueGELU))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, M*N)
			for range 20 {
				if err := k.Gemm(c, a, pb, nil, nil, M, EpilogueGELU); err != nil {
					errs[g] = err
					return
				}
				for i := range c {
					if c[i] != want[i] {
						errs[g] = fmt.Errorf("goroutine %d: element %d = %v, want %v", g, i, c[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// TestMakePlanBalance: the item grid covers the product within the
// scratch bounds, and on DeiT-small's products (gemmBenchShapes, bf16 and
// fp32 tiles) it keeps every worker busy to within 5% of the simulated
// finish time, where the plain halving split left 9 items on 2 workers
// (qkv at batch 1: 90%) or 7 (fc2 at batch 8: 87%).
func TestMakePlanBalance(t *testing.T) {
	for _, sh := range gemmBenchShapes {
		for _, workers := range []int{2, 3, 4, 8} {
			for _, bf16 := range []bool{false, true} {
				K := sh.K
				if bf16 {
					K = bf16Pairs(sh.K)
				}
				p := makePlan(sh.M, sh.N, K, 12, workers, bf16)
				name := fmt.Sprintf("%s workers %d bf16 %v: %+v", sh.name, workers, bf16, p)
				require.GreaterOrEqual(t, p.mChunks*p.mcBlocks, p.rowBlocks, name)
				require.Less(t, (p.mChunks-1)*p.mcBlocks, p.rowBlocks, name)
				require.GreaterOrEqual(t, p.nChunks*p.ncPanels, p.panels, name)
				require.Less(t, (p.nChunks-1)*p.ncPanels, p.panels, name)
				require.LessOrEqual(t, p.mcBlocks*12, mcRowsMax+mrMax, name)
				require.LessOrEqual(t, p.ncPanels, ncMax, name)
				tiles := p.rowBlocks*p.panels + p.mChunks*p.nChunks // work plus the per-item overhead
				eff := float64(tiles) / float64(workers*p.finishTime(p.mChunks, p.nChunks, workers))
				if workers == 2 {
					require.GreaterOrEqual(t, eff, 0.95, name)
				}
				t.Logf("%s: %d items, efficiency %.2f", name, p.mChunks*p.nChunks, eff)
			}
		}
	}
}
