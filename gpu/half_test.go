package gpu_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
)

// TestHalfRoundTrip widens every binary16 value and rounds it back: each must
// come back unchanged (NaNs as a NaN), and the widened values must be
// strictly increasing over the positive halves.
func TestHalfRoundTrip(t *testing.T) {
	prev := float32(-1)
	for h := 0; h < 1<<16; h++ {
		f := gpu.HalfFloat(uint16(h))
		back := gpu.Half(f)
		if f != f {
			require.True(t, back&0x7c00 == 0x7c00 && back&0x3ff != 0, "NaN %#04x came back as %#04x", h, back)
			continue
		}
		require.Equal(t, uint16(h), back, "half %#04x = %g", h, f)
		if h < 0x7c00 {
			require.Greater(t, f, prev, "half %#04x", h)
			prev = f
		}
	}
	require.Equal(t, float32(65504), gpu.HalfFloat(0x7bff))
	require.Equal(t, float32(math.Ldexp(1, -24)), gpu.HalfFloat(1))
}

// TestHalfRounding compares Half with rounding done in float64: the nearest
// of the two neighbouring halves, ties to the even one.
func TestHalfRounding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []float32{0, -0, 1, 65504, 65519, 65520, 1e6, 1e-8, 2.9802322e-08, 2.9802326e-08, 5.9604645e-08, 6.1035156e-05, 1.0009766, 1.00048828125, 1.00146484375}
	for i := 0; i < 200000; i++ {
		e := r.IntN(40) - 28
		cases = append(cases, float32(math.Ldexp(r.Float64()*2-1, e)))
	}
	for _, x := range cases {
		h := gpu.Half(x)
		got := float64(gpu.HalfFloat(h))
		if math.Abs(float64(x)) >= 65520 {
			require.True(t, math.IsInf(got, 0), "%g rounds to Inf, got %g", x, got)
			continue
		}
		// Neighbours: the half below and above |x| (bits differ by one).
		lo := h & 0x7fff
		a, b := float64(gpu.HalfFloat(lo)), float64(gpu.HalfFloat(lo+1))
		if lo > 0 {
			a = float64(gpu.HalfFloat(lo - 1))
		}
		ax := math.Abs(float64(x))
		g := math.Abs(got)
		for _, n := range []float64{a, b} {
			d, dn := math.Abs(g-ax), math.Abs(n-ax)
			require.True(t, d < dn || (d == dn && (h&1) == 0) || n == g,
				"Half(%g) = %g, but %g is closer", x, got, n)
		}
		require.Equal(t, math.Signbit(float64(x)), math.Signbit(got), "sign of %g", x)
	}
}
