package cpu

import "math"

// The constants of the vectorized exp and GELU, each replicated 16 times so
// the assembly can use them as full-width memory operands (a ymm operand
// reads the first 8). The table is read-only after init.
//
// exp(y) = 2ⁿ·P(r) with n = round(y·log₂e) and r = y − n·ln2 (ln2 split in
// two for an exact n·ln2hi), |r| ≤ ln2/2, and P the Taylor polynomial of
// degree 7, whose truncation error (ln2/2)⁸/8! ≈ 5e-9 is below fp32
// rounding. Below y = −60 the result is 0: e⁻⁶⁰ ≈ 9e-27 is nothing next to
// the sums it enters (softmax weights sum to ≥ 1, GELU's erfc term is added
// to x), and flushing it keeps every result and every product made from it
// normal, because subnormal operands and results cost the CPU a
// microcode assist of a hundred cycles or more each. The erf/erfc pieces of GELU are shaders/gelu.glsl's, with the
// same coefficients, the same 4.5 clamp and the same branch at |x/√2| = 1.
const (
	kHalf = iota
	kOne
	kRsqrt2
	kAbsMask // 0x7fffffff
	kSignMask
	kErf6 // erf(z) = z·P(z²), P from the highest coefficient down
	kErf5
	kErf4
	kErf3
	kErf2
	kErf1
	kErf0
	kClamp // 4.5, erfc's argument clamp
	kErfc7 // erfc(t) = exp(−t²)·Q(1/(1+t/2))
	kErfc6
	kErfc5
	kErfc4
	kErfc3
	kErfc2
	kErfc1
	kErfc0
	kTwo
	kLog2e
	kLn2Hi
	kLn2Lo
	kExpMin // −60: exp gives 0 below, so that no result is subnormal
	kExp7   // 1/7!, Taylor coefficients from the highest down
	kExp6
	kExp5
	kExp4
	kExp3
	kExp2
	kExp1
	kExp0
	kBias127
	kCount
)

// vecConsts is the table the assembly reads, kCount rows of 16 lanes.
type vecConsts [kCount][16]float32

var vecTab = func() *vecConsts {
	var t vecConsts
	set := func(i int, v float32) {
		for j := range t[i] {
			t[i][j] = v
		}
	}
	bits := func(i int, b uint32) { set(i, math.Float32frombits(b)) }
	set(kHalf, 0.5)
	set(kOne, 1)
	set(kRsqrt2, 0.70710678118654752)
	bits(kAbsMask, 0x7fffffff)
	bits(kSignMask, 0x80000000)
	for i, c := range erfSmall {
		set(kErf6+i, c)
	}
	set(kClamp, 4.5)
	for i, c := range erfcLarge {
		set(kErfc7+i, c)
	}
	set(kTwo, 2)
	set(kLog2e, math.Log2E)
	set(kLn2Hi, 0.693359375)
	set(kLn2Lo, -2.12194440e-4)
	set(kExpMin, -60)
	fact := 1.0
	for d := 0; d <= 7; d++ { // kExp0 − d holds 1/d!
		if d > 0 {
			fact *= float64(d)
		}
		set(kExp0-d, float32(1/fact))
	}
	bits(kBias127, 127)
	return &t
}()

// erfSmall and erfcLarge are the coefficients of shaders/gelu.glsl, highest
// degree first.
var (
	erfSmall = [7]float32{
		7.854154683e-05, -8.010279853e-04, 5.188337062e-03, -2.685381658e-02,
		1.128358543e-01, -3.761262596e-01, 1.128379107e+00,
	}
	erfcLarge = [8]float32{
		1.154523268e-01, -4.577932954e-01, 5.436792374e-01, -8.785618097e-02,
		3.402702212e-01, 2.618283033e-01, 2.845777273e-01, -1.319494186e-04,
	}
)

// tailMask holds eight all-ones lanes then eight zero lanes: the AVX2 mask
// for the last r < 8 elements of a row starts at tailMask[8−r].
var tailMask = [16]int32{-1, -1, -1, -1, -1, -1, -1, -1}
