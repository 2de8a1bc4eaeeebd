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
// 18), and the kernel computes one tile as the Go model does (amxSelfCheck).
// A refusal (an old kernel, a seccomp policy) leaves the AVX-512 units.
var amxUsable = sync.OnceValue(func() bool {
	if !xcpu.X86.HasAMXTile || !xcpu.X86.HasAMXBF16 || !hasAVX512BF16 {
		return false
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureTileData, 0); errno != 0 {
		return false
	}
	const tileState = 1<<17 | 1<<18
	return xgetbv0()&tileState == tileState && amxSelfCheck()
})

// amxSelfCheck runs gemmKernelAMX once on small integers, whose products and
// sums are exact in float32 in any order, and reports whether it matches
// the tile model bit for bit: a guard, on the first machine with AMX, that
// the kernel's encoding and layout are right before any model uses it.
func amxSelfCheck() bool {
	const kp, rows = 32, 24
	a := make([]float32, rows*kp) // pairs
	b := make([]float32, kp*nr)   // one panel
	acc := make([]float32, rows*nr)
	for i := range pairWords(a) {
		pairWords(a)[i] = uint32(ToBF16(float32(i%7-3))) | uint32(ToBF16(float32(i%5-2)))<<16
	}
	for i := range pairWords(b) {
		pairWords(b)[i] = uint32(ToBF16(float32(i%3-1))) | uint32(ToBF16(float32(i%9-4)))<<16
	}
	for i := range acc {
		acc[i] = float32(i%11 - 5)
	}
	got, want := make([]float32, rows*nr), make([]float32, rows*nr)
	gemmKernelAMX(kp, &a[0], kp, &b[0], &acc[0], nr, &got[0], nr, amxTiles)
	gemmKernelAMXModel(kp, &a[0], kp, &b[0], &acc[0], nr, &want[0], nr, amxTiles)
	for i := range got {
		if bits32(got[i]) != bits32(want[i]) {
			return false
		}
	}
	return true
}
