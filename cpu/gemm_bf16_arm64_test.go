//go:build !purego

package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// bfdotTile is the BFDOT kernel's tile by the model: C[i, j] folds
// bfdotAdd over the kp pairs of row i and column j, from acc (nil: +0).
func bfdotTile(kp int, a []uint32, lda int, b []uint32, acc []float32, ldacc int, c []float32, ldc int) {
	for i := range 12 {
		for j := range nr {
			var s float32
			if acc != nil {
				s = acc[i*ldacc+j]
			}
			for p := range kp {
				s = bfdotAdd(s, a[i*lda+p], b[p*nr+j])
			}
			c[i*ldc+j] = s
		}
	}
}

// TestGemmKernelBF16NEON checks the BFDOT micro-kernel on one 12×32 tile
// against the model bit for bit and against the generic twin within the
// bound of bf16Roundoff (both errors: (1+2)·u per rounding, 2·kp roundings,
// on |acc| + Σ|a·b|, plus 2⁻¹²⁶ for each flushed product or sum), for pair
// counts with and without a tail after the loop of four, without acc, with
// acc, and with C = acc, C's rows wider than the tile. The data mix
// magnitudes so that products flush and sums round off far below an ulp.
func TestGemmKernelBF16NEON(t *testing.T) {
	if !BF16NEON.Supported() {
		t.Skip("no BFDOT (FEAT_BF16) here")
	}
	const mr, ldc = 12, nr + 3
	for _, kp := range []int{1, 3, 4, 5, 16, 19} {
		K := 2*kp - 1 // the last pair's high half is padding
		lda := bf16Pairs(K)
		x := randSlice(uint64(kp), mr*K, -1, 1)
		y := randSlice(uint64(kp+50), K*nr, -1, 1) // [K, 32]
		for i := range x {
			x[i] *= float32(math.Ldexp(1, []int{0, -3, -70, 20}[i%4]))
		}
		for i := range y {
			y[i] *= float32(math.Ldexp(1, []int{0, -60, 5}[i%3]))
		}
		a := make([]float32, mr*lda)
		roundRows(a, lda, x, K, mr, K, false)
		b := make([]float32, packedLen(lda, nr))
		packBF16Into(b, y, nr, K, nr, false)
		aw, bw := pairWords(a), pairWords(b)
		accIn := randSlice(uint64(kp+99), mr*ldc, -4, 4)
		for _, mode := range []string{"no acc", "acc", "in place"} {
			t.Run(fmt.Sprintf("kp%d_%s", kp, mode), func(t *testing.T) {
				c := poisoned(mr * ldc)
				var acc []float32 // the model's and the twin's acc
				var accp *float32 // the kernel's
				switch mode {
				case "acc":
					acc, accp = accIn, &accIn[0]
				case "in place":
					copy(c, accIn)
					acc, accp = accIn, &c[0]
				}
				gemmKernelBF16NEON(kp, &a[0], lda, &b[0], accp, ldc, &c[0], ldc, &b[0], 2)
				want := poisoned(mr * ldc)
				bfdotTile(kp, aw, lda, bw, acc, ldc, want, ldc)
				for i := range mr {
					for j := range ldc {
						if j >= nr && mode != "in place" {
							require.True(t, math.IsNaN(float64(c[i*ldc+j])), "row %d col %d past the tile written", i, j)
							continue
						}
						if j >= nr {
							require.Equal(t, accIn[i*ldc+j], c[i*ldc+j], "row %d col %d past the tile written", i, j)
							continue
						}
						require.Equal(t, math.Float32bits(want[i*ldc+j]), math.Float32bits(c[i*ldc+j]),
							"row %d col %d: %.9g, model %.9g", i, j, c[i*ldc+j], want[i*ldc+j])
					}
				}
				gen := make([]float32, mr*nr)
				var genAcc *float32
				if acc != nil {
					genAcc = &acc[0]
				}
				gemmKernelBF16Generic(kp, &a[0], lda, &b[0], genAcc, ldc, &gen[0], nr)
				got, ref64 := make([]float32, mr*nr), make([]float64, mr*nr)
				mag := make([]float64, mr*nr)
				for i := range mr {
					for j := range nr {
						got[i*nr+j], ref64[i*nr+j] = c[i*ldc+j], float64(gen[i*nr+j])
						if acc != nil {
							mag[i*nr+j] = math.Abs(float64(acc[i*ldc+j]))
						}
						for p := range kp {
							mag[i*nr+j] += math.Abs(float64(FromBF16(uint16(aw[i*lda+p]))*FromBF16(uint16(bw[p*nr+j])))) +
								math.Abs(float64(FromBF16(uint16(aw[i*lda+p]>>16))*FromBF16(uint16(bw[p*nr+j]>>16))))
						}
					}
				}
				n := float64(2 * kp)
				checkBound(t, "vs generic", got, ref64, func(i int) float64 {
					return 1.01*n*(1+bf16Roundoff(BF16NEON))*u*mag[i] + 2*n*0x1p-126
				})
			})
		}
	}
}
