package cpu

import (
	"math"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// bfdotAdd is a Go model of one lane of BFDOT: the Arm architecture's
// BFDotAdd for FEAT_BF16 without FEAT_EBF16 (or FPCR.EBF = 0, as Linux
// leaves it), sum + (a.lo·b.lo + a.hi·b.hi) for the bf16 halves of the pair
// words a and b. Denormal inputs read as zero; each product, the pair sum
// and the accumulation are rounded by bfRound (to odd, denormal results
// flushed to zero); an exact zero sum is +0. It models finite inputs only
// (the tests' data), not NaN and infinity propagation. The BFDOT kernel's
// tests compare its every element with it bit for bit.
func bfdotAdd(sum float32, a, b uint32) float32 {
	return bfAdd(sum, bfAdd(bfMul(uint16(a), uint16(b)), bfMul(uint16(a>>16), uint16(b>>16))))
}

// bfFlush reads x as BFUnpack does: a denormal is a zero of its sign.
func bfFlush(x float32) float32 {
	if b := math.Float32bits(x); b&0x7f800000 == 0 {
		return math.Float32frombits(b & 0x80000000)
	}
	return x
}

// bfMul is BFMulH: the product of two bf16 values (exact in float64).
func bfMul(x, y uint16) float32 {
	p := float64(bfFlush(FromBF16(x))) * float64(bfFlush(FromBF16(y)))
	if p == 0 {
		return float32(p) // the zero of sign1 XOR sign2
	}
	return bfRound(p, 0)
}

// bfAdd is FPAdd_BF16: x + y with its value exactly s + e (TwoSum).
func bfAdd(x, y float32) float32 {
	a, b := float64(bfFlush(x)), float64(bfFlush(y))
	s := a + b
	if s == 0 {
		return float32(s) // −0 only for −0 + −0; x + (−x) is +0
	}
	bb := s - a
	return bfRound(s, (a-(s-bb))+(b-bb))
}

// bfRound is BFRound of the nonzero real s + e (|e| at most half an ulp of
// the float64 s): to float32 rounding to odd (truncate toward zero, then
// set the last bit if anything was cut off), zero of its sign below 2⁻¹²⁶,
// infinity from 2¹²⁸.
func bfRound(s, e float64) float32 {
	neg := s < 0
	if neg {
		s, e = -s, -e
	}
	var bits uint32
	switch {
	case s < 0x1p-126 || s == 0x1p-126 && e < 0:
		bits = 0
	case s > 0x1p128 || s == 0x1p128 && e >= 0:
		bits = 0x7f800000
	default:
		t := math.Float64frombits(math.Float64bits(s) &^ (1<<29 - 1)) // s toward zero to 24 bits
		bits = math.Float32bits(float32(t))                           // exact (2¹²⁸ gives +Inf's bits)
		switch {
		case t != s || e > 0: // between t and the next float32 up
			bits |= 1
		case e < 0: // between the float32 below t and t
			bits = (bits - 1) | 1
		}
	}
	if neg {
		bits |= 1 << 31
	}
	return math.Float32frombits(bits)
}

// TestBFDotModel checks the model on cases worked by hand, each one where
// round to odd or the flushing differs from VDPBF16PS's rounding.
func TestBFDotModel(t *testing.T) {
	w := func(lo, hi float32) uint32 { return uint32(ToBF16(lo)) | uint32(ToBF16(hi))<<16 }
	f := math.Float32frombits
	p := func(e int) float32 { return float32(math.Ldexp(1, e)) }
	for _, c := range []struct {
		name      string
		sum       float32
		a, b      uint32
		want      uint32
		vdpbf16ps uint32 // the generic twin's bits
	}{
		{"exact", 0.5, w(1, 3), w(2, 4), 0x41680000, 0x41680000},                      // 0.5 + 2 + 12 = 14.5
		{"inexact: odd", 1, w(p(-15), 0), w(p(-15), 0), 0x3f800001, 0x3f800000},       // 1 + 2⁻³⁰
		{"tie: odd, not even", 1, w(p(-12), 0), w(p(-12), 0), 0x3f800001, 0x3f800000}, // 1 + 2⁻²⁴
		{"negative", -1, w(p(-15), 0), w(-p(-15), 0), 0xbf800001, 0xbf800000},         // −1 − 2⁻³⁰
		{"just above, float64 exact", p(30), w(0, p(-15)), w(0, p(-15)), 0x4e800001, 0x4e800000},
		{"just below: the float32 under it, odd", p(30), w(p(-15), 0), w(-p(-15), 0), 0x4e7fffff, 0x4e800000},
		{"pair sum rounded first", 0, w(p(20), p(-20)), w(1, 1), 0x49800001, 0x49800000}, // 2²⁰ + 2⁻²⁰
		{"cancellation: +0", 1, w(1, 0), w(-1, 0), 0, 0},
		{"tiny product flushed", 0, w(p(-70), 0), w(p(-70), 0), 0, math.Float32bits(p(-140))},
		{"denormal sum flushed", f(1), 0, 0, 0, 1},
		{"overflow", f(0x7f7fffff), w(p(127), 0), w(1, 0), 0x7f800000, 0x7f800000},
	} {
		require.Equal(t, c.want, math.Float32bits(bfdotAdd(c.sum, c.a, c.b)), "%s: BFDOT", c.name)
		var gen [12 * nr]float32
		a, b := [1]uint32{c.a}, [nr]uint32{c.b}
		acc := [12 * nr]float32{c.sum}
		gemmKernelBF16Generic(1, (*float32)(unsafe.Pointer(&a)), 0, (*float32)(unsafe.Pointer(&b)), &acc[0], nr, &gen[0], nr)
		require.Equal(t, c.vdpbf16ps, math.Float32bits(gen[0]), "%s: generic", c.name)
	}
}
