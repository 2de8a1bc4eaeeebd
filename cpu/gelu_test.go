package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/ref"
)

// geluBound is the per-element bound of every GELU: the approximation's
// 1.1e-7 absolute (shaders/gelu.glsl) plus the vectorized exp's error, within
// 2e-7 together, plus the rounding of the float32 result, u·|gelu(x)|.
func geluBound(want float64) float64 { return 2e-7 + u*math.Abs(want) }

func TestGELU(t *testing.T) {
	sweep := make([]float32, 0, 48001)
	for i := -24000; i <= 24000; i++ {
		sweep = append(sweep, float32(i)/2000) // both branches and their joins at |x| = √2
	}
	extremes := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-7, -1e-7, 1.4142135, -1.4142135,
		1.4142137, -1.4142137, 6.3, -6.3, 9, -9, 14.5, -14.5, 40, -40, 1e4, -1e4, 3e38, -3e38}
	cases := map[string][]float32{"extremes": extremes, "sweep": sweep}
	for _, n := range []int{1, 7, 15, 16, 17, 31, 33, 1001} {
		cases[fmt.Sprint(n)] = randSlice(uint64(n), n, -8, 8)
	}
	forEachISA(t, func(t *testing.T, isa ISA) {
		k := newKernels(t, isa, 2)
		for name, x := range cases {
			t.Run(name, func(t *testing.T) {
				want := ref.GELUs(x)
				got := poisoned(len(x))
				require.NoError(t, k.GELU(got, x))
				checkBound(t, "vs ref", got, want, func(i int) float64 { return geluBound(want[i]) })
				gen := make([]float32, len(x))
				geluGeneric(gen, x)
				checkBound(t, "vs generic", got, ref.F64(gen), func(i int) float64 { return 2 * geluBound(want[i]) })
				inPlace := append([]float32(nil), x...)
				require.NoError(t, k.GELU(inPlace, inPlace))
				bitsEqual(t, "in place", got, inPlace)
			})
		}
	})
}

func TestGELUErrors(t *testing.T) {
	k := newKernels(t, Auto, 1)
	require.ErrorContains(t, k.GELU(make([]float32, 2), make([]float32, 3)), "dst has 2 values, src 3")
	x := make([]float32, 10)
	require.ErrorContains(t, k.GELU(x[1:6], x[:5]), "partly overlaps")
	require.NoError(t, k.GELU(nil, nil))
}

func TestVecConstsLayout(t *testing.T) {
	// vecmath_amd64.h addresses rows by number; these pin the numbering.
	require.Equal(t, 35, kCount)
	require.Equal(t, 5, kErf6)
	require.Equal(t, 13, kErfc7)
	require.Equal(t, 22, kLog2e)
	require.Equal(t, 25, kExpMin)
	require.Equal(t, 26, kExp7)
	require.Equal(t, 33, kExp0)
	require.Equal(t, float32(1.0/5040), vecTab[kExp7][15])
	require.Equal(t, float32(0.5), vecTab[kExp2][0])
	require.Equal(t, float32(1), vecTab[kExp1][3])
	require.Equal(t, float32(1), vecTab[kExp0][7])
	require.Equal(t, erfcLarge[7], vecTab[kErfc0][0])
	require.Equal(t, erfSmall[6], vecTab[kErf0][0])
	require.Equal(t, math.Float32bits(vecTab[kBias127][9]), uint32(127))
}
