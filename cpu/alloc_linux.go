package cpu

import (
	"runtime"
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on x86-64 and arm64.
const hugePage = 2 << 20

// newPackedB allocates a K×N PackedB. On Linux a large one lives in its own
// anonymous mapping, aligned to 2 MiB and marked MADV_HUGEPAGE before it is
// first touched, so that with transparent huge pages in "madvise" mode (the
// usual default) it is backed by 2 MiB pages: the GEMM streams through
// every weight once per forward, and with 4 KiB pages each 4 KiB of a panel
// (32 k steps of a micro-kernel) costs a TLB miss, about 10% of the GEMM
// time when the weights come from memory. The mapping is unmapped by a
// cleanup once the PackedB is unreachable (Gemm keeps it alive while it
// runs). Any failure falls back to the Go heap.
func newPackedB(K, N int) *PackedB {
	n := packedLen(K, N)
	b := &PackedB{k: K, n: N}
	if n*4 < hugePage {
		b.data = make([]float32, n)
		return b
	}
	size := (n*4 + hugePage - 1) / hugePage * hugePage
	mem, err := syscall.Mmap(-1, 0, size+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		b.data = make([]float32, n)
		return b
	}
	off := int((hugePage - uintptr(unsafe.Pointer(&mem[0]))%hugePage) % hugePage)
	_ = syscall.Madvise(mem[off:off+size], syscall.MADV_HUGEPAGE) // best effort
	b.data = unsafe.Slice((*float32)(unsafe.Pointer(&mem[off])), n)
	runtime.AddCleanup(b, func(m []byte) { _ = syscall.Munmap(m) }, mem)
	return b
}
