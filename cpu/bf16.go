package cpu

import (
	"fmt"
	"math"
	"unsafe"
)

// BF16Dot is the unit that runs a Gemm on bf16-packed weights (PackLinearBF16)
// and the bf16 attention: every choice computes products of bf16 values
// (exact in float32) accumulated in float32; they differ in speed and in
// the order of the two additions of a pair.
type BF16Dot int

const (
	// BF16Auto, the zero value, means BestBF16() on kernels whose ISA is
	// AVX512 or NEON and BF16Generic otherwise.
	BF16Auto BF16Dot = iota
	// BF16Generic is the Go twin of VDPBF16PS: portable, exact to its
	// pseudo-code, and much slower than fp32 (an emulation: never picked
	// by auto precision).
	BF16Generic
	// BF16AVX512 is AVX512_BF16's VDPBF16PS (AMD Zen 4 and later, Intel
	// Cooper Lake, Sapphire Rapids and later): twice the multiply-adds of
	// an fp32 FMA per instruction.
	BF16AVX512
	// BF16AMX is AMX's TDPBF16PS on tile registers (Intel Sapphire Rapids
	// and later), usable once Linux granted the process the tile data
	// state (arch_prctl ARCH_REQ_XCOMP_PERM).
	BF16AMX
	// BF16NEON is arm64's BFDOT by element (FEAT_BF16: Neoverse V1 and V2
	// (Graviton3, Graviton4), N2, Apple M2 and later; detected from Linux's
	// HWCAP2, so on Linux only) on the NEON registers: twice the
	// multiply-adds of an fp32 FMLA per instruction. Its additions round to
	// odd and flush denormals (BFDotAdd without FEAT_EBF16), so its sums
	// differ from the generic twin's within the bound the tests state. Tested
	// under qemu; its speed on arm64 hardware has not been measured.
	BF16NEON
	// bf16AMXModel runs the AMX kernel's tile program on amxModel, a Go
	// model of the tile registers: tests use it to check the AMX packing,
	// tiling and epilogue on every machine.
	bf16AMXModel
)

// BF16Dots lists every selectable BF16Dot (not BF16Auto), slowest first
// within an architecture.
func BF16Dots() []BF16Dot { return []BF16Dot{BF16Generic, BF16AVX512, BF16AMX, BF16NEON} }

// String is the name ParseBF16Dot accepts: "generic", "avx512bf16", "amx",
// "neonbf16".
func (d BF16Dot) String() string {
	switch d {
	case BF16Auto:
		return "auto"
	case BF16Generic:
		return "generic"
	case BF16AVX512:
		return "avx512bf16"
	case BF16AMX:
		return "amx"
	case BF16NEON:
		return "neonbf16"
	case bf16AMXModel:
		return "amx-model"
	}
	return fmt.Sprintf("BF16Dot(%d)", int(d))
}

// ParseBF16Dot turns a name from BF16Dot.String back into the value ("" and
// "auto" are BF16Auto).
func ParseBF16Dot(s string) (BF16Dot, error) {
	if s == "" {
		return BF16Auto, nil
	}
	for _, d := range append(BF16Dots(), BF16Auto) {
		if d.String() == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("cpu: unknown bf16 unit %q (want auto, generic, avx512bf16, amx or neonbf16)", s)
}

// Supported reports whether this CPU, OS and build can run d. For BF16AMX
// the first call asks Linux for the tile data permission.
func (d BF16Dot) Supported() bool {
	switch d {
	case BF16Auto, BF16Generic, bf16AMXModel:
		return true
	case BF16AVX512:
		return hasAVX512BF16
	case BF16AMX:
		return amxUsable()
	case BF16NEON:
		return hasBFDOT
	}
	return false
}

// Native reports whether d is a hardware bf16 dot product (not the Go
// emulation): where bf16 is faster than fp32 (measured for VDPBF16PS;
// expected for BFDOT, which does twice an FMLA's work per instruction).
func (d BF16Dot) Native() bool { return d == BF16AVX512 || d == BF16AMX || d == BF16NEON }

// BestBF16 is the fastest supported BF16Dot.
func BestBF16() BF16Dot {
	switch {
	case BF16AMX.Supported():
		return BF16AMX
	case hasAVX512BF16:
		return BF16AVX512
	case hasBFDOT:
		return BF16NEON
	}
	return BF16Generic
}

// microRowsBF16 is the row count of d's tile: 24 for AMX (two 12-row
// tiles), 12 for the others (the AVX-512 fp32 block). Every one is a
// multiple of every fp32 micro-kernel's, which applies the epilogue.
func microRowsBF16(d BF16Dot) int {
	if d == BF16AMX || d == bf16AMXModel {
		return 24
	}
	return 12
}

// ToBF16 rounds x to bfloat16 (its top 16 bits) to nearest, ties to even, as
// VCVTNEPS2BF16 does: NaNs stay NaN (made quiet), infinities stay, numbers
// past the largest bf16 round to infinity, and denormals become zero of
// their sign.
func ToBF16(x float32) uint16 {
	b := math.Float32bits(x)
	switch b & 0x7f800000 {
	case 0: // zero or denormal
		return uint16(b>>16) & 0x8000
	case 0x7f800000: // infinity or NaN
		if b&0x7fffff != 0 {
			return uint16(b>>16) | 0x40
		}
		return uint16(b >> 16)
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// FromBF16 is the float32 whose top half is h (exact).
func FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// RoundBF16 is FromBF16(ToBF16(x)): x as the bf16 products see it.
func RoundBF16(x float32) float32 { return FromBF16(ToBF16(x)) }

// bf16Pairs is the number of bf16 pairs a K-long dot product is stored in:
// K padded with zeros to a multiple of 32 (one AMX tile row), halved.
func bf16Pairs(K int) int { return ceilDiv(K, 32) * 16 }

// pairWords views a pair buffer (stored in a []float32 so the driver's
// copies and clears serve both types: they move bits, never arithmetic)
// as 32-bit words.
func pairWords(x []float32) []uint32 {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&x[0])), len(x))
}

