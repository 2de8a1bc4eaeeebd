//go:build linux

package checkpoint

import (
	"os"
	"syscall"
)

// weightsMmap maps the first size bytes of f read-only. ok is false when the
// file cannot be mapped (empty, too large for the address space, special
// file); the caller then falls back to ReadAt.
func weightsMmap(f *os.File, size int64) (data []byte, unmap func() error, ok bool) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, false
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, false
	}
	return data, func() error { return syscall.Munmap(data) }, true
}
