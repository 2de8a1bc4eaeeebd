//go:build !purego

package cpu

import (
	"sync"
	"syscall"

	xcpu "golang.org/x/sys/cpu"
)

// Linux's arch_prctl request for the permission to use an extended state
// component, and AMX's tile data component.
const (
	archReqXcompPerm = 0x1023
	xfeatureTileData = 18
)

// amxUsable reports whether the AMX kernel can run: the CPU has AMX-TILE
// and AMX-BF16 (and AVX512_BF16, for rounding A), Linux granted this
// process the tile data state (asked once; the grant covers every thread),
// and XCR0 shows the OS saves the tile configuration and data (bits 17,
// 18). A refusal (an old kernel, a seccomp policy) leaves the AVX-512 units.
var amxUsable = sync.OnceValue(func() bool {
	if !xcpu.X86.HasAMXTile || !xcpu.X86.HasAMXBF16 || !hasAVX512BF16 {
		return false
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureTileData, 0); errno != 0 {
		return false
	}
	const tileState = 1<<17 | 1<<18
	return xgetbv0()&tileState == tileState
})
