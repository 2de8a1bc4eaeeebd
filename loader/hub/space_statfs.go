//go:build linux || darwin || freebsd

package hub

import (
	"math"
	"syscall"
)

// freeSpace returns the bytes an unprivileged user may still write on the
// file system holding dir, and whether it could be asked.
func freeSpace(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	avail, bsize := uint64(max(st.Bavail, 0)), uint64(st.Bsize)
	if bsize == 0 {
		return 0, false
	}
	if avail > math.MaxInt64/bsize {
		return math.MaxInt64, true
	}
	return int64(avail * bsize), true
}
