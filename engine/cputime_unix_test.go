//go:build unix

package engine

import "syscall"

// cpuSeconds is the CPU time this process has used (user + system, all
// threads). On a machine shared with other work it separates the kernels'
// own speed from time spent waiting for a core.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
