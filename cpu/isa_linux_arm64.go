//go:build !purego

package cpu

import "golang.org/x/sys/unix"

// hwcap2BF16 is Linux's HWCAP2_BF16 (arch/arm64 uapi hwcap.h): FEAT_BF16,
// the BFDOT, BFMMLA and BFCVT instructions. golang.org/x/sys/cpu does not
// report it (no ARM64.HasBF16), so the auxiliary vector is read directly.
const (
	atHWCAP2   = 26 // AT_HWCAP2
	hwcap2BF16 = 1 << 14
)

// hasBFDOT is read once at start-up and never written again: the kernel
// sets HWCAP2_BF16 only where the CPU has FEAT_BF16, and the NEON registers
// it uses are always saved by the OS.
var hasBFDOT = hasNEON && auxv(atHWCAP2)&hwcap2BF16 != 0

// auxv is the value of tag in the process's auxiliary vector, 0 if absent
// or unreadable.
func auxv(tag uintptr) uintptr {
	vec, err := unix.Auxv()
	if err != nil {
		return 0
	}
	for _, kv := range vec {
		if kv[0] == tag {
			return kv[1]
		}
	}
	return 0
}
