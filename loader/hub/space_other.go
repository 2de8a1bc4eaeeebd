//go:build !(linux || darwin || freebsd)

package hub

// freeSpace cannot ask the file system here: a full disk shows as ENOSPC
// while the download writes.
func freeSpace(dir string) (int64, bool) { return 0, false }
