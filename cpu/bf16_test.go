package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestToBF16(t *testing.T) {
	f := math.Float32frombits
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{f(0x3f808000), 0x3f80}, // halfway, even below: down
		{f(0x3f818000), 0x3f82}, // halfway, odd below: up
		{f(0x3f808001), 0x3f81}, // above halfway: up
		{f(0x3f807fff), 0x3f80}, // below halfway: down
		{f(0x7f7fffff), 0x7f80}, // the largest float32 rounds to +Inf
		{float32(math.Inf(-1)), 0xff80},
		{f(0x7f800001), 0x7fc0}, // a signalling NaN made quiet
		{f(0x00000001), 0x0000}, // denormal: zero
		{f(0x807fffff), 0x8000}, // negative denormal: −0
		{f(0x00800000), 0x0080}, // the smallest normal stays
	} {
		require.Equal(t, c.want, ToBF16(c.in), "ToBF16(%#08x)", math.Float32bits(c.in))
	}
	require.Equal(t, float32(1.0078125), RoundBF16(1.01))
}

// specialRow mixes random values with every case ToBF16 distinguishes.
func specialRow(n int) []float32 {
	x := randSlice(11, n, -3, 3)
	specials := []uint32{0x3f808000, 0x3f818000, 0x7f7fffff, 0xff800000, 0x7f800001, 0xffc00001, 1, 0x807fffff, 0x00800000, 0x80000000, 0}
	for i, b := range specials {
		x[(i*7)%n] = math.Float32frombits(b)
	}
	return x
}

// TestRoundRows checks VCVTNEPS2BF16 against ToBF16 bit for bit, on rows
// apart (lds > K) and packed, with K a multiple of 32 and not, and the zero
// padding.
func TestRoundRows(t *testing.T) {
	if !hasAVX512BF16 {
		t.Skip("no AVX512_BF16 here")
	}
	for _, c := range []struct{ rows, K, lds int }{{3, 101, 101}, {1, 32, 32}, {7, 64, 1152}, {198, 64, 1155}, {5, 224, 224}, {2, 31, 40}} {
		src := specialRow(c.rows * c.lds)
		ldd := bf16Pairs(c.K)
		got, want := poisoned(c.rows*ldd), poisoned(c.rows*ldd)
		roundRows(got, ldd, src, c.lds, c.rows, c.K, true)
		roundRows(want, ldd, src, c.lds, c.rows, c.K, false)
		require.Equal(t, pairWords(want), pairWords(got), "rows %d K %d lds %d", c.rows, c.K, c.lds)
		if c.K < 2*ldd {
			require.Zero(t, halves(got)[2*ldd-1])
		}
	}
}

// forEachBF16 runs f once per bf16 unit (and the AMX tile model) this
// machine supports, skipping the others, and logs which ran.
func forEachBF16(t *testing.T, f func(t *testing.T, d BF16Dot)) {
	for _, d := range append(BF16Dots(), bf16AMXModel) {
		t.Run(d.String(), func(t *testing.T) {
			if !d.Supported() {
				t.Skipf("%v not supported on this CPU/build", d)
			}
			t.Logf("bf16 unit %v runs", d)
			f(t, d)
		})
	}
}

// bf16Roundoff is d's unit roundoff in units of u = 2⁻²⁴: 1 for the units
// whose additions round to nearest, 2 for BFDOT, whose additions round to
// odd (an error below one ulp, 2⁻²³ relative). Each sum of a bf16 product
// is rounded about as often as fp32's (BFDOT: once for each pair's sum and
// once to accumulate it, K+1 times for K terms, where fp32 rounds K
// times), so the fp32 bounds hold for d scaled by this factor; denormals
// that BFDOT flushes add at most 2⁻¹²⁶ a rounding, below the bounds' floor
// for the tests' data.
func bf16Roundoff(d BF16Dot) float64 {
	if d == BF16NEON {
		return 2
	}
	return 1
}

