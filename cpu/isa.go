package cpu

import "fmt"

// ISA is an instruction set the kernels can run on. Every ISA computes the
// same functions; they differ in speed and, within the bounds the tests
// state, in rounding.
type ISA int

const (
	// Auto, the zero value, means Best(): options structs left empty get
	// the fastest kernels.
	Auto ISA = iota
	// Generic is plain Go: portable, and the twin the assembly is tested
	// against.
	Generic
	// AVX2 is AVX2 with FMA3 on 256-bit registers (Haswell and later, Zen).
	AVX2
	// AVX512 is AVX-512 Foundation on 512-bit registers (Skylake-SP and
	// later, Zen 4 and later). Only the F subset is used.
	AVX512
	// NEON is arm64's Advanced SIMD on 128-bit registers (every ARMv8-A
	// core: Graviton, Ampere, Apple silicon), fp32 only.
	NEON
)

// ISAs lists every concrete ISA (not Auto), slowest first within an
// architecture.
func ISAs() []ISA { return []ISA{Generic, AVX2, AVX512, NEON} }

// String is the lower-case name ParseISA accepts: "generic", "avx2",
// "avx512", "neon".
func (i ISA) String() string {
	switch i {
	case Auto:
		return "auto"
	case Generic:
		return "generic"
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	case NEON:
		return "neon"
	}
	return fmt.Sprintf("ISA(%d)", int(i))
}

// ParseISA turns a name from ISA.String back into the ISA ("auto" or ""
// is Auto).
func ParseISA(s string) (ISA, error) {
	if s == "" {
		return Auto, nil
	}
	for _, i := range append(ISAs(), Auto) {
		if i.String() == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("cpu: unknown ISA %q (want auto, generic, avx2, avx512 or neon)", s)
}

// Supported reports whether this CPU and OS can run i, and this build has
// its kernels (a purego build, or one for neither amd64 nor arm64, has only
// Generic).
func (i ISA) Supported() bool {
	switch i {
	case Auto, Generic:
		return true
	case AVX2:
		return hasAVX2
	case AVX512:
		return hasAVX512
	case NEON:
		return hasNEON
	}
	return false
}

// Resolve returns Best() for Auto and i otherwise.
func (i ISA) Resolve() ISA {
	if i == Auto {
		return Best()
	}
	return i
}

// Best is the fastest supported ISA.
func Best() ISA {
	switch {
	case hasAVX512:
		return AVX512
	case hasAVX2:
		return AVX2
	case hasNEON:
		return NEON
	}
	return Generic
}
