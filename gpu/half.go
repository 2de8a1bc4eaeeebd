package gpu

import "math"

// Half rounds x to the nearest IEEE 754 binary16 value (ties to even) and
// returns its bits, as the fp16 kernels store values: magnitudes beyond
// 65504 round to ±Inf, those below 2⁻²⁵ to ±0, NaN stays NaN.
func Half(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	switch {
	case e >= 31:
		return sign | 0x7c00
	case e <= 0:
		if e < -10 {
			return sign
		}
		// A subnormal half: the 24-bit significand shifted into the 10
		// mantissa bits of 2⁻²⁴ units.
		m := man | 0x800000
		shift := uint(14 - e)
		h := m >> shift
		rem, mid := m&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > mid || (rem == mid && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: still correct
	}
	return sign | uint16(h)
}

// HalfFloat returns the binary16 value h as a float32 (exactly).
func HalfFloat(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch exp {
	case 0:
		v := float32(man) / (1 << 24) // exact: man < 2¹⁰
		if sign != 0 {
			v = -v
		}
		return v
	case 31:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// ToHalf rounds every element to binary16 (see Half).
func ToHalf(x []float32) []uint16 {
	out := make([]uint16, len(x))
	for i, v := range x {
		out[i] = Half(v)
	}
	return out
}

// FromHalf widens binary16 values to float32.
func FromHalf(h []uint16) []float32 {
	out := make([]float32, len(h))
	for i, v := range h {
		out[i] = HalfFloat(v)
	}
	return out
}