// roundedSlice is x through RoundBF16.
func roundedSlice(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = RoundBF16(v)
	}
	return y
}

// TestGemmBF16 checks each bf16 unit, on every ISA its epilogue can run
// on, against the float64 product of the bf16-rounded inputs (the float32
// accumulation bound of TestGemm holds: the pair products are exact) and
// against the generic twin: bit for bit for VDPBF16PS, whose additions
// follow the same order, within the sum of the two bounds for AMX, whose
// pairs add in the other order, and for BFDOT, whose additions round to
// odd (bf16Roundoff).
func TestGemmBF16(t *testing.T) {
	shapes := append(gemmShapes[:len(gemmShapes):len(gemmShapes)], struct{ M, N, K int }{50, 70, 1100})
	forEachBF16(t, func(t *testing.T, d BF16Dot) {
		isa := Best()
		if d == BF16Generic || d == bf16AMXModel {
			isa = Generic
		}
		k := newBF16Kernels(t, isa, d, 2)
		gen := newBF16Kernels(t, Generic, BF16Generic, 1)
		for si, sh := range shapes {
			M, N, K := sh.M, sh.N, sh.K
			if !d.Native() && M*N*K > 5e6 {
				continue // the Go models are slow
			}
			a := randSlice(uint64(si), M*K, -1, 1)
			w := randSlice(uint64(si+100), N*K, -1, 1) // [N, K]
			bias := randSlice(uint64(si+200), N, -1, 1)
			r := randSlice(uint64(si+300), M*N, -2, 2)
			pb, err := PackLinearBF16(w, N, K)
			require.NoError(t, err)
			require.True(t, pb.BF16())
			ar, wr := roundedSlice(a), roundedSlice(w)
			wt := make([]float32, K*N)
			for n := range N {
				for kk := range K {
					wt[kk*N+n] = wr[n*K+kk]
				}
			}
			for _, ep := range []Epilogue{EpilogueNone, EpilogueGELU, EpilogueResidual, -1} {
				bias := bias
				if ep < 0 { // no bias, no epilogue: the raw sums go straight to C
					ep, bias = EpilogueNone, nil
				}
				t.Run(fmt.Sprintf("M%d_N%d_K%d_ep%d_bias%v", M, N, K, ep, bias != nil), func(t *testing.T) {
					want := ref.Matmul(ar, wt, bias, r, M, N, K, refEpilogue[ep])
					fp32 := gemmBound(ar, wt, bias, r, M, N, K, ep, want)
					bound := func(i int) float64 { return bf16Roundoff(d) * fp32(i) }
					c := poisoned(M * N)
					require.NoError(t, k.Gemm(c, a, pb, bias, r, M, ep))
					checkBound(t, "vs ref", c, want, bound)
					if ep == EpilogueResidual {
						inPlace := append([]float32(nil), r...)
						require.NoError(t, k.Gemm(inPlace, a, pb, bias, inPlace, M, ep))
						bitsEqual(t, "in-place residual", c, inPlace)
					}
					if d == BF16Generic || ep == EpilogueGELU {
						return
					}
					cg := poisoned(M * N)
					require.NoError(t, gen.Gemm(cg, a, pb, bias, r, M, ep))
					if d == BF16AVX512 {
						bitsEqual(t, "vs generic", cg, c)
						return
					}
					w64 := make([]float64, len(cg))
					for i, v := range cg {
						w64[i] = float64(v)
					}
					checkBound(t, "vs generic", c, w64, func(i int) float64 { return (1 + bf16Roundoff(d)) * fp32(i) })
				})
			}
		}
	})
}