// halves views a pair buffer as its bf16 halves (element 2p of a pair row
// in the low half of word p: little-endian order).
func halves(x []float32) []uint16 {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&x[0])), 2*len(x))
}

// PackLinearBF16 packs the transpose of w, stored row-major [N, K] like
// PackLinear, rounded to bf16 (ToBF16): half the memory of PackLinear. A
// Gemm with it rounds A to bf16 too and multiplies with the kernels' bf16
// unit (BF16Dot), accumulating in float32.
//
// Layout: ceil(N/32) panels, each bf16Pairs(K) pair rows of 32 words; word
// (p, j) holds B[2p, j] in its low half and B[2p+1, j] in its high half,
// zero past K and N.
func PackLinearBF16(w []float32, N, K int) (*PackedB, error) {
	if err := packCheck(len(w), K, N); err != nil {
		return nil, fmt.Errorf("cpu: PackLinearBF16: %w", err)
	}
	kp := bf16Pairs(K)
	b := newPackedB(kp, N)
	b.k, b.kp, b.bf16 = K, kp, true
	packBF16Into(b.data, w, K, K, N, true)
	return b, nil
}

// BF16 reports whether b holds bf16 pairs (PackLinearBF16).
func (b *PackedB) BF16() bool { return b.bf16 }

// packBF16Into writes the bf16 pair panels of a K×N matrix into dst
// (packedLen(bf16Pairs(K), N) words). Element (k, n) is src[k·ld + n], or
// src[n·ld + k] when trans.
func packBF16Into(dst, src []float32, ld, K, N int, trans bool) {
	kp := bf16Pairs(K)
	h := halves(dst[:packedLen(kp, N)])
	for p := range ceilDiv(N, nr) {
		panel := h[p*kp*2*nr : (p+1)*kp*2*nr]
		n0 := p * nr
		cols := min(nr, N-n0)
		clear(panel)
		for j := range cols {
			if trans {
				for kk, v := range src[(n0+j)*ld : (n0+j)*ld+K] {
					panel[(kk>>1)*2*nr+2*j+kk&1] = ToBF16(v)
				}
				continue
			}
			for kk := range K {
				panel[(kk>>1)*2*nr+2*j+kk&1] = ToBF16(src[kk*ld+n0+j])
			}
		}
	}
}

// roundRows writes rows of src (row i at src[i·lds:], K values) as bf16
// into dst (row i at dst[i·ldd:], ldd pairs), zero past K: the A operand of
// a bf16 product. native (a native unit runs the product) uses
// VCVTNEPS2BF16 for the runs of 32 where the CPU has it; arm64 rounds in Go
// (BFCVTN would keep denormals, which ToBF16 flushes).
func roundRows(dst []float32, ldd int, src []float32, lds, rows, K int, native bool) {
	if rows == 0 {
		return
	}
	h := halves(dst)
	n := 0
	if native && hasAVX512BF16 && K >= 32 {
		n = K &^ 31
		_, _ = h[2*(rows-1)*ldd+n-1], src[(rows-1)*lds+n-1]
		roundRowsBF16AVX512(&h[0], 2*ldd, &src[0], lds, rows, n)
	}
	for i := range rows {
		d := h[2*i*ldd : 2*(i+1)*ldd]
		s := src[i*lds : i*lds+K]
		for j := n; j < K; j++ {
			d[j] = ToBF16(s[j])
		}
		clear(d[K:])
	}
}

// gemmKernelBF16Generic is the Go twin of gemmKernelBF16AVX512 (see
// gemm_bf16_amd64.s for the arguments): a 12×32 tile of raw sums, each
// pair added as VDPBF16PS's pseudo-code does, the high product first, then
// the low one, each addition rounded once (the products are exact).
func gemmKernelBF16Generic(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int) {
	const mr = 12
	bp := unsafe.Slice((*uint32)(unsafe.Pointer(b)), kp*nr)
	var s [mr][nr]float32
	for i := range mr {
		if acc != nil {
			copy(s[i][:], unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(acc), 4*i*ldacc)), nr))
		}
		ar := unsafe.Slice((*uint32)(unsafe.Add(unsafe.Pointer(a), 4*i*lda)), kp)
		si := &s[i]
		for p, aw := range ar {
			a0, a1 := FromBF16(uint16(aw)), FromBF16(uint16(aw>>16))
			br := (*[nr]uint32)(bp[p*nr : p*nr+nr])
			for j, bw := range br {
				si[j] += a1 * FromBF16(uint16(bw>>16))
				si[j] += a0 * FromBF16(uint16(bw))
			}
		}
	}
	for i := range mr {
		copy(unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), 4*i*ldc)), nr), s[i][:])
	}
}
