//go:build !purego

package cpu

import xcpu "golang.org/x/sys/cpu"

// Read once at start-up and never written again: x/sys/cpu has already
// checked that the OS saves the YMM (AVX) and ZMM/opmask (AVX-512) state
// (OSXSAVE and XCR0), so these are true only when the kernels can run.
var (
	hasAVX2   = xcpu.X86.HasAVX2 && xcpu.X86.HasFMA
	hasAVX512 = xcpu.X86.HasAVX512F && hasAVX2
	// hasAVX512BF16: VDPBF16PS and VCVTNEPS2BF16 on zmm registers.
	hasAVX512BF16 = xcpu.X86.HasAVX512BF16 && hasAVX512
	// hasAVX512BW: the word permutes of attention's bf16 V packing.
	hasAVX512BW = xcpu.X86.HasAVX512BW && hasAVX512
)