// TestGemmBF16Invariance: like fp32, a bf16 row does not depend on the
// batch or the thread count.
func TestGemmBF16Invariance(t *testing.T) {
	const M, N, K = 50, 70, 1100
	a := randSlice(1, M*K, -1, 1)
	pb := must(PackLinearBF16(randSlice(2, N*K, -1, 1), N, K))
	forEachBF16(t, func(t *testing.T, d BF16Dot) {
		c1 := poisoned(M * N)
		require.NoError(t, newBF16Kernels(t, Auto, d, 1).Gemm(c1, a, pb, nil, nil, M, EpilogueNone))
		c3 := poisoned(M * N)
		k := newBF16Kernels(t, Auto, d, 3)
		require.NoError(t, k.Gemm(c3, a, pb, nil, nil, M, EpilogueNone))
		bitsEqual(t, "1 vs 3 threads", c1, c3)
		for _, row := range []int{0, 7, M - 1} {
			one := poisoned(N)
			require.NoError(t, k.Gemm(one, a[row*K:(row+1)*K], pb, nil, nil, 1, EpilogueNone))
			bitsEqual(t, fmt.Sprintf("row %d alone vs in the batch", row), c1[row*N:(row+1)*N], one)
		}
	})
}

// TestPackLinearBF16 checks the pair layout element by element, with K
// and N tails, and that it takes half of PackLinear's memory.
func TestPackLinearBF16(t *testing.T) {
	const N, K = 37, 45
	w := specialRow(N * K)
	pb := must(PackLinearBF16(w, N, K))
	h := halves(pb.data)
	kp := bf16Pairs(K)
	require.Equal(t, 32, kp)
	require.Len(t, pb.data, 2*kp*nr)
	for n := range 2 * nr {
		for kk := range 2 * kp {
			want := uint16(0)
			if n < N && kk < K {
				want = ToBF16(w[n*K+kk])
			}
			p, j := n/nr, n%nr
			require.Equal(t, want, h[(p*kp+kk/2)*2*nr+2*j+kk%2], "n=%d k=%d", n, kk)
		}
	}
	require.Equal(t, K, pb.K())
	_, err := PackLinearBF16(w, N, K+1)
	require.ErrorContains(t, err, "PackLinearBF16")
}

// TestAMXModel checks the tile model's TDPBF16PS on one tile against a
// direct sum: even products before odd ones, rows past the
// configuration's untouched.
func TestAMXModel(t *testing.T) {
	m := &amxModel{cfg: amxTiles}
	a := randSlice(3, 12*32, -1, 1)
	b := randSlice(4, 32*16, -1, 1) // [k, n]
	for r := range 12 {
		for k := range 16 {
			m.tiles[4][r][k] = uint32(ToBF16(a[r*32+2*k])) | uint32(ToBF16(a[r*32+2*k+1]))<<16
		}
	}
	for k := range 16 {
		for n := range 16 {
			m.tiles[6][k][n] = uint32(ToBF16(b[(2*k)*16+n])) | uint32(ToBF16(b[(2*k+1)*16+n]))<<16
		}
	}
	m.dpbf16ps(0, 4, 6)
	for r := range 12 {
		for n := range 16 {
			var s float32
			for k := range 16 {
				s += RoundBF16(a[r*32+2*k]) * RoundBF16(b[(2*k)*16+n])
				s += RoundBF16(a[r*32+2*k+1]) * RoundBF16(b[(2*k+1)*16+n])
			}
			require.Equal(t, math.Float32bits(s), m.tiles[0][r][n], "row %d col %d", r, n)
		}
	}
	require.Zero(t, m.tiles[0][12][0])
}

func newBF16Kernels(t testing.TB, isa ISA, d BF16Dot, threads int) *Kernels {
	t.Helper()
	k, err := NewBF16(isa, d, threads)
	require.NoError(t, err)
	t.Cleanup(k.Close)
	return k
}

// TestAttentionBF16 checks the bf16 attention of each bf16 unit against
// the float64 attention of the bf16-rounded Q, K and V: the fp32 bound of
// TestAttention (times bf16Roundoff) plus the rounding of the probabilities P to bf16 (relative
// error at most 2⁻⁸ each, bf16 having 8 significant bits, so at most
// 2⁻⁸·max_u|v_u,e| on an output, whose weights sum to 1). An image alone gives the bits it gets in a batch, on 1 and 3 threads.
func TestAttentionBF16(t *testing.T) {
	forEachBF16(t, func(t *testing.T, d BF16Dot) {
		isa := Best()
		if !d.Native() {
			isa = Generic
		}
		k := newBF16Kernels(t, isa, d, 2)
		k3 := newBF16Kernels(t, isa, d, 3)
		for si, sh := range attentionShapes {
			B, T, H, Dh := sh.B, sh.T, sh.H, sh.Dh
			if !d.Native() && B*T*T*H*Dh > 2e6 {
				continue // the Go models are slow
			}
			t.Run(fmt.Sprintf("B%d_T%d_H%d_Dh%d", B, T, H, Dh), func(t *testing.T) {
				D := H * Dh
				qkv := roundedSlice(randSlice(uint64(si), B*T*3*D, -2, 2))
				scale := 1 / math.Sqrt(float64(Dh))
				want := ref.Attention(qkv, qkv[D:], qkv[2*D:], 3*D, B, T, H, Dh, scale)
				fp32 := attentionBound(qkv, B, T, H, Dh, scale)
				vmax := make([]float64, B*H*Dh) // max_u |v_u,e| per image, head, column
				for b := range B {
					for u := range T {
						for c := range D {
							i := (b*H+c/Dh)*Dh + c%Dh
							vmax[i] = math.Max(vmax[i], math.Abs(float64(qkv[(b*T+u)*3*D+2*D+c])))
						}
					}
				}
				bound := func(i int) float64 {
					b, c := i/(T*D), i%D
					return bf16Roundoff(d)*fp32(i) + 1.01/256*vmax[(b*H+c/Dh)*Dh+c%Dh]
				}
				out := poisoned(B * T * D)
				require.NoError(t, k.AttentionBF16(out, qkv, B, T, H, Dh, float32(scale)))
				checkBound(t, "vs ref", out, want, bound)
				out3 := poisoned(B * T * D)
				require.NoError(t, k3.AttentionBF16(out3, qkv, B, T, H, Dh, float32(scale)))
				bitsEqual(t, "3 threads", out, out3)
				for b := range B {
					one := poisoned(T * D)
					require.NoError(t, k.AttentionBF16(one, qkv[b*T*3*D:(b+1)*T*3*D], 1, T, H, Dh, float32(scale)))
					bitsEqual(t, fmt.Sprintf("image %d alone", b), out[b*T*D:(b+1)*T*D], one)
				}
			})
		}
	})
}

// TestPackHeadBF16: attention's vectorized Kᵀ and V packing equals the
// general packBF16Into, natively and in Go, with T and Dh tails.
func TestPackHeadBF16(t *testing.T) {
	for _, sh := range []struct{ T, Dh int }{{1, 1}, {2, 32}, {5, 7}, {33, 64}, {197, 64}, {198, 64}, {40, 33}, {64, 96}} {
		for _, native := range []bool{false, true} {
			if native && !hasAVX512BF16 {
				continue
			}
			ld := 3*sh.Dh + 5
			src := specialRow(sh.T * ld)
			tmp := make([]float32, sh.T*bf16Pairs(sh.Dh))
			kl, vl := attentionPacked(sh.T, sh.Dh, true)
			want, got := poisoned(kl), poisoned(kl)
			packBF16Into(want, src, ld, sh.Dh, sh.T, true)
			packKTBF16(got, src, ld, sh.T, sh.Dh, tmp, native)
			require.Equal(t, pairWords(want), pairWords(got), "Kᵀ T=%d Dh=%d native=%v", sh.T, sh.Dh, native)
			want, got = poisoned(vl), poisoned(vl)
			packBF16Into(want, src, ld, sh.T, sh.Dh, false)
			packVBF16(got, src, ld, sh.T, sh.Dh, tmp, native)
			require.Equal(t, pairWords(want), pairWords(got), "V T=%d Dh=%d native=%v", sh.T, sh.Dh, native)
		}
	}
}
